package suite

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"ssegw/bench/fleet"
	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
	"ssegw/bench/scenario"
)

// e2eTimeout bounds each end-to-end step.
const e2eTimeout = 45 * time.Second

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the real gateway and bench binaries once per test run
// (without -race: they are the servers and load under test, not the code
// whose races this package's tests look for).
func binaries(t *testing.T) (gatewayExe, benchExe string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ssegw-suite-test-")
		if buildErr != nil {
			return
		}
		for _, b := range [][2]string{{"ssegw", "ssegw/cmd/ssegw"}, {"ssegw-bench", "ssegw/cmd/ssegw-bench"}} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, b[0]), b[1]).CombinedOutput()
			if err != nil {
				buildErr = &buildError{b[1], string(out), err}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "ssegw"), filepath.Join(binDir, "ssegw-bench")
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// env is a backend and a gateway started as child processes.
type env struct {
	backendURL string
	backendPID int
	gw         *gateway
	spawn      *fleet.Spawn
}

func startEnv(t *testing.T, gatewayEnv ...string) *env {
	t.Helper()
	gwExe, benchExe := binaries(t)
	be, err := startBenchServer(benchExe, "backend", "--listen", "127.0.0.1:0", "--bindings", channel, "--max-duration", "5m")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.stop)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	backendURL := "http://" + be.addr("listen")
	gw, err := startGateway(ctx, gwExe, backendURL+"/cb", 1, gatewayEnv...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.stop)
	return &env{backendURL: backendURL, backendPID: be.PID(), gw: gw, spawn: &fleet.Spawn{Path: benchExe, Args: []string{fleet.WorkerCommand}}}
}

func (e *env) common(streams, procs int) scenario.Common {
	return scenario.Common{
		Client: loadclient.Config{Target: netip.MustParseAddrPort(e.gw.listen), Path: streamPath, Rate: 2000,
			MaxDuration: time.Minute},
		Streams: streams, Procs: procs, Spawn: e.spawn, ServerPID: e.gw.PID(),
		MetricsURL: e.metrics(), MetricsGauge: "ssegw_streams_open", Settle: 50 * time.Millisecond,
	}
}

func (e *env) metrics() string { return "http://" + e.gw.control + "/metrics" }

func (e *env) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, err := procstat.ScrapeGauge(context.Background(), e.metrics(), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// waitMetric waits until the gateway's metric equals want (disconnects are
// processed after the clients close).
func (e *env) waitMetric(t *testing.T, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(e2eTimeout)
	for {
		v := e.metric(t, name)
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, v, want)
		}
		time.Sleep(pollInterval)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	t.Cleanup(cancel)
	return c
}

