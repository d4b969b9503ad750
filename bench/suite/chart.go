package suite

import (
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart geometry: the size of a chart in BENCHMARKS.md, the column on its
// right that holds the legend, its lines, and the most points a line may
// have and still mark each one (a hold run has a handful of steps; a CDF has
// a hundred points and is drawn as a curve).
const (
	chartWidth   = 8 * vg.Inch
	chartHeight  = 4.5 * vg.Inch
	legendWidth  = 2.3 * vg.Inch
	lineWidth    = 1.5
	markedPoints = 12
	// targetTicks is about how many labelled ticks an axis gets.
	targetTicks = 6
	// logYMin and logYMax are the range of an empty log-scale chart (a log
	// axis needs positive bounds).
	logYMin, logYMax = 1, 10
)

// chartFont is the sans-serif face of every chart's text (gonum/plot's
// default is serif); the SVG names it, a browser shows its own sans-serif.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// Series is one line of a chart.
type Series struct {
	Name   string
	Points [][2]float64 // x, y
	Color  color.Color  // nil: the palette's colour for the series' position
}

// Chart is a line chart drawn with gonum.org/v1/plot: ticks at round values
// (1, 2, 2.5 or 5 times a power of ten), a grid, one colour per series and
// a legend beside the plot. Axes start at 0 when no value is negative. LogX
// and LogY plot x or y on a log axis (points with x or y <= 0 are left
// out); YFormat labels the y ticks.
type Chart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	YFormat               func(float64) string
	Series                []Series
}

// Empty reports a chart with no point to draw (a run that did not record
// its data): such a chart is not written, nor linked.
func (c Chart) Empty() bool {
	for _, s := range c.Series {
		for _, pt := range s.Points {
			if (!c.LogX || pt[0] > 0) && (!c.LogY || pt[1] > 0) {
				return false
			}
		}
	}
	return true
}

// WriteSVG renders the chart as a standalone SVG document.
func (c Chart) WriteSVG(w io.Writer) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font} {
		f.Typeface, f.Variant = chartFont.Typeface, chartFont.Variant
	}
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Add(plotter.NewGrid())
	p.X.Tick.Marker = niceTicks{}
	if c.LogX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks{sparse: true}
	}
	var yTicks plot.Ticker = niceTicks{}
	if c.LogY {
		p.Y.Scale, yTicks = plot.LogScale{}, logTicks{}
	}
	if c.YFormat != nil {
		yTicks = relabel(yTicks, c.YFormat)
	}
	p.Y.Tick.Marker = yTicks
	legend := plot.NewLegend()
	legend.TextStyle.Font.Typeface, legend.TextStyle.Font.Variant = chartFont.Typeface, chartFont.Variant
	legend.Top, legend.Left = true, true
	drawn, negX, negY := 0, false, false
	for i, s := range c.Series {
		pts := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			if (!c.LogX || pt[0] > 0) && (!c.LogY || pt[1] > 0) {
				pts = append(pts, plotter.XY{X: pt[0], Y: pt[1]})
				negX, negY = negX || pt[0] < 0, negY || pt[1] < 0
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, dots, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		col := s.Color
		if col == nil {
			col = plotutil.Color(i)
		}
		line.Color, line.Width = col, vg.Points(lineWidth)
		p.Add(line)
		if len(pts) <= markedPoints {
			dots.Color, dots.Shape, dots.Radius = col, draw.CircleGlyph{}, vg.Points(3)
			p.Add(dots)
		}
		legend.Add(s.Name, line)
		drawn++
	}
	switch {
	case drawn == 0 && c.LogY:
		p.Y.Min, p.Y.Max = logYMin, logYMax
	case c.LogY && p.Y.Min >= p.Y.Max: // one value: a decade around it (a log axis cannot pad by ±1)
		p.Y.Min, p.Y.Max = p.Y.Max/3, p.Y.Max*3
	}
	switch {
	case c.LogX && drawn == 0:
		p.X.Min, p.X.Max = logYMin, logYMax
	case c.LogX && p.X.Min >= p.X.Max:
		p.X.Min, p.X.Max = p.X.Max/3, p.X.Max*3
	case c.LogX: // the data's range (a log axis cannot start at 0)
	case !negX:
		p.X.Min = 0
	}
	if !negY && !c.LogY {
		p.Y.Min = 0
	}
	canvas, err := draw.NewFormattedCanvas(chartWidth, chartHeight, "svg")
	if err != nil {
		return err
	}
	dc := draw.New(canvas)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, chartWidth-legendWidth+vg.Points(12), 0, 0, -vg.Points(36)))
	_, err = canvas.WriteTo(w)
	return err
}

// niceTicks labels an axis at a round step (1, 2, 2.5 or 5 times a power of
// ten) giving about targetTicks labels, with an unlabelled tick halfway.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	step := niceStep((hi - lo) / targetTicks)
	prec := max(-int(math.Floor(math.Log10(step)))+1, 0)
	var ticks []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: trimZeros(strconv.FormatFloat(v, 'f', prec, 64))})
		if h := v + step/2; h <= hi {
			ticks = append(ticks, plot.Tick{Value: h})
		}
	}
	return ticks
}

// niceStep rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// logTicks labels a log axis at 1, 2 and 5 times each power of ten, with
// unlabelled ticks at the other multiples. A sparse one (an x axis, where
// labels stand side by side) labels only the powers of ten when the axis
// spans more than maxDenseDecades.
type logTicks struct{ sparse bool }

// maxDenseDecades is the widest sparse log axis still labelled at 1, 2 and 5.
const maxDenseDecades = 2

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) {
		return nil // no log axis (LogScale panics first); never loop on 0
	}
	dense := !t.sparse || math.Log10(hi/lo) <= maxDenseDecades
	var ticks []plot.Tick
	for p := math.Pow(10, math.Floor(math.Log10(lo))); p <= hi; p *= 10 {
		for m := 1.0; m < 10; m++ {
			v := m * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (dense && (m == 2 || m == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// trimZeros drops a decimal number's trailing zeros ("2.50" -> "2.5").
func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// relabel keeps a ticker's ticks and writes the labelled ones with format.
func relabel(t plot.Ticker, format func(float64) string) plot.Ticker {
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		ticks := t.Ticks(min, max)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = format(ticks[i].Value)
			}
		}
		return ticks
	})
}
