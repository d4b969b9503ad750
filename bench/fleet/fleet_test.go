package fleet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"ssegw/bench/loadclient"
)

// TestWorkerProtocol drives RunWorker over in-memory pipes: errors come back
// as replies, the client is built from the config line, and close ends it.
func TestWorkerProtocol(t *testing.T) {
	in := strings.Join([]string{
		`not json`,
		`{"op":"open","group":0,"n":1}`,
		`{"op":"config","config":{"Target":"127.0.0.1:9","Pollers":1}}`,
		`{"op":"open","group":0,"n":0}`,
		`{"op":"bogus"}`,
		`{"op":"counters"}`,
		`{"op":"close"}`,
		`{"op":"counters"}`,
	}, "\n") + "\n"
	// The result reports this process's CPU time, counted by the kernel in
	// 10 ms ticks: use some first, so that the figure cannot be zero.
	before := burnCPU(t)
	var out bytes.Buffer
	if err := RunWorker(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	var reps []reply
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	if len(reps) != 7 {
		t.Fatalf("%d replies, want 7 (nothing after close)", len(reps))
	}
	for i, wantErr := range []bool{true, true, false, false, true, false, false} {
		if (reps[i].Error != "") != wantErr {
			t.Fatalf("reply %d: %+v", i, reps[i])
		}
	}
	if reps[5].Counters == nil || reps[6].Result == nil || reps[6].Result.CPUSeconds < before {
		t.Fatalf("counters %+v result %+v", reps[5].Counters, reps[6].Result)
	}
}

// burnCPUFor bounds burnCPU's wait for the kernel to count a CPU tick.
const burnCPUFor = 5 * time.Second

// burnCPU spins until this process has a non-zero CPU time and returns it.
func burnCPU(t *testing.T) float64 {
	deadline := time.Now().Add(burnCPUFor)
	for x := uint64(1); ; x = x*6364136223846793005 + 1 {
		if x%(1<<16) == 0 {
			if c := selfCPU(); c > 0 {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatal("no CPU time reported for this process")
			}
		}
	}
}

func TestProcsFor(t *testing.T) {
	for n, want := range map[int]int{1: 1, loadclient.MaxStreamsPerProcess: 1, loadclient.MaxStreamsPerProcess + 1: 2, 45000: 3} {
		if got := ProcsFor(n); got != want {
			t.Errorf("ProcsFor(%d) = %d, want %d", n, got, want)
		}
	}
	if _, err := Start(loadclient.Config{}, 40000, 2, nil); err == nil {
		t.Fatal("40000 streams over 2 processes must be refused")
	}
}
