package procstat

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSBytes < 1<<20 || s.Threads < 1 || s.CPUSeconds < 0 {
		t.Fatalf("implausible sample %+v", s)
	}
	// Burn a little CPU and check it is seen: wait on the condition, bounded.
	var x uint64
	for i := 0; i < 1000; i++ {
		for j := 0; j < 1_000_000; j++ {
			x += uint64(j) ^ x
		}
		s2, err := Read(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if s2.CPUSeconds > s.CPUSeconds {
			runtime.KeepAlive(x)
			return
		}
	}
	t.Fatal("CPU seconds never grew")
}

func TestCPUSecondsCommWithParens(t *testing.T) {
	stat := []byte("42 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0")
	got, err := cpuSeconds(stat)
	if err != nil || got != 3.0 {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestReadMissing(t *testing.T) {
	if _, err := Read(1 << 30); err == nil {
		t.Fatal("want error for a missing pid")
	}
}

func TestScrapeGauge(t *testing.T) {
	page := strings.Join([]string{
		"# HELP sse_connections open streams",
		"# TYPE sse_connections gauge",
		"sse_connections_total 99",
		`sse_connections{loop="0"} 1500`,
		"other 1",
	}, "\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, page)
	}))
	defer srv.Close()
	v, err := ScrapeGauge(context.Background(), srv.URL, "sse_connections")
	if err != nil || v != 1500 {
		t.Fatalf("got %v %v", v, err)
	}
	if _, err := ScrapeGauge(context.Background(), srv.URL, "missing"); err != ErrNoGauge {
		t.Fatalf("want ErrNoGauge, got %v", err)
	}
}

func TestParentOf(t *testing.T) {
	pp, err := parentOf([]byte("42 (a) b) c) S 17 2 3"))
	if err != nil || pp != 17 {
		t.Fatalf("got %v %v", pp, err)
	}
}

// TestReadTreeSumsDescendants: a shell that only waits on a busy grandchild
// reads near zero CPU by itself and the grandchild's CPU as a tree (the way
// nginx's master waits while its workers serve).
func TestReadTreeSumsDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sh -c 'i=0; while [ $i -lt 50000000 ]; do i=$((i+1)); done' & wait`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // by its own PID
	for i := 0; i < 500; i++ {                                // bounded: 10 s
		tree, err := ReadTree(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		self, err := Read(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if tree.CPUSeconds >= 0.2 && self.CPUSeconds < 0.1 && tree.Threads >= 2 && tree.RSSBytes > self.RSSBytes {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the grandchild's CPU was never counted in the tree")
}
