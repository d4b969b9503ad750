package fleet

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"ssegw/bench/loadclient"
)

// workerEnv makes the test binary act as a worker child process.
const workerEnv = "SSEGW_FLEET_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := RunWorker(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const testTimeout = 30 * time.Second

// peerServer is a real TCP server that answers every request head with an
// open SSE stream and records each connection's source address.
type peerServer struct {
	ln    net.Listener
	mu    sync.Mutex
	peers map[netip.Addr]int
	conns []net.Conn
	wg    sync.WaitGroup
}

func startPeerServer(t *testing.T) *peerServer {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &peerServer{ln: ln, peers: map[netip.Addr]int{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *peerServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

// serve reads the request head, then answers 200 text/event-stream and
// records the peer.
func (s *peerServer) serve(c net.Conn) {
	defer s.wg.Done()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if line == "\r\n" {
			break
		}
	}
	s.mu.Lock()
	s.peers[netip.MustParseAddrPort(c.RemoteAddr().String()).Addr()]++
	s.mu.Unlock()
	c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"))
}

func (s *peerServer) peerCounts() map[netip.Addr]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[netip.Addr]int, len(s.peers))
	for a, n := range s.peers {
		out[a] = n
	}
	return out
}

func (s *peerServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// waitOpened waits until group g has want open streams over the fleet.
func waitOpened(t *testing.T, f *Fleet, g int, want int64) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		cs, err := f.Counters()
		if err != nil {
			t.Fatal(err)
		}
		if cs[g].Opened >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %d: %+v, want %d open", g, cs[g], want)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline-bounded wait
	}
}

// TestDedicatedWorker starts two shared child workers and a dedicated one for
// group 1 against a real server: group 1 is opened only by the dedicated
// process and only from its own source address, which no shared stream uses.
func TestDedicatedWorker(t *testing.T) {
	const sharedN, lateN = 40, 7
	srv := startPeerServer(t)
	cfg := loadclient.Config{Target: netip.MustParseAddrPort(srv.ln.Addr().String()), Path: "/events", Rate: 5000}
	shared, own, err := SplitSources(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spawn := &Spawn{Path: os.Args[0], Env: []string{workerEnv + "=1"}}
	f, err := StartWith(shared, sharedN, 2, spawn, &Dedicated{Group: 1, Config: own})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Procs() != 2 || f.DedicatedWorker() != 2 {
		t.Fatalf("procs %d dedicated index %d", f.Procs(), f.DedicatedWorker())
	}
	if err := f.Open(0, sharedN); err != nil {
		t.Fatal(err)
	}
	if err := f.Open(1, lateN); err != nil {
		t.Fatal(err)
	}
	waitOpened(t, f, 0, sharedN)
	waitOpened(t, f, 1, lateN)
	pids := map[int]bool{os.Getpid(): true}
	for i := 0; i < 3; i++ {
		cs, err := f.WorkerCounters(i)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := f.WorkerPID(i)
		if pids[pid] {
			t.Fatalf("worker %d: pid %d not a process of its own", i, pid)
		}
		pids[pid] = true
		wantLate, wantShared := int64(0), int64(sharedN/2)
		if i == 2 {
			wantLate, wantShared = lateN, 0
		}
		if cs[1].Opened != wantLate || cs[1].Requested != wantLate || cs[0].Requested != wantShared {
			t.Fatalf("worker %d: group 0 %+v, group 1 %+v", i, cs[0], cs[1])
		}
	}
	peers := srv.peerCounts()
	if peers[own.SourceFirst] != lateN || own.SourceFirst != netip.MustParseAddr("127.0.0.254") {
		t.Fatalf("dedicated source %s: %d connections, want %d (peers %v)", own.SourceFirst, peers[own.SourceFirst], lateN, peers)
	}
	if _, err := f.WorkerCounters(3); err != ErrNoWorker {
		t.Fatalf("worker 3: %v", err)
	}
}

func TestSplitSources(t *testing.T) {
	one := netip.MustParseAddr("127.0.0.7")
	cfg := loadclient.Config{Target: netip.MustParseAddrPort("127.0.0.1:80")}
	shared, own, err := SplitSources(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if shared.SourceFirst != netip.MustParseAddr("127.0.0.1") || shared.SourceLast != netip.MustParseAddr("127.0.0.253") ||
		own.SourceFirst != own.SourceLast || own.SourceLast != netip.MustParseAddr("127.0.0.254") {
		t.Fatalf("shared %v-%v dedicated %v-%v", shared.SourceFirst, shared.SourceLast, own.SourceFirst, own.SourceLast)
	}
	cfg.SourceFirst, cfg.SourceLast = one, one
	if shared, own, _ = SplitSources(cfg); shared.SourceLast != one || own.SourceFirst != one {
		t.Fatalf("one address: shared %v dedicated %v", shared.SourceLast, own.SourceFirst)
	}
	if _, err := StartWith(cfg, 1, 1, nil, &Dedicated{Group: loadclient.MaxGroups}); err != ErrBadGroup {
		t.Fatalf("bad group: %v", err)
	}
}
