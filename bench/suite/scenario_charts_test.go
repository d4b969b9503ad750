package suite

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ssegw/bench/scenario"
	"ssegw/bench/stats"
)

// histMS is a synthetic latency histogram: n values spread over 1..top ms.
func histMS(n, top int64) stats.Snapshot {
	h := stats.New()
	for i := int64(1); i <= n; i++ {
		h.Record(i * top * 1e6 / n)
	}
	return h.Snapshot()
}

// syntheticResults is a small suite result with every scenario chart's data.
func syntheticResults() *Results {
	return &Results{Streams: 100, Gateway: &ServerRuns{Name: "gateway", Hold: holdOf(1000, 4000, 5000, 10000),
		Fanout:  &scenario.FanoutReport{LatencyHist: histMS(100, 200)},
		Unicast: &scenario.UnicastReport{LatencyHist: histMS(500, 150)},
		Storm: &scenario.StormReport{Phases: []scenario.StormPhase{
			{Name: "connect", Streams: 100, Ready: 100, ReadyHist: histMS(100, 600)},
			{Name: "reconnect", Streams: 100, Ready: 100, ReadyHist: histMS(100, 900)}}},
		Churn: &scenario.ChurnReport{Rate: 200, Samples: []scenario.ChurnSample{
			{Seconds: 0, RSSBytes: 30 << 20}, {Seconds: 1, Live: 150, RSSBytes: 29 << 20}, {Seconds: 2, Live: 210, RSSBytes: 31 << 20}}},
	}}
}

// svgOf renders c and checks it is a well-formed SVG document.
func svgOf(t *testing.T, c Chart) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	checkXML(t, b.Bytes())
	if !bytes.Contains(b.Bytes(), []byte("<svg")) {
		t.Fatalf("%s: not an SVG document", c.Title)
	}
	return b.String()
}

func TestScenarioChartsRender(t *testing.T) {
	res := syntheticResults()
	rabbit := &RabbitResults{Report: &scenario.RabbitReport{Streams: 100,
		PublishRun:     scenario.PublishRun{LatencyHist: histMS(1000, 4000)},
		PlainPublishes: &scenario.PublishRun{LatencyHist: histMS(1000, 200)}}}
	resume := &scenario.ResumeReport{Runs: []scenario.ResumeRun{
		{Server: "no history", Reconnect: scenario.StormPhase{Name: "reconnect", Streams: 100, ReadyHist: histMS(100, 700)}},
		{Server: "history", Reconnect: scenario.StormPhase{Name: "reconnect", Streams: 100, ReadyHist: histMS(100, 800)}}}}
	for _, tc := range []struct {
		chart   Chart
		legends []string
	}{
		{stormReadyCDF(res), []string{"first connect", "reconnect, all at once"}},
		{unicastLatencyCDF(res), []string{"gateway"}},
		{churnRSS(res), []string{"gateway, 200 opens/s"}},
		{ResumeReadyCDF(resume), []string{"gateway, no history", "gateway with history"}},
		{RabbitLatencyCDF(rabbit), []string{"via the broker", "via /internal/publish"}},
	} {
		if tc.chart.Empty() {
			t.Fatalf("%s: empty", tc.chart.Title)
		}
		svg := svgOf(t, tc.chart)
		for _, l := range tc.legends {
			if !strings.Contains(svg, ">"+l+"</text>") {
				t.Errorf("%s: no legend entry %q", tc.chart.Title, l)
			}
		}
	}
	// 0.2 ms to 4 s: over three decades, the log x axis labels only the
	// powers of ten (1, 2 and 5 of each would run into each other).
	if svg := svgOf(t, RabbitLatencyCDF(rabbit)); !strings.Contains(svg, ">1000</text>") || !strings.Contains(svg, ">10</text>") ||
		strings.Contains(svg, ">500</text>") {
		t.Error("rabbit chart: log x axis not labelled at the powers of ten alone")
	}
}

func TestScenarioChartsSkippedWithoutData(t *testing.T) {
	// A result from before the histograms: the runs are there, their
	// histograms are not.
	old := syntheticResults()
	old.Gateway.Unicast.LatencyHist = stats.Snapshot{}
	for i := range old.Gateway.Storm.Phases {
		old.Gateway.Storm.Phases[i].ReadyHist = stats.Snapshot{}
	}
	old.Gateway.Churn.Samples = nil
	none := &Results{}
	for _, c := range []Chart{stormReadyCDF(old), unicastLatencyCDF(old), churnRSS(old), stormReadyCDF(none),
		unicastLatencyCDF(none), churnRSS(none), ResumeReadyCDF(&scenario.ResumeReport{Runs: make([]scenario.ResumeRun, 2)}),
		ResumeReadyCDF(nil), RabbitLatencyCDF(&RabbitResults{Report: &scenario.RabbitReport{}}), RabbitLatencyCDF(nil)} {
		if !c.Empty() {
			t.Errorf("%s: not empty without data", c.Title)
		}
	}
	if p, err := WriteChartFile(t.TempDir(), RabbitChart, RabbitLatencyCDF(nil)); p != "" || err != nil {
		t.Fatalf("an empty chart was written: %q %v", p, err)
	}

	// Rendering the old result: its charts with data are written and linked,
	// the others neither (and a stale file of theirs is removed).
	dir := t.TempDir()
	results := filepath.Join(dir, "r")
	os.MkdirAll(results, 0o755)
	os.WriteFile(filepath.Join(results, stormChart), []byte("stale"), 0o644)
	b, _ := json.Marshal(old)
	from := filepath.Join(dir, "in.json")
	os.WriteFile(from, b, 0o644)
	out := filepath.Join(dir, "B.md")
	if _, err := Render(Config{Out: out, ResultsDir: results}, from); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(out)
	for _, f := range []string{unicastChart, stormChart, churnChart} {
		if strings.Contains(string(md), f) {
			t.Errorf("%s linked without data", f)
		}
		if _, err := os.Stat(filepath.Join(results, f)); !os.IsNotExist(err) {
			t.Errorf("%s written without data: %v", f, err)
		}
	}
	for _, f := range []string{memoryChart, latencyChart} {
		if !strings.Contains(string(md), "(r/"+f+")") {
			t.Errorf("%s not linked", f)
		}
	}

	// With the data, each is linked in its own section.
	os.WriteFile(from, must(json.Marshal(syntheticResults())), 0o644)
	if _, err := Render(Config{Out: out, ResultsDir: results}, from); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(out)
	for sec, f := range map[string]string{"### Unicast": unicastChart, "### Connect storm": stormChart, "### Churn": churnChart} {
		i, j := strings.Index(string(md), sec), strings.Index(string(md), "(r/"+f+")")
		if i < 0 || j < i || strings.Contains(string(md)[i:j], "\n### ") {
			t.Errorf("%s not linked in its section %q:\n%s", f, sec, md)
		}
		if b, err := os.ReadFile(filepath.Join(results, f)); err != nil {
			t.Error(err)
		} else {
			checkXML(t, b)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
