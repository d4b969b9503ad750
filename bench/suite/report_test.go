package suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"

	"ssegw/bench/scenario"
	"ssegw/bench/stats"
)

func TestReplaceBlock(t *testing.T) {
	doc := []byte("# T\n\nintro\n" + SuiteBegin + "\nold\n" + SuiteEnd + "\nafter\n")
	out, err := ReplaceBlock(doc, SuiteBegin, SuiteEnd, "new\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# T\n\nintro\n" + SuiteBegin + "\nnew\n" + SuiteEnd + "\nafter\n"; string(out) != want {
		t.Fatalf("got %q want %q", out, want)
	}
	// Idempotent: replacing again with the same body changes nothing.
	again, _ := ReplaceBlock(out, SuiteBegin, SuiteEnd, "new\n", false)
	if !bytes.Equal(again, out) {
		t.Fatal("not idempotent")
	}
	if _, err := ReplaceBlock([]byte("no markers"), SuiteBegin, SuiteEnd, "x", false); !errors.Is(err, ErrMarkers) {
		t.Fatalf("missing markers: %v", err)
	}
	bad := []byte(SuiteEnd + "\n" + SuiteBegin + "\n")
	if _, err := ReplaceBlock(bad, SuiteBegin, SuiteEnd, "x", false); !errors.Is(err, ErrMarkers) {
		t.Fatalf("markers out of order: %v", err)
	}
	app, err := ReplaceBlock([]byte("# T"), PeersBegin, PeersEnd, "p\n", true)
	if err != nil || string(app) != "# T\n\n"+PeersBegin+"\np\n"+PeersEnd+"\n" {
		t.Fatalf("append: %q %v", app, err)
	}
}

func TestUpdateFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := UpdateFile(path, SuiteBegin, SuiteEnd, "body\n"); err != nil {
		t.Fatal(err)
	}
	if err := UpdateFile(path, PeersBegin, PeersEnd, "peers\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "# Benchmarks\n\n" + SuiteBegin + "\nbody\n" + SuiteEnd + "\n\n" + PeersBegin + "\npeers\n" + PeersEnd + "\n"
	if string(b) != want {
		t.Fatalf("got %q", b)
	}
}

func holdOf(rss ...int64) *scenario.HoldReport {
	h := &scenario.HoldReport{}
	for i, r := range rss {
		h.Snapshots = append(h.Snapshots, scenario.ServerSample{Streams: int64(i * 3000), RSSBytes: r, Gauge: float64(10 + i*3000*2)})
	}
	return h
}

func TestFiguresAndMarkdown(t *testing.T) {
	// Steps 0, 3000, 6000, 9000: N/3 = 3000, slope (9000->3000) = 6000 B over 6000 streams.
	h := holdOf(1000, 4000, 5000, 10000)
	f := FiguresOf(&ServerRuns{Hold: h})
	if f.RSSPerStream != 1 || f.GoroutinesPerStream != 2 || !math.IsNaN(f.UnicastPerSec) {
		t.Fatalf("figures %+v", f)
	}
	res := &Results{Streams: 9000, Procs: 3, Gateway: &ServerRuns{Name: "gateway", Hold: h,
		Unicast: &scenario.UnicastReport{SendsPerSec: 41000, ExactlyOnce: true}},
		Baseline: &ServerRuns{Name: "baseline"}, Ceiling: &ServerRuns{Name: "ceiling"}}
	md := Markdown(res, "bench/results")
	for _, want := range []string{"| 41,000/s | — | — | — | — | **met** |", "| RSS per idle stream, slope N/3→N, short headers | ≤ 1,000 B | 1.00 B |",
		"not measured", "(bench/results/memory-per-stream.svg)", "exactly once **true**"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestBoundNotes(t *testing.T) {
	if n := boundNotes(Figures{DeliveriesPerCPUSec: 36000}, Figures{DeliveriesPerCPUSec: 38000}); len(n) != 1 ||
		!strings.Contains(n[0], "reached 38,000") || !strings.Contains(n[0], "0.95×") {
		t.Fatalf("notes %q", n)
	}
	if n := boundNotes(Figures{DeliveriesPerCPUSec: 36000}, Figures{DeliveriesPerCPUSec: 80000}); len(n) != 0 {
		t.Fatalf("a miss the loop does not share got a note: %q", n)
	}
}

func TestChartsAreSVG(t *testing.T) {
	hs := stats.New()
	for i := int64(1); i <= 1000; i++ {
		hs.Record(i * 1e6)
	}
	res := &Results{Gateway: &ServerRuns{Name: "gateway", Hold: holdOf(1000, 4000, 5000, 10000),
		Fanout: &scenario.FanoutReport{LatencyHist: hs.Snapshot()}}}
	for _, c := range []Chart{memoryPerStream(res), latencyCDF(res), {Title: "empty <&>"}} {
		var b bytes.Buffer
		if err := c.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		checkXML(t, b.Bytes())
	}
	pts := cdfPoints(hs.Snapshot())
	if len(pts) != 103 || pts[len(pts)-1][0] != 1000 || pts[len(pts)-1][1] != 100 || pts[50][1] != 50 {
		t.Fatalf("cdf points %v", pts)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i][0] < pts[i-1][0] {
			t.Fatalf("cdf not monotonic at %d: %v", i, pts[i-1:i+1])
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 3.5: "3.5", 1000: "1000", 0.271: "0.27", 92.399: "92.4"} {
		if got := trimFloat(in); got != want {
			t.Errorf("trimFloat(%v) = %q want %q", in, got, want)
		}
	}
	if fmtNum(-0.0001, "") != "0.00" {
		t.Fatalf("negative zero: %s", fmtNum(-0.0001, ""))
	}
	if commas(1234567) != "1,234,567" || commas(-1000) != "-1,000" || fmtNum(math.NaN(), "x") != "—" {
		t.Fatal("formatting")
	}
	if HoldSteps(15000)[1] != 2500 || HoldSteps(15000)[3] != 10000 {
		t.Fatal("hold steps")
	}
}

func TestRenderFromJSON(t *testing.T) {
	dir := t.TempDir()
	res := &Results{Streams: 9, Gateway: &ServerRuns{Name: "gateway", Hold: holdOf(1, 2, 3, 4)}}
	b, _ := json.Marshal(res)
	from := filepath.Join(dir, "in.json")
	os.WriteFile(from, b, 0o644)
	out := filepath.Join(dir, "B.md")
	if _, err := Render(Config{Out: out, ResultsDir: filepath.Join(dir, "r")}, from); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(out)
	if !strings.Contains(string(md), "(r/"+memoryChart+")") {
		t.Fatalf("rendered:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(dir, "r", resultsJSON)); err != nil {
		t.Fatal(err)
	}
}

func TestPeersMarkdown(t *testing.T) {
	storm := func(rate, us float64) *scenario.StormReport {
		return &scenario.StormReport{Phases: []scenario.StormPhase{{StreamsPerSec: rate, ServerCPUPerStreamUS: us, BackendCPUPerStreamUS: -1}}}
	}
	res := &PeersResults{Streams: 9, Workers: 2, SaturatedRate: 20, NginxVersion: "nginx/1", NginxConf: "events {}\n",
		Gateway: &ServerRuns{Name: "gateway", Hold: holdOf(1000, 2000, 2500, 3000), Storm: storm(9000, 40)},
		Nchan1:  &ServerRuns{Name: "nginx+nchan, 1 worker", Hold: holdOf(1000, 4000, 5000, 10000), Storm: storm(8000, 50)},
		NchanN:  &ServerRuns{Name: "nginx+nchan, 2 workers", Storm: storm(10000, 35)}}
	md := PeersMarkdown(res, "bench/results")
	for _, want := range []string{
		"| RSS per idle stream, slope N/3→N | 0.17 B | 1.00 B | — | 0.17× |",
		"| streams set up per second (storm, connect phase) | 9,000/s | 8,000/s | 10,000/s | 0.90× |",
		"| server CPU per stream set up (connect phase; gateway: callback included, backend excluded) | 40.0 µs | 50.0 µs | 35.0 µs | 1.14× |",
		"CPU per stream set up ≤ 1.2× nchan's best (35.0 µs, gateway 40.0 µs): **met**; streams/s ≥ nchan's best (10,000/s, gateway 9,000/s): **missed**",
		"nginx/1", "```nginx\nevents {}\n```"} {
		if !strings.Contains(md, want) {
			t.Errorf("peers block lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "tuned") {
		t.Errorf("a run without the tuned configuration mentions it:\n%s", md)
	}
	if strings.Contains(md, "pipelined") || strings.Contains(md, "CALLBACK_PIPELINE") {
		t.Errorf("a run without the pipelined gateway storm mentions it:\n%s", md)
	}

	// With the tuned run: its column, and nchan's best is taken over all
	// three per figure (tuned is best at streams/s, 2 workers at CPU).
	res.NchanTuned = &ServerRuns{Name: "nginx+nchan, 2 workers, tuned", Hold: holdOf(1000, 3000, 4000, 7000), Storm: storm(12000, 38),
		Fanout:          &scenario.FanoutReport{Delivered: 90, Expected: 90, Latency: scenario.Latency{P99: 5}},
		FanoutSaturated: &scenario.FanoutReport{Latency: scenario.Latency{P99: 8}, DeliveriesPerCPUSec: 30000, ServerCPU: 1}}
	res.Gateway.Fanout = &scenario.FanoutReport{Latency: scenario.Latency{P99: 10}}
	res.Gateway.FanoutSaturated = &scenario.FanoutReport{Latency: scenario.Latency{P99: 4}, DeliveriesPerCPUSec: 60000, ServerCPU: 1}
	res.NchanN.FanoutSaturated = &scenario.FanoutReport{Latency: scenario.Latency{P99: 2}, DeliveriesPerCPUSec: 20000, ServerCPU: 1}
	md = PeersMarkdown(res, "bench/results")
	for _, want := range []string{
		"| figure | gateway | nchan, 1 worker | nchan, 2 workers | nchan, 2 workers, tuned | gateway / nchan's best |\n|---|---:|---:|---:|---:|---:|\n",
		"| RSS per idle stream, slope N/3→N | 0.17 B | 1.00 B | — | 0.67 B | 0.25× |",
		"| publish to N subscribers, 1/s: delivery latency p99 | 10.0 ms | — | — | 5.00 ms | 2.00× |",
		"| publish at 20/s (saturated): delivery latency p99 | 4.00 ms | — | 2.00 ms | 8.00 ms | 2.00× |",
		"| fan-out deliveries per server CPU-second, 20/s | 60,000 | — | 20,000 | 30,000 | 2.00× |",
		"| streams set up per second (storm, connect phase) | 9,000/s | 8,000/s | 10,000/s | 12,000/s | 0.75× |",
		"| server CPU per stream set up (connect phase; gateway: callback included, backend excluded) | 40.0 µs | 50.0 µs | 35.0 µs | 38.0 µs | 1.14× |",
		"CPU per stream set up ≤ 1.2× nchan's best (35.0 µs, gateway 40.0 µs): **met**; streams/s ≥ nchan's best (12,000/s, gateway 9,000/s): **missed**",
		"- nginx+nchan, 2 workers, tuned storm: connect 12,000/s",
		"- nginx+nchan, 2 workers, tuned fan-out 1/s: 90 of 90 expected deliveries",
		"- nginx+nchan, 2 workers, tuned fan-out 20/s:",
		"`listen ... backlog=4096;` on the subscriber port", "`multi_accept on;` in `events`",
		"(nchan 1 worker, gateway, nchan 2 workers, nchan 2 workers tuned)"} {
		if !strings.Contains(md, want) {
			t.Errorf("peers block with the tuned run lacks %q:\n%s", want, md)
		}
	}
	// The tuned run best at CPU per stream too: the target line follows it.
	res.NchanTuned.Storm = storm(12000, 25)
	if md := PeersMarkdown(res, ""); !strings.Contains(md, "| 40.0 µs | 50.0 µs | 35.0 µs | 25.0 µs | 1.60× |") ||
		!strings.Contains(md, "nchan's best (25.0 µs, gateway 40.0 µs): **missed**") {
		t.Errorf("tuned run's CPU not taken as nchan's best:\n%s", md)
	}

	// With the pipelined gateway storm: two rows right under the storm rows,
	// its figures in the gateway's column, nchan's same figures in theirs,
	// the ratio to nchan's best (tuned: 12,000/s, 25.0 µs); the targets line
	// judges both gateway configurations; its storm note follows the
	// gateway's.
	res.GatewayPipelined = &ServerRuns{Name: "gateway, callbacks pipelined", Storm: &scenario.StormReport{
		Phases: []scenario.StormPhase{{StreamsPerSec: 15000, ServerCPUPerStreamUS: 28, BackendCPUPerStreamUS: 5},
			{StreamsPerSec: 11000}},
		ReadyLatency: scenario.Latency{P50: 3, P99: 40}}}
	res.GatewayPipelinedEnv = []string{"CALLBACK_CONCURRENCY=16", "CALLBACK_PIPELINE=32"}
	res.Gateway.Storm.Phases[0].BackendCPUPerStreamUS = 9
	md = PeersMarkdown(res, "")
	for _, want := range []string{
		"| server CPU per stream set up (connect phase; gateway: callback included, backend excluded) | 40.0 µs | 50.0 µs | 35.0 µs | 25.0 µs | 1.60× |\n" +
			"| streams set up per second, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) | 15,000/s | 8,000/s | 10,000/s | 12,000/s | 1.25× |\n" +
			"| server CPU per stream set up, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) | 28.0 µs | 50.0 µs | 35.0 µs | 25.0 µs | 1.12× |\n\n",
		"Issue 18's targets in this run, for both gateway configurations: CPU per stream set up ≤ 1.2× nchan's best (25.0 µs): " +
			"default callbacks 40.0 µs **missed**, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) 28.0 µs **met**; " +
			"streams/s ≥ nchan's best (12,000/s): default callbacks 9,000/s **missed**, callbacks pipelined 15,000/s **met**.",
		"(not in the gateway's).\n- gateway, callbacks pipelined storm: connect 15,000/s, reconnect 11,000/s; ready latency p50 3.0 ms, p99 40.0 ms; " +
			"the backend's CPU per stream set up 5.0 µs (not in the gateway's).\n- nginx+nchan, 1 worker storm:",
		"a fresh bench backend and a fresh gateway with `CALLBACK_CONCURRENCY=16 CALLBACK_PIPELINE=32`",
		"(nchan 1 worker, gateway, gateway with callbacks pipelined (storm only), nchan 2 workers, nchan 2 workers tuned)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("peers block with the pipelined gateway storm lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "gateway, callbacks pipelined fan-out") || strings.Contains(md, "| gateway, callbacks pipelined |") {
		t.Errorf("the pipelined gateway got a fan-out note or a column:\n%s", md)
	}
	for _, r := range res.servers() {
		if r == res.GatewayPipelined {
			t.Error("the pipelined gateway is among the charts' servers")
		}
	}
	// Its storm not measured (it failed): dashes, and the targets line says so.
	res.GatewayPipelined.Storm = nil
	md = PeersMarkdown(res, "")
	for _, want := range []string{"| streams set up per second, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) | — | 8,000/s | 10,000/s | 12,000/s | — |",
		"callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) not measured;", "callbacks pipelined not measured."} {
		if !strings.Contains(md, want) {
			t.Errorf("peers block with the pipelined storm unmeasured lacks %q:\n%s", want, md)
		}
	}
}

func TestBestOf(t *testing.T) {
	n := math.NaN()
	for _, c := range []struct {
		lower bool
		vs    []float64
		want  float64
	}{{true, []float64{3, n, 1, 2}, 1}, {false, []float64{n, 3, 5, 4}, 5}, {true, []float64{n, 7}, 7}, {false, []float64{2}, 2}} {
		if got := bestOf(c.lower, c.vs...); got != c.want {
			t.Errorf("bestOf(%v, %v) = %v want %v", c.lower, c.vs, got, c.want)
		}
	}
	if !math.IsNaN(bestOf(true, n, n)) || !math.IsNaN(bestOf(false)) {
		t.Error("bestOf of nothing measured is not NaN")
	}
}

func TestNchanConfig(t *testing.T) {
	def := nchanConfig("/m.so", "/d", "127.0.0.1:1", "127.0.0.1:2", 2, 1, false)
	tuned := nchanConfig("/m.so", "/d", "127.0.0.1:1", "127.0.0.1:2", 2, 1, true)
	for _, want := range []string{"worker_processes 2;\n", "events { worker_connections 19500; }\n", "    listen 127.0.0.1:1;\n",
		"    listen 127.0.0.1:2;\n", "nchan_eventsource_ping_interval 1;"} {
		if !strings.Contains(def, want) {
			t.Errorf("Debian-default config lacks %q:\n%s", want, def)
		}
	}
	for _, not := range []string{"backlog", "multi_accept", "{{"} {
		if strings.Contains(def, not) {
			t.Errorf("Debian-default config has %q:\n%s", not, def)
		}
	}
	for _, want := range []string{"worker_processes 2;\n", "events { worker_connections 19500; multi_accept on; }\n",
		"    listen 127.0.0.1:1 backlog=4096;\n", "    listen 127.0.0.1:2;\n"} {
		if !strings.Contains(tuned, want) {
			t.Errorf("tuned config lacks %q:\n%s", want, tuned)
		}
	}
	if strings.Contains(tuned, "{{") {
		t.Errorf("tuned config has a placeholder left:\n%s", tuned)
	}
	// The tuned config is the default one plus the two knobs, nothing else.
	if back := strings.NewReplacer(" backlog=4096", "", " multi_accept on;", "").Replace(tuned); back != def {
		t.Errorf("tuned config differs from the default one in more than its knobs:\n%s", tuned)
	}
}

// TestChartTicksAreRound: axis labels fall on round values (the hand-written
// charts read 0.27, 92.39, 184.52 ...).
func TestChartTicksAreRound(t *testing.T) {
	labels := func(tk interface {
		Ticks(float64, float64) []plot.Tick
	}, lo, hi float64) []string {
		var out []string
		for _, x := range tk.Ticks(lo, hi) {
			if x.Label != "" {
				out = append(out, x.Label)
			}
		}
		return out
	}
	f := func(lo, hi float64, want string) {
		t.Helper()
		if got := strings.Join(labels(niceTicks{}, lo, hi), " "); got != want {
			t.Errorf("ticks of [%v, %v]: %s, want %s", lo, hi, got, want)
		}
	}
	f(0.27, 922.6, "200 400 600 800")
	f(0, 92.39, "0 20 40 60 80")
	f(0, 100, "0 20 40 60 80 100")
	f(0, 15000, "0 2500 5000 7500 10000 12500 15000")
	f(-3, 3, "-3 -2 -1 0 1 2 3")
	f(0, 0.7, "0 0.2 0.4 0.6")
	if got := strings.Join(labels(logTicks{}, 300, 30000), " "); got != "500 1000 2000 5000 10000 20000" {
		t.Errorf("log ticks: %s", got)
	}
}

func TestRenderPeers(t *testing.T) {
	dir := t.TempDir()
	hs := stats.New()
	for i := int64(1); i <= 100; i++ {
		hs.Record(i * 1e6)
	}
	res := &PeersResults{Streams: 9, Nchan1: &ServerRuns{Name: "nginx+nchan, 1 worker", Hold: holdOf(1000, 4000, 5000, 10000),
		Fanout: &scenario.FanoutReport{LatencyHist: hs.Snapshot()}}, Gateway: &ServerRuns{Name: "gateway", Hold: holdOf(1000, 2000, 2500, 3000)}}
	b, _ := json.Marshal(res)
	// A peers.json from before the pipelined gateway storm has no such key.
	old := bytes.Replace(b, []byte(`,"gateway_pipelined":null`), nil, 1)
	if bytes.Equal(old, b) || bytes.Contains(old, []byte("gateway_pipelined")) {
		t.Fatalf("no gateway_pipelined key to remove in %s", b)
	}
	b = old
	from := filepath.Join(dir, "peers-in.json")
	os.WriteFile(from, b, 0o644)
	out := filepath.Join(dir, "B.md")
	if _, err := RenderPeers(Config{Out: out, ResultsDir: filepath.Join(dir, "r")}, from); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(out)
	if bytes.Contains(md, []byte("pipelined")) {
		t.Errorf("a results file without the pipelined gateway storm rendered it:\n%s", md)
	}
	for _, c := range peersCharts {
		if !strings.Contains(string(md), "(r/"+c.file+")") {
			t.Errorf("peers block lacks the link to %s:\n%s", c.file, md)
		}
		svg, err := os.ReadFile(filepath.Join(dir, "r", c.file))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, svg)
		if !bytes.Contains(svg, []byte(">nginx+nchan, 1 worker</text>")) {
			t.Errorf("%s has no nginx+nchan line", c.file)
		}
	}
	if bytes.Contains(b, []byte("nchan_tuned\":{")) || bytes.Contains(md, []byte("tuned")) {
		t.Errorf("a results file without the tuned run rendered one:\n%s", md)
	}

	// With the tuned run: its column and its lines on the charts.
	res.NchanTuned = &ServerRuns{Name: "nginx+nchan, 2 workers, tuned", Hold: holdOf(1000, 3000, 4000, 7000),
		Fanout: &scenario.FanoutReport{LatencyHist: hs.Snapshot()}}
	res.Workers = 2
	b, _ = json.Marshal(res)
	if !bytes.Contains(b, []byte(`"nchan_tuned":{`)) {
		t.Fatalf("no nchan_tuned in %s", b)
	}
	os.WriteFile(from, b, 0o644)
	if _, err := RenderPeers(Config{Out: out, ResultsDir: filepath.Join(dir, "r")}, from); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(out)
	if !bytes.Contains(md, []byte("| nchan, 2 workers, tuned | gateway / nchan's best |")) {
		t.Errorf("peers block lacks the tuned column:\n%s", md)
	}
	for _, c := range peersCharts {
		svg, _ := os.ReadFile(filepath.Join(dir, "r", c.file))
		if !bytes.Contains(svg, []byte(">nginx+nchan, 2 workers, tuned</text>")) {
			t.Errorf("%s has no tuned nginx+nchan line", c.file)
		}
	}

	// With the pipelined gateway storm: saved with its environment, rendered
	// as its two rows (nchan 1 worker's figures beside it), not charted.
	stormOf := func(rate, us float64) *scenario.StormReport {
		return &scenario.StormReport{Phases: []scenario.StormPhase{{StreamsPerSec: rate, ServerCPUPerStreamUS: us, BackendCPUPerStreamUS: -1}}}
	}
	res.Gateway.Storm, res.Nchan1.Storm = stormOf(9000, 40), stormOf(10000, 30)
	res.GatewayPipelined = &ServerRuns{Name: "gateway, callbacks pipelined", Storm: stormOf(14000, 27)}
	res.GatewayPipelinedEnv = pipelinedEnv
	b, _ = json.Marshal(res)
	if !bytes.Contains(b, []byte(`"gateway_pipelined":{`)) ||
		!bytes.Contains(b, []byte(`"gateway_pipelined_env":["CALLBACK_CONCURRENCY=16","CALLBACK_PIPELINE=32"]`)) {
		t.Fatalf("no gateway_pipelined with its environment in %s", b)
	}
	os.WriteFile(from, b, 0o644)
	if _, err := RenderPeers(Config{Out: out, ResultsDir: filepath.Join(dir, "r")}, from); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(out)
	for _, want := range []string{
		"| streams set up per second, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) | 14,000/s | 10,000/s | — | — | 1.40× |",
		"| server CPU per stream set up, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) | 27.0 µs | 30.0 µs | — | — | 0.90× |",
		"default callbacks 40.0 µs **missed**, callbacks pipelined (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32) 27.0 µs **met**",
		"default callbacks 9,000/s **missed**, callbacks pipelined 14,000/s **met**"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("peers block lacks %q:\n%s", want, md)
		}
	}
	for _, c := range peersCharts {
		if svg, _ := os.ReadFile(filepath.Join(dir, "r", c.file)); bytes.Contains(svg, []byte("pipelined")) {
			t.Errorf("%s charts the pipelined gateway", c.file)
		}
	}
}
