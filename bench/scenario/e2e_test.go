package scenario

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"ssegw/bench/baseline"
	"ssegw/bench/ceiling"
	"ssegw/bench/fleet"
	"ssegw/bench/loadclient"
)

// workerEnv makes the test binary act as a bench worker child process.
const workerEnv = "SSEGW_BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := fleet.RunWorker(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if gatewayDir != "" {
		os.RemoveAll(gatewayDir)
	}
	os.Exit(code)
}

const (
	testStreams   = 50
	testHeartbeat = 100 * time.Millisecond
	testTimeout   = 30 * time.Second
)

// server is a bench server under test with a way to read what it saw.
type server struct {
	name    string
	target  netip.AddrPort
	control string
	stats   func() (total, open, deliveries, heartbeats int64)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func startBaseline(t *testing.T, hb time.Duration) server {
	sl, cl := listen(t), listen(t)
	srv := baseline.New(baseline.Config{Heartbeat: hb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, sl, cl); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return server{name: "baseline", target: netip.MustParseAddrPort(sl.Addr().String()),
		control: "http://" + cl.Addr().String(),
		stats: func() (int64, int64, int64, int64) {
			s := srv.Stats()
			return s.StreamsTotal, s.StreamsOpen, s.Deliveries, s.HeartbeatsOut
		}}
}

func startCeiling(t *testing.T, hb time.Duration) server {
	cl := listen(t)
	srv := ceiling.New(ceiling.Config{Loops: 2, Heartbeat: hb})
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, cl); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return server{name: "ceiling", target: srv.Addr(), control: "http://" + cl.Addr().String(),
		stats: func() (int64, int64, int64, int64) {
			s := srv.Stats()
			return s.StreamsTotal, s.StreamsOpen, s.Deliveries, s.Heartbeats
		}}
}

func common(s server, procs int) Common {
	c := Common{
		Client:    loadclient.Config{Target: s.target, Path: "/events?channel=bench", Rate: 5000},
		Streams:   testStreams,
		Procs:     procs,
		ServerPID: os.Getpid(),
		Settle:    time.Millisecond,
	}
	if procs > 1 {
		c.Spawn = &fleet.Spawn{Path: os.Args[0], Env: []string{workerEnv + "=1"}}
	}
	return c
}

func runHold(t *testing.T, s server, procs int) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	rep, err := Hold(ctx, HoldConfig{Common: common(s, procs), Steps: []int{0, 20}, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	total, _, _, serverBeats := s.stats()
	if rep.Clients.Opened != testStreams || rep.Clients.Failed != 0 || total != testStreams {
		t.Fatalf("%s: opened %d failed %d, server saw %d", s.name, rep.Clients.Opened, rep.Clients.Failed, total)
	}
	if len(rep.Snapshots) != 3 || rep.Snapshots[2].Streams != testStreams || rep.Snapshots[2].RSSBytes == 0 {
		t.Fatalf("%s: snapshots %+v", s.name, rep.Snapshots)
	}
	if rep.HeartbeatsHeld == 0 || rep.Clients.Heartbeats > serverBeats || rep.HeartbeatGap.Count == 0 {
		t.Fatalf("%s: heartbeats held %d seen %d server wrote %d", s.name, rep.HeartbeatsHeld,
			rep.Clients.Heartbeats, serverBeats)
	}
	// The mean gap is the stream's heartbeat span over its count, so reads
	// that coalesce several heartbeats on a loaded machine do not skew it.
	if rep.HeartbeatGap.Mean < 50 || rep.HeartbeatGap.Mean > 1000 {
		t.Fatalf("%s: heartbeat gap mean %.1f ms, interval 100 ms", s.name, rep.HeartbeatGap.Mean)
	}
	waitServerIdle(t, s)
}

// waitServerIdle waits until the server saw every stream close.
func waitServerIdle(t *testing.T, s server) {
	t.Helper()
	err := waitUntil(context.Background(), testTimeout, func() (bool, error) {
		_, open, _, _ := s.stats()
		return open == 0, nil
	})
	if err != nil {
		t.Fatalf("%s: streams still open at the server", s.name)
	}
}

// runFanout fans out over procs client processes. With one (in-process)
// client the late streams share it, as they did before the dedicated worker;
// with child processes they get their dedicated one (the default).
func runFanout(t *testing.T, s server, procs int) {
	const pubs, late = 5, 6
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, _, deliveredBefore, _ := s.stats()
	lateWorker := LateDedicated
	if procs == 1 {
		lateWorker = LateShared
	}
	rep, err := Fanout(ctx, FanoutConfig{Common: common(s, procs),
		PublishURL:  s.control + "/internal/publish",
		PublishBody: `{"channel":"bench","event":{"name":"tick","data":"{{.Data}}","id":"{{.Seq}}"}}`,
		PublishRate: 20, Duration: pubs * 50 * time.Millisecond, LateStreams: late, PayloadBytes: 64,
		LateWorker: lateWorker})
	if err != nil {
		t.Fatal(err)
	}
	_, _, delivered, _ := s.stats()
	if rep.Publishes != pubs || rep.PublishErrors != 0 || rep.Streams != testStreams {
		t.Fatalf("%s: %+v", s.name, rep)
	}
	if rep.Delivered != pubs*testStreams || rep.Expected != rep.Delivered || rep.Latency.Count != uint64(rep.Delivered) {
		t.Fatalf("%s: delivered %d expected %d latency n %d", s.name, rep.Delivered, rep.Expected, rep.Latency.Count)
	}
	if got := rep.Delivered + rep.DeliveredLate; rep.ServerConnections != got || delivered-deliveredBefore != got {
		t.Fatalf("%s: clients got %d, publish replies said %d, server wrote %d", s.name, got,
			rep.ServerConnections, delivered-deliveredBefore)
	}
	if rep.LateClients.Opened != late || rep.LateOpen.Count != late || rep.Latency.Max <= 0 {
		t.Fatalf("%s: late %+v open %+v", s.name, rep.LateClients, rep.LateOpen)
	}
	if rep.ServerCPU <= 0 || rep.DeliveriesPerCPUSec <= 0 {
		t.Fatalf("%s: cpu %v", s.name, rep.ServerCPU)
	}
	if (rep.LateWorker != nil) != (lateWorker == LateDedicated) {
		t.Fatalf("%s: late worker %+v in %s mode", s.name, rep.LateWorker, lateWorker)
	}
	waitServerIdle(t, s)
}

// TestFanoutDedicatedLateWorker fans out to 200 streams of the real ceiling
// server over two child processes and checks that every late stream was
// opened by the third, dedicated process (none of the fan-out's streams on
// it, none of the late ones elsewhere), from the source address kept for it,
// and that their accept latency is reported.
func TestFanoutDedicatedLateWorker(t *testing.T) {
	const streams, pubs, late = 200, 10, 10
	s := startCeiling(t, testHeartbeat)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := common(s, 2)
	c.Streams = streams
	rep, err := Fanout(ctx, FanoutConfig{Common: c, PublishURL: s.control + "/internal/publish",
		PublishRate: 20, Duration: pubs * 50 * time.Millisecond, LateStreams: late})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Streams != streams || rep.Delivered != rep.Expected || rep.Expected != pubs*streams || rep.Procs != 2 {
		t.Fatalf("streams %d delivered %d of %d procs %d", rep.Streams, rep.Delivered, rep.Expected, rep.Procs)
	}
	lw := rep.LateWorker
	if lw == nil {
		t.Fatal("no dedicated late worker reported")
	}
	if lw.PID <= 0 || lw.PID == os.Getpid() || lw.Source != "127.0.0.254" {
		t.Fatalf("late worker pid %d (this process %d) source %s", lw.PID, os.Getpid(), lw.Source)
	}
	own, other := lw.Counters[lateGroup], lw.Counters[0]
	if own.Requested != late || own.Opened != late || other.Requested != 0 {
		t.Fatalf("dedicated worker: late %+v, fan-out group %+v", own, other)
	}
	if rep.LateClients.Requested != late || rep.LateClients.Opened != late || rep.LateClients.Failed != 0 {
		t.Fatalf("late streams over the fleet %+v: some were opened elsewhere", rep.LateClients)
	}
	if rep.LateOpen.Count != late || rep.LateOpen.P99 <= 0 || rep.LateOpen.Max < rep.LateOpen.P50 {
		t.Fatalf("late accept latency %+v", rep.LateOpen)
	}
	waitServerIdle(t, s)
}

func TestBadLateWorker(t *testing.T) {
	_, err := Fanout(context.Background(), FanoutConfig{
		Common:      Common{Client: loadclient.Config{Target: netip.MustParseAddrPort("127.0.0.1:1")}, Streams: 1},
		PublishURL:  "http://127.0.0.1:1/internal/publish",
		PublishRate: 1, Duration: time.Second, LateStreams: 1, LateWorker: "elsewhere"})
	if !errors.Is(err, ErrBadLateWorker) {
		t.Fatalf("want ErrBadLateWorker, got %v", err)
	}
}

func TestHoldAndFanoutBaseline(t *testing.T) {
	s := startBaseline(t, testHeartbeat)
	runHold(t, s, 1)
	runFanout(t, s, 1)
}

func TestHoldAndFanoutCeiling(t *testing.T) {
	s := startCeiling(t, testHeartbeat)
	runHold(t, s, 1)
	runFanout(t, s, 1)
}

// TestChildProcesses runs both scenarios over two worker processes (this
// test binary re-executed as "worker") and checks the merged counts.
func TestChildProcesses(t *testing.T) {
	s := startBaseline(t, testHeartbeat)
	runHold(t, s, 2)
	runFanout(t, s, 2)
}

func TestRefusesRemotePublish(t *testing.T) {
	_, err := Fanout(context.Background(), FanoutConfig{
		Common:      Common{Client: loadclient.Config{Target: netip.MustParseAddrPort("127.0.0.1:1")}, Streams: 1},
		PublishURL:  "http://10.0.0.1:3001/internal/publish",
		PublishRate: 1, Duration: time.Second})
	if err != ErrRemotePublish {
		t.Fatalf("want ErrRemotePublish, got %v", err)
	}
}

func TestHoldSteps(t *testing.T) {
	got := holdSteps(nil, 300)
	if len(got) != 3 || got[0] != 0 || got[1] != 100 || got[2] != 300 {
		t.Fatalf("default steps %v", got)
	}
	if got := holdSteps([]int{500, 10, 10}, 100); len(got) != 2 || got[0] != 10 || got[1] != 100 {
		t.Fatalf("steps %v", got)
	}
}

func TestIsLoopbackURL(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1:3001": true, "localhost:3001": true, "127.0.0.9": true,
		"[::1]:80": true, "10.0.0.1:3001": false, "example.com": false} {
		if got := IsLoopbackURL(host); got != want {
			t.Errorf("%s: got %v", host, got)
		}
	}
}
