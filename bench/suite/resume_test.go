package suite

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ssegw/bench/scenario"
)

// resumeRowPrefixes start the resume storm's rows of the headline table.
var resumeRowPrefixes = []string{
	"| resume: N streams dropped at once",
	"| resume storm streams per second, with history / without",
	"| resume storm: replayed events per second",
	"| history RSS: gateway RSS with history − without",
}

// checkResumeRows finds the resume rows in doc (logging them) and checks
// their gateway cells: measured, or "—" and "not measured".
func checkResumeRows(t *testing.T, doc string, measured bool) {
	t.Helper()
	lines := strings.Split(doc, "\n")
	for i, prefix := range resumeRowPrefixes {
		var row string
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				row = l
				break
			}
		}
		if row == "" {
			t.Errorf("block lacks the row %q", prefix)
			continue
		}
		t.Log(row)
		cells := strings.Split(row, " | ")
		if len(cells) != 8 {
			t.Errorf("row has %d cells: %s", len(cells), row)
			continue
		}
		gw, verdict := cells[2], strings.TrimSuffix(cells[7], " |")
		switch {
		case !measured && (gw != "—" || verdict != "not measured"):
			t.Errorf("unmeasured row: %s", row)
		case measured && gw == "—":
			t.Errorf("measured row without a figure: %s", row)
		case measured && i == 0 && (gw != "0 / 0" || verdict != "**met**"):
			t.Errorf("lost / duplicated: %s", row)
		case measured && i == 1 && (!strings.Contains(gw, "× (") || verdict == "not measured"):
			t.Errorf("storm ratio: %s", row)
		}
	}
	_, sec, found := strings.Cut(doc, "### Resume storm")
	if found != measured {
		t.Fatalf("resume details table present %v, want %v", found, measured)
	}
	if found {
		sec, _, _ = strings.Cut(sec, "\n###")
		t.Logf("### Resume storm%s", sec)
		if !strings.Contains(sec, "| no history |") || !strings.Contains(sec, "| history |") {
			t.Errorf("resume details lack a gateway")
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "| resume: events before ready") || strings.HasPrefix(l, "ssegw-bench resume ") {
			t.Log(l)
		}
	}
}

// checkSuiteResume checks the tiny suite's resume storm (30 streams, 300 ms
// away): without history every stream loses events; with history none is
// lost or repeated and every stream got a replay.
func checkSuiteResume(t *testing.T, rep *scenario.ResumeReport) {
	t.Helper()
	if rep == nil || len(rep.Runs) != 2 || rep.Streams != 30 || rep.StormRatio <= 0 {
		t.Fatalf("resume %+v", rep)
	}
	for _, r := range rep.Runs {
		if !r.Connect.AllReady || !r.Reconnect.AllReady || r.Tracked.Streams != 30 || r.Tracked.Missing != 0 ||
			r.Tracked.Published < 5 || r.GatewayExit != "ok" {
			t.Fatalf("resume %s: %+v", r.Server, r)
		}
	}
	without, with := resumeRun(rep, "no history"), resumeRun(rep, "history")
	if without == nil || with == nil || without.Tracked.Lost < 30 {
		t.Fatalf("resume without history %+v", without)
	}
	if tr := with.Tracked; tr.Lost != 0 || tr.Duplicated != 0 || tr.Resyncs != 0 || tr.Resumed < 30 || tr.Replayed < 30 ||
		with.ServerReplayed < 30 || with.ReplayedPerSec <= 0 || with.HistoryBytes <= 0 {
		t.Fatalf("resume with history %+v", with)
	}
}

// TestRenderWithoutResume renders the committed suite.json with its resume
// result removed (as every suite.json before the suite ran it): the resume
// rows are there with "—", the rest renders as before.
func TestRenderWithoutResume(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "results", resultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "resume")
	raw, _ = json.Marshal(m)
	dir := t.TempDir()
	old := filepath.Join(dir, "old-suite.json")
	if err := os.WriteFile(old, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "BENCHMARKS.md")
	res, err := Render(Config{Out: out, ResultsDir: filepath.Join(dir, "results")}, old)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resume != nil || res.Gateway == nil {
		t.Fatalf("resume %+v gateway %v", res.Resume, res.Gateway)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "| unicast sends via /internal/batch per second | ≥ 40,000 |") {
		t.Fatal("the other rows are missing")
	}
	checkResumeRows(t, string(doc), false)
}

// TestResumeRowsVerdicts: the verdicts follow the targets (0 / 0; ratio >= 0.8).
func TestResumeRowsVerdicts(t *testing.T) {
	run := func(server string, storm float64, lost, dup int64, rss int64) scenario.ResumeRun {
		return scenario.ResumeRun{Server: server, Reconnect: scenario.StormPhase{StreamsPerSec: storm},
			Tracked: scenario.Tracked{Lost: lost, Duplicated: dup}, RSSEnd: rss, ReplayedPerSec: 41468.4,
			ServerReplayed: 137673, HistoryBytes: 9400}
	}
	for _, c := range []struct {
		with              scenario.ResumeRun
		lostRow, ratioRow string
	}{
		{run("history", 4518, 0, 0, 101<<20), "| 0 / 0 | — | — | — | — | **met** |", "| 0.74× (4,518 / 6,120 streams/s) | — | — | — | — | **missed** |"},
		{run("history", 6120, 2, 1, 101<<20), "| 2 / 1 | — | — | — | — | **missed** |", "| 1.00× (6,120 / 6,120 streams/s) | — | — | — | — | **met** |"},
	} {
		res := &Results{Resume: &scenario.ResumeReport{Runs: []scenario.ResumeRun{run("no history", 6120, 900, 0, 100<<20), c.with}}}
		var b strings.Builder
		resumeRows(&b, res)
		for _, want := range []string{c.lostRow, c.ratioRow, "| 41,468/s (137,673 events) |", "| +1.00 MiB (kept events: 9.4 KB) |"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("rows lack %q:\n%s", want, b.String())
			}
		}
	}
}
