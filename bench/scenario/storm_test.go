package scenario

import (
	"encoding/json"
	"os"
	"testing"
)

func TestStormPhaseFromOlderJSON(t *testing.T) {
	var old StormPhase
	if err := json.Unmarshal([]byte(`{"name":"connect","streams":3,"ready":3}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Ready != 3 || old.ServerCPU != -1 || old.ServerCPUPerStreamUS != -1 || old.BackendCPU != -1 ||
		old.BackendCPUPerStreamUS != -1 || old.ReadyHist.Count != 0 {
		t.Fatalf("a phase without CPU fields: %+v", old)
	}
	in := StormPhase{Name: "reconnect", Ready: 5, ServerCPU: 0, ServerCPUPerStreamUS: 0, BackendCPU: 1.5, BackendCPUPerStreamUS: 300}
	b, _ := json.Marshal(in)
	var back StormPhase
	if err := json.Unmarshal(b, &back); err != nil || back.ServerCPU != 0 || back.BackendCPUPerStreamUS != 300 || back.Name != "reconnect" {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

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
