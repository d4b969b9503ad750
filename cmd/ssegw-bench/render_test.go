package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ssegw/bench/scenario"
	"ssegw/bench/stats"
	"ssegw/bench/suite"
)

// latencies is a synthetic latency histogram of n values up to top ms.
func latencies(n, top int64) stats.Snapshot {
	h := stats.New()
	for i := int64(1); i <= n; i++ {
		h.Record(i * top * 1e6 / n)
	}
	return h.Snapshot()
}

// renderCase writes v as a saved --json, runs `sub --render` with a results
// directory, and returns the chart file's content ("" when none was drawn).
func renderCase(t *testing.T, sub, chart string, v any) (stdout, svg string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, sub+".json")
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(dir, "results")
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{sub, "--render", path, "--results-dir", results}, nil, &out, &errw); code != exitOK {
		t.Fatalf("%s --render: exit %d: %s", sub, code, errw.String())
	}
	b, err := os.ReadFile(filepath.Join(results, chart))
	if os.IsNotExist(err) {
		if !strings.Contains(errw.String(), "not drawn") {
			t.Errorf("%s: no chart and no note: %q", sub, errw.String())
		}
		return out.String(), ""
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errw.String(), "chart: "+filepath.Join(results, chart)) {
		t.Errorf("%s: chart path not reported: %q", sub, errw.String())
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: bad SVG: %v", sub, err)
		}
	}
	return out.String(), string(b)
}

func TestRenderCharts(t *testing.T) {
	rabbit := &scenario.RabbitReport{Scenario: "rabbit-fanout", Streams: 3,
		PublishRun:     scenario.PublishRun{LatencyHist: latencies(100, 3000)},
		PlainPublishes: &scenario.PublishRun{LatencyHist: latencies(100, 200)}}
	out, svg := renderCase(t, "rabbit-fanout", suite.RabbitChart, map[string]any{"broker": "RabbitMQ 3.10.8", "report": rabbit})
	if !strings.Contains(out, "rabbit-fanout: 3 streams") || !strings.Contains(svg, "via /internal/publish") {
		t.Fatalf("rabbit-fanout --render: table %q, chart legend missing", out)
	}
	resume := &scenario.ResumeReport{Scenario: "resume", Streams: 10, Runs: []scenario.ResumeRun{
		{Server: "no history", Reconnect: scenario.StormPhase{Name: "reconnect", Streams: 10, ReadyHist: latencies(10, 300)}},
		{Server: "history", Reconnect: scenario.StormPhase{Name: "reconnect", Streams: 10, ReadyHist: latencies(10, 400)}}}}
	out, svg = renderCase(t, "resume", suite.ResumeChart, resume)
	if !strings.Contains(out, "resume: 10 streams") || !strings.Contains(svg, "gateway, no history") {
		t.Fatalf("resume --render: table %q, chart legend missing", out)
	}
	// Saved before the histograms: the table, no chart.
	for i := range resume.Runs {
		resume.Runs[i].Reconnect.ReadyHist = stats.Snapshot{}
	}
	if out, svg = renderCase(t, "resume", suite.ResumeChart, resume); svg != "" || !strings.Contains(out, "resume: 10 streams") {
		t.Fatalf("resume --render without histograms: chart %d bytes, table %q", len(svg), out)
	}
	rabbit.LatencyHist, rabbit.PlainPublishes = stats.Snapshot{}, nil
	if _, svg = renderCase(t, "rabbit-fanout", suite.RabbitChart, map[string]any{"report": rabbit}); svg != "" {
		t.Fatal("rabbit-fanout --render drew a chart without histograms")
	}
}
