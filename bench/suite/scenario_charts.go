package suite

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot/plotutil"

	"ssegw/bench/scenario"
	"ssegw/bench/stats"
)

// Charts of single scenarios: the storm's, unicast's and churn's in the
// suite (sectionCharts), and those `ssegw-bench resume --render` and
// `ssegw-bench rabbit-fanout --render` draw from a saved --json. A chart
// whose data the result does not hold (a result from before its histogram
// was recorded) is Empty and is neither written nor linked.

// Chart file names under the results directory.
const (
	ResumeChart = "resume-reconnect-ready-cdf.svg"
	RabbitChart = "rabbit-fanout-latency-cdf.svg"
)

// cdfChart is a cumulative latency chart (x in ms, y in %).
func cdfChart(title, what string) Chart {
	return Chart{Title: title, XLabel: "latency (ms)", YLabel: what + " at or below (%)"}
}

// cdfSeries is one CDF line; nil when the histogram is empty.
func cdfSeries(name string, h stats.Snapshot, col int) []Series {
	pts := cdfPoints(h)
	if len(pts) == 0 {
		return nil
	}
	return []Series{{Name: name, Points: pts, Color: plotutil.Color(col)}}
}

// stormReadyCDF charts the gateway's ready latency (connect start to
// "ready") in each storm phase.
func stormReadyCDF(res *Results) Chart {
	c := cdfChart("Connect storm (gateway): connect to ready, cumulative", "streams ready")
	if res.Gateway == nil || res.Gateway.Storm == nil {
		return c
	}
	for i, p := range res.Gateway.Storm.Phases {
		c.Title = fmt.Sprintf("Connect storm, %s streams (gateway): connect to ready", commas(int64(p.Streams)))
		c.Series = append(c.Series, cdfSeries(phaseLabel(p.Name), p.ReadyHist, i)...)
	}
	return c
}

// phaseLabel names a storm phase in a legend (its column is narrow).
func phaseLabel(name string) string {
	switch name {
	case "connect":
		return "first connect"
	case "reconnect":
		return "reconnect, all at once"
	}
	return name
}

// unicastLatencyCDF charts the gateway's unicast delivery latency.
func unicastLatencyCDF(res *Results) Chart {
	c := cdfChart("Unicast via /internal/batch (gateway): delivery latency, cumulative", "deliveries")
	if res.Gateway != nil && res.Gateway.Unicast != nil {
		c.Series = cdfSeries("gateway", res.Gateway.Unicast.LatencyHist, serverColors["gateway"])
	}
	return c
}

// churnRSS charts the gateway's RSS at each churn sample.
func churnRSS(res *Results) Chart {
	c := Chart{Title: "Churn (gateway): server RSS over time", XLabel: "seconds into the churn", YLabel: "RSS (MiB)"}
	if res.Gateway == nil || res.Gateway.Churn == nil {
		return c
	}
	ch := res.Gateway.Churn
	s := Series{Name: fmt.Sprintf("gateway, %.0f opens/s", ch.Rate), Color: serverColor("gateway")}
	for _, sm := range ch.Samples {
		if sm.RSSBytes > 0 {
			s.Points = append(s.Points, [2]float64{sm.Seconds, float64(sm.RSSBytes) / (1 << 20)})
		}
	}
	if len(s.Points) > 0 {
		c.Series = []Series{s}
	}
	return c
}

// ResumeReadyCDF charts the reconnect storm's ready latency (connect with
// Last-Event-ID to "ready", the replay included) of each gateway of a
// resume run: without history and with it.
func ResumeReadyCDF(rep *scenario.ResumeReport) Chart {
	c := cdfChart("Resume storm: reconnect to ready, cumulative", "streams ready")
	if rep == nil {
		return c
	}
	c.Title = fmt.Sprintf("Resume storm, %s streams: reconnect to ready", commas(int64(rep.Streams)))
	for _, r := range rep.Runs {
		name, col := "gateway, "+r.Server, 0
		if r.Server == "history" {
			name, col = "gateway with history", 2
		}
		c.Series = append(c.Series, cdfSeries(name, r.Reconnect.ReadyHist, col)...)
	}
	return c
}

// RabbitLatencyCDF charts the delivery latency of the same publishes to the
// same streams through the broker and through /internal/publish (one run).
// The two are an order of magnitude apart: x is on a log scale.
func RabbitLatencyCDF(res *RabbitResults) Chart {
	c := cdfChart("RabbitMQ fan-out: delivery latency, cumulative", "deliveries")
	c.XLabel, c.LogX = "latency (ms, log scale)", true
	if res == nil || res.Report == nil {
		return c
	}
	r := res.Report
	c.Title = fmt.Sprintf("RabbitMQ fan-out to %s queues: delivery latency", commas(int64(r.Streams)))
	c.Series = cdfSeries("via the broker", r.LatencyHist, 0)
	if p := r.PlainPublishes; p != nil {
		c.Series = append(c.Series, cdfSeries("via /internal/publish", p.LatencyHist, 2)...)
	}
	return c
}

// WriteChartFile draws c into dir/file and returns the path; a chart with
// no data is not drawn ("" and no error).
func WriteChartFile(dir, file string, c Chart) (string, error) {
	if c.Empty() {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, file)
	return path, writeChart(path, c)
}