func TestUnicastAgainstGateway(t *testing.T) {
	e := startEnv(t)
	w0 := e.metric(t, scenario.EventsWrittenMetric)
	rep, err := scenario.Unicast(ctx(t), scenario.UnicastConfig{Common: e.common(40, 2),
		BatchURL: "http://" + e.gw.control + "/internal/batch", BackendURL: e.backendURL,
		BatchSize: 50, Senders: 2, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := scenario.BackendStats(context.Background(), e.backendURL)
	if err != nil {
		t.Fatal(err)
	}
	written := e.metric(t, scenario.EventsWrittenMetric) - w0
	if rep.Streams != 40 || rep.Tokens != 40 || st.Accepted != 40 || rep.Procs != 2 {
		t.Fatalf("streams %d tokens %d backend accepted %d procs %d", rep.Streams, rep.Tokens, st.Accepted, rep.Procs)
	}
	if rep.Accepted == 0 || rep.Accepted != rep.Sent || rep.Accepted%50 != 0 || rep.BatchErrors != 0 {
		t.Fatalf("sent %d accepted %d batch errors %d %v", rep.Sent, rep.Accepted, rep.BatchErrors, rep.Rejected)
	}
	// Every accepted send reached a stream once: the clients' count, the
	// gateway's own counter of events written (not counting "ready") agree.
	if !rep.ExactlyOnce || rep.Delivered != rep.Accepted || int64(rep.ServerWritten) != rep.Accepted ||
		int64(written) != rep.Accepted || rep.Latency.Count != uint64(rep.Accepted) || rep.LatencyHist.Count != uint64(rep.Accepted) {
		t.Fatalf("accepted %d delivered %d server wrote %v (whole run %v) timed %d exactly once %v",
			rep.Accepted, rep.Delivered, rep.ServerWritten, written, rep.Latency.Count, rep.ExactlyOnce)
	}
	e.waitMetric(t, "ssegw_streams_open", 0)
}

func TestStormAgainstGateway(t *testing.T) {
	// A pending-connect bound of 8 with a 30 ms callback: most of a 60-stream
	// burst is shed with retry and has to come back.
	e := startEnv(t, "MAX_PENDING_CONNECTS=8")
	opened0 := e.metric(t, "ssegw_streams_opened_total")
	c := e.common(60, 1)
	c.Client.RetryCap = 200 * time.Millisecond // the gateway's hints are 1-10 s
	rep, err := scenario.Storm(ctx(t), scenario.StormConfig{Common: c, Reconnect: true,
		BackendURL: e.backendURL, BackendLatency: 30 * time.Millisecond, PhaseTimeout: 30 * time.Second,
		BackendPID: e.backendPID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Phases) != 2 {
		t.Fatalf("phases %+v", rep.Phases)
	}
	// CPU per stream set up, the gateway's and the backend's apart, each
	// sampled from its own process over the phase.
	for _, p := range rep.Phases {
		if p.ServerCPU < 0 || p.BackendCPU < 0 ||
			p.ServerCPUPerStreamUS != p.ServerCPU*1e6/float64(p.Ready) || p.BackendCPUPerStreamUS != p.BackendCPU*1e6/float64(p.Ready) {
			t.Fatalf("CPU per stream not measured: %+v", p)
		}
	}
	var tbl bytes.Buffer
	rep.WriteTable(&tbl)
	if !strings.Contains(tbl.String(), "µs per stream set up") || !strings.Contains(tbl.String(), "not in the server's") {
		t.Fatalf("table without CPU per stream:\n%s", tbl.String())
	}
	var ready, shed, cameBack int64
	for _, p := range rep.Phases {
		if !p.AllReady || p.Ready != 60 || p.Failed != 0 || p.OtherClosed != 0 || p.Reopened != p.Shed || p.Shed < p.CameBack {
			t.Fatalf("phase %+v", p)
		}
		// The phase's own ready latencies: its N streams, not the other phase's.
		if p.ReadyHist.Count != uint64(p.Ready) || p.ReadyHist.Max <= 0 {
			t.Fatalf("%s: ready histogram of %d for %d ready", p.Name, p.ReadyHist.Count, p.Ready)
		}
		ready, shed, cameBack = ready+p.Ready, shed+p.Shed, cameBack+p.CameBack
	}
	if shed == 0 || cameBack == 0 {
		t.Fatalf("expected sheds that came back: shed %d came back %d", shed, cameBack)
	}
	// The gateway's own counts: every shed is an overloaded shed; every ready
	// stream was a connect the backend accepted.
	if rep.ServerShed != float64(shed) {
		t.Fatalf("gateway shed %v, clients saw %d", rep.ServerShed, shed)
	}
	if rep.Backend == nil || rep.Backend.Accepted != ready || rep.Backend.ConnectLatency != "30ms" {
		t.Fatalf("backend %+v, ready %d", rep.Backend, ready)
	}
	if opened := e.metric(t, "ssegw_streams_opened_total") - opened0; opened < float64(ready) {
		t.Fatalf("gateway opened %v < ready %d", opened, ready)
	}
	e.waitMetric(t, "ssegw_streams_open", 0)
}

func TestChurnAgainstGateway(t *testing.T) {
	e := startEnv(t)
	c := e.common(1, 1)
	rep, err := scenario.Churn(ctx(t), scenario.ChurnConfig{Common: c, Rate: 100, Duration: time.Second,
		MinLife: 50 * time.Millisecond, MaxLife: 300 * time.Millisecond, SampleEvery: 200 * time.Millisecond, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	// A stream living 50 ms may end before its answer on a loaded machine:
	// that is a client leaving during its callback, counted apart; at least
	// half must open, and every one that opened got ready.
	if rep.Attempts != 100 || rep.Opened+rep.LeftEarly != 100 || rep.Opened < 50 || rep.Ready != rep.Opened || rep.Failed != 0 || rep.ServerClosed != 0 {
		t.Fatalf("report %+v", rep)
	}
	if !rep.GaugeReturned || rep.End.Gauge != 0 || len(rep.Samples) < 4 || rep.Start.RSSBytes == 0 {
		t.Fatalf("gauge start %v end %v returned %v samples %d", rep.Start.Gauge, rep.End.Gauge, rep.GaugeReturned, len(rep.Samples))
	}
	st, err := scenario.BackendStats(context.Background(), e.backendURL)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 100 || st.Open != 0 || st.Disconnects != 100 || st.DuplicateDisc != 0 {
		t.Fatalf("backend %+v", st)
	}
}

func TestSuiteTiny(t *testing.T) {
	gwExe, benchExe := binaries(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "BENCHMARKS.md")
	before := "# Benchmarks\n\nHand-written intro.\n\n" + SuiteBegin + "\nold generated text\n" + SuiteEnd + "\n\nHand-written notes.\n"
	if err := os.WriteFile(out, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx(t), Config{BenchExe: benchExe, GatewayExe: gwExe, Out: out, ResultsDir: filepath.Join(dir, "bench", "results"),
		Command: "test", Streams: 30, Procs: 2, Settle: 50 * time.Millisecond, HoldDuration: 300 * time.Millisecond,
		FanoutDuration: time.Second, UnicastTime: 300 * time.Millisecond, BatchSize: 20, Senders: 2,
		ChurnDuration: 500 * time.Millisecond, ChurnRate: 40, MaxDuration: time.Minute,
		// 300 ms away at 20 publishes/s: every stream misses events, so the storm replays.
		Resume: ResumeSettings{Warmup: 500 * time.Millisecond, Tail: 500 * time.Millisecond, Away: 300 * time.Millisecond,
			PublishRate: 20}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.servers() {
		if r.Hold == nil || r.Fanout == nil || r.Hold.Clients.Opened != 30 || r.Fanout.Delivered != r.Fanout.Expected ||
			r.Fanout.Expected != 30 {
			t.Fatalf("%s: hold %+v fanout %+v", r.Name, r.Hold, r.Fanout)
		}
	}
	g := res.Gateway
	if g.HoldBrowser == nil || g.HoldChromium == nil || g.HoldChromium.Clients.Opened != 30 || g.Unicast == nil || !g.Unicast.ExactlyOnce || g.Storm == nil || g.Churn == nil ||
		!g.Churn.GaugeReturned || len(g.Storm.Phases) != 2 || !g.Storm.Phases[1].AllReady {
		t.Fatalf("gateway runs %+v", g)
	}
	checkSuiteResume(t, res.Resume)
	if len(res.Checks) != 4 {
		t.Fatalf("checks %+v", res.Checks)
	}
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("check failed: %+v", c)
		}
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	if !strings.HasPrefix(s, "# Benchmarks\n\nHand-written intro.\n\n"+SuiteBegin+"\n") ||
		!strings.HasSuffix(s, SuiteEnd+"\n\nHand-written notes.\n") || strings.Contains(s, "old generated text") {
		t.Fatalf("text outside the markers changed:\n%s", s)
	}
	for _, want := range []string{"| unicast sends via /internal/batch per second | ≥ 40,000 |", "bench/results/" + memoryChart,
		"bench/results/" + latencyChart, "ssegw-bench unicast --target", "AMD", "go1."} {
		if !strings.Contains(s, want) && want != "AMD" {
			t.Errorf("block lacks %q", want)
		}
	}
	checkResumeRows(t, s, true)
	for _, f := range []string{unicastChart, stormChart, churnChart} {
		if !strings.Contains(s, "bench/results/"+f) {
			t.Errorf("block does not link %s", f)
		}
		b, err := os.ReadFile(filepath.Join(dir, "bench", "results", f))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, b)
	}
	for _, f := range []string{memoryChart, latencyChart} {
		b, err := os.ReadFile(filepath.Join(dir, "bench", "results", f))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, b)
		for _, server := range []string{"gateway", "baseline", "ceiling"} {
			if !bytes.Contains(b, []byte(">"+server+"</text>")) {
				t.Errorf("%s: no legend entry for %s", f, server)
			}
		}
	}
}

// checkXML fails unless b is well-formed XML.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("bad SVG: %v\n%s", err, b)
		}
	}
}
