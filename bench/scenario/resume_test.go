package scenario

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ssegw/bench/fleet"
	"ssegw/bench/gwproc"
	"ssegw/bench/loadclient"
)

// Sizes of the resume end-to-end tests (the full sizes are benchmarks:
// BENCHMARKS.md "Resume (issue 14)").
const (
	resumeTestStreams = 200
	resumeTestTimeout = 90 * time.Second
)

var (
	gatewayOnce sync.Once
	gatewayDir  string
	gatewayErr  error
)

// gatewayExe builds the real gateway once per test run (without -race: it
// is the server under test, not the code whose races this package checks).
func gatewayExe(t *testing.T) string {
	t.Helper()
	gatewayOnce.Do(func() {
		if gatewayDir, gatewayErr = os.MkdirTemp("", "ssegw-scenario-test-"); gatewayErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(gatewayDir, "ssegw"), "ssegw/cmd/ssegw").CombinedOutput()
		if err != nil {
			gatewayErr = &buildFailure{string(out), err}
		}
	})
	if gatewayErr != nil {
		t.Fatal(gatewayErr)
	}
	return filepath.Join(gatewayDir, "ssegw")
}

type buildFailure struct {
	out string
	err error
}

func (b *buildFailure) Error() string { return "go build ssegw: " + b.err.Error() + "\n" + b.out }

// resumeCommon is the client side of a resume test: procs client processes
// (this test binary as workers), storm connect rate.
func resumeCommon(procs int) Common {
	c := Common{Client: loadclient.Config{Path: "/events", Rate: DefaultStormRate}, Streams: resumeTestStreams,
		Procs: procs, Settle: time.Millisecond}
	if procs > 1 {
		c.Spawn = &fleet.Spawn{Path: os.Args[0], Env: []string{workerEnv + "=1"}}
	}
	return c
}

func testBackend(t *testing.T) *gwproc.Backend {
	t.Helper()
	be, err := gwproc.StartBackend([]string{ResumeChannel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	return be
}

// TestResumeE2E: 200 streams over two client processes against a real
// gateway without and then with history; the streams stay away 300 ms
// while 20 publishes/s go on. Without history they miss what was published
// meanwhile (the check sees gaps); with history each comes back with its
// Last-Event-ID and gets exactly the missed events before "ready": nothing
// lost, nothing twice, no resync.
func TestResumeE2E(t *testing.T) {
	t.Parallel()
	exe := gatewayExe(t)
	be := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), resumeTestTimeout)
	defer cancel()
	rep, err := Resume(ctx, ResumeConfig{Common: resumeCommon(2), GatewayExe: exe, CallbackURL: be.URL() + "/cb",
		PublishRate: 20, Warmup: 500 * time.Millisecond, Away: 300 * time.Millisecond, Tail: 500 * time.Millisecond,
		PhaseTimeout: 20 * time.Second, Drain: 10 * time.Second,
		HistoryEnv: []string{"HISTORY_SIZE=1000"}, GatewayEnv: []string{"EVENT_LOOPS=2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.StormRatio <= 0 || rep.Procs != 2 {
		t.Fatalf("runs %d ratio %v procs %d", len(rep.Runs), rep.StormRatio, rep.Procs)
	}
	without, with := rep.Runs[0], rep.Runs[1]
	for _, r := range rep.Runs {
		if !r.Connect.AllReady || !r.Reconnect.AllReady || r.Tracked.Streams != resumeTestStreams ||
			r.Tracked.Missing != 0 || r.Tracked.Published < 10 || r.GatewayExit != "ok" {
			t.Fatalf("%s: %+v", r.Server, r)
		}
		// Each storm's own ready latencies (resume --render charts the reconnect's).
		for _, p := range []StormPhase{r.Connect, r.Reconnect} {
			if p.ReadyHist.Count != uint64(p.Ready) {
				t.Fatalf("%s %s: ready histogram of %d for %d ready", r.Server, p.Name, p.ReadyHist.Count, p.Ready)
			}
		}
	}
	if without.Tracked.Resumed != 0 || without.Tracked.Lost < resumeTestStreams {
		t.Fatalf("without history: resumed %d lost %d: the away gap must cost every stream events",
			without.Tracked.Resumed, without.Tracked.Lost)
	}
	tr := with.Tracked
	if tr.Lost != 0 || tr.Duplicated != 0 || tr.Resyncs != 0 {
		t.Fatalf("with history: lost %d duplicated %d resync %d", tr.Lost, tr.Duplicated, tr.Resyncs)
	}
	if tr.Resumed < resumeTestStreams || tr.Replayed < resumeTestStreams || with.ServerReplayed < float64(resumeTestStreams) ||
		with.ServerReplays < resumeTestStreams || with.HistoryBytes <= 0 {
		t.Fatalf("with history: resumed %d replayed %d, gateway replays %v replayed %v history %v B",
			tr.Resumed, tr.Replayed, with.ServerReplays, with.ServerReplayed, with.HistoryBytes)
	}
}

// TestRollingRestartE2E: three gateways on one port with JetStream history
// (embedded broker), 200 streams, 10 publishes/s for 6 s, each gateway
// stopped with SIGTERM and started again in turn: the drained streams come
// back by themselves on any gateway and miss nothing, see nothing twice,
// get no resync.
func TestRollingRestartE2E(t *testing.T) {
	t.Parallel()
	exe := gatewayExe(t)
	be := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), resumeTestTimeout)
	defer cancel()
	rep, err := RollingRestart(ctx, RollingConfig{Common: resumeCommon(1), GatewayExe: exe, CallbackURL: be.URL() + "/cb",
		Gateways: 3, PublishRate: 10, Duration: 6 * time.Second, PhaseTimeout: 20 * time.Second,
		DrainWindow: 300 * time.Millisecond, HistoryEnv: []string{"HISTORY_SIZE=1000"}, GatewayEnv: []string{"EVENT_LOOPS=1"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Tracked
	if tr.Lost != 0 || tr.Duplicated != 0 || tr.Resyncs != 0 || tr.Streams != resumeTestStreams || tr.Published < 30 {
		t.Fatalf("tracked %+v (publish errors %d: %s)", tr, rep.PublishErrors, rep.LastPublishErr)
	}
	if len(rep.Restarts) != 3 || rep.OpenAtEnd != resumeTestStreams || rep.Reconnects == 0 || tr.Resumed == 0 {
		t.Fatalf("restarts %+v open %d reconnects %d resumed %d", rep.Restarts, rep.OpenAtEnd, rep.Reconnects, tr.Resumed)
	}
	for _, r := range rep.Restarts {
		if r.Exit != "ok" || r.StreamsHeld == 0 {
			t.Fatalf("restart %+v", r)
		}
	}
	for _, e := range rep.GatewayExits {
		if e != "ok" {
			t.Fatalf("final exits %v", rep.GatewayExits)
		}
	}
}
