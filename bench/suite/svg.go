package suite

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Chart geometry (pixels) of the hand-written SVG line charts.
const (
	chartW, chartH             = 720, 420
	marginL, marginR           = 80, 170
	marginT, marginB           = 40, 56
	chartTicks                 = 5
	chartFont                  = "font-family=\"sans-serif\" font-size=\"12\""
	maxSeriesColors            = 6
	legendLineH, legendSwatchW = 18, 20
)

var seriesColors = [maxSeriesColors]string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// Series is one line of a chart.
type Series struct {
	Name   string
	Points [][2]float64 // x, y
}

// Chart is a line chart; LogY plots y on a log10 axis (values must be > 0).
type Chart struct {
	Title, XLabel, YLabel string
	LogY                  bool
	YFormat               func(float64) string
	Series                []Series
}

// WriteSVG renders the chart as a standalone SVG document.
func (c Chart) WriteSVG(w io.Writer) error {
	x0, x1, y0, y1 := c.bounds()
	pw, ph := float64(chartW-marginL-marginR), float64(chartH-marginT-marginB)
	ty := func(y float64) float64 {
		if c.LogY {
			y = math.Log10(math.Max(y, 1e-9))
		}
		return float64(marginT) + ph - (y-y0)/(y1-y0)*ph
	}
	tx := func(x float64) float64 { return float64(marginL) + (x-x0)/(x1-x0)*pw }
	yfmt := c.YFormat
	if yfmt == nil {
		yfmt = func(v float64) string { return trimFloat(v) }
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>`+"\n",
		chartW, chartH, chartW, chartH, chartFont)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(c.Title))
	// Axes, grid and ticks.
	fmt.Fprintf(&b, `<g stroke="#ccc">`+"\n")
	for i := 0; i <= chartTicks; i++ {
		xv := x0 + (x1-x0)*float64(i)/chartTicks
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", tx(xv), marginT, tx(xv), chartH-marginB)
	}
	yticks := c.yTicks(y0, y1)
	for _, yv := range yticks {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", marginL, ty(yv), chartW-marginR, ty(yv))
	}
	fmt.Fprintf(&b, "</g>\n")
	for i := 0; i <= chartTicks; i++ {
		xv := x0 + (x1-x0)*float64(i)/chartTicks
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", tx(xv), chartH-marginB+16, trimFloat(xv))
	}
	for _, yv := range yticks {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, ty(yv)+4, html.EscapeString(yfmt(yv)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", float64(marginL)+pw/2, chartH-12, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", float64(marginT)+ph/2, html.EscapeString(c.YLabel))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", marginL, marginT, pw, ph)
	// Lines and legend.
	for i, s := range c.Series {
		col := seriesColors[i%maxSeriesColors]
		var pts []string
		for _, p := range s.Points {
			if c.LogY && p[1] <= 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", tx(p[0]), ty(p[1])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		if len(s.Points) <= 12 {
			for _, p := range pts {
				xy := strings.SplitN(p, ",", 2)
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], col)
			}
		}
		ly := marginT + 10 + i*legendLineH
		lx := chartW - marginR + 12
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly, lx+legendSwatchW, ly, col)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+legendSwatchW+6, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// bounds are the axis ranges (y in log10 units when LogY).
func (c Chart) bounds() (x0, x1, y0, y1 float64) {
	x0, x1, y0, y1 = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			y := p[1]
			if c.LogY {
				if y <= 0 {
					continue
				}
				y = math.Log10(y)
			}
			x0, x1 = math.Min(x0, p[0]), math.Max(x1, p[0])
			y0, y1 = math.Min(y0, y), math.Max(y1, y)
		}
	}
	if math.IsInf(x0, 0) {
		return 0, 1, 0, 1
	}
	if c.LogY {
		y0, y1 = math.Floor(y0), math.Ceil(y1)
	} else {
		y0 = math.Min(0, y0)
		y1 = niceCeil(y1)
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y1 = y0 + 1
	}
	return x0, x1, y0, y1
}

func (c Chart) yTicks(y0, y1 float64) []float64 {
	var out []float64
	if c.LogY {
		for e := y0; e <= y1; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	for i := 0; i <= chartTicks; i++ {
		out = append(out, y0+(y1-y0)*float64(i)/chartTicks)
	}
	return out
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
