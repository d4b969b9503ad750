package scenario

import (
	"os"
	"testing"
)

func TestCPUPerStream(t *testing.T) {
	for _, c := range []struct {
		before, after float64
		streams       int64
		sec, us       float64
	}{
		{1.0, 2.5, 15000, 1.5, 100},
		{-1, 2.5, 15000, -1, -1}, // not sampled
		{1.0, -1, 15000, -1, -1},
		{1.0, 1.0, 0, 0, -1}, // no stream set up: no per-stream figure
	} {
		sec, us := cpuPerStream(c.before, c.after, c.streams)
		if sec != c.sec || us != c.us {
			t.Fatalf("%+v: got %v s, %v µs", c, sec, us)
		}
	}
}

func TestReadCPU(t *testing.T) {
	got := readCPU(os.Getpid(), 0)
	if got[0] < 0 || got[1] != -1 {
		t.Fatalf("got %v: want this process's CPU and -1 for no backend", got)
	}
	if got := readCPU(1<<30, os.Getpid()); got[0] != -1 || got[1] < 0 {
		t.Fatalf("got %v: a missing process reads -1", got)
	}
}
