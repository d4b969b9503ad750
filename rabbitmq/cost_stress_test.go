//go:build stress

package rabbitmq_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"ssegw/rabbitmq"
)

// TestConsumerCost measures what a stream's consumer costs this process,
// against the real broker, at 1,000 and 10,000 consumers (override with
// RABBITMQ_COST_SIZES=n,n,...): goroutines, Go heap and stack, and RSS per
// consumer (each the difference to the same transport connected with no
// streams, in the same run), the setup rate, and one publish fanned out to
// every stream (time until all are delivered and acked, and the ack frames
// that took). Run it under the exclusive lock:
//
//	/work/helpers/measure go test -tags stress -run TestConsumerCost -v -timeout 30m ./rabbitmq/
func TestConsumerCost(t *testing.T) {
	sizes := []int{1000, 10000}
	if env := os.Getenv("RABBITMQ_COST_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) { consumerCost(t, n) })
	}
}

type usage struct {
	goroutines       int
	heap, stack, rss uint64
	brokerRSS        uint64
}

func measureUsage(t *testing.T) usage {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{goroutines: runtime.NumGoroutine(), heap: ms.HeapInuse, stack: ms.StackInuse, rss: rssOf(t, os.Getpid()), brokerRSS: rssOf(t, broker.BrokerPID())}
}

// rssOf reads a process's resident set from /proc.
func rssOf(t *testing.T, pid int) uint64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func consumerCost(t *testing.T, n int) {
	h := start(t, nil)
	p := newPublisher(t)
	idle := measureUsage(t)

	began := time.Now()
	toks := make([]rabbitmq.Token, n)
	for i := range toks {
		toks[i] = h.openNoWait(uniq(t), "fan")
	}
	waitFor(t, "every stream ready", 30*time.Minute, func() bool {
		return h.metric("ssegw_rabbitmq_consumers") == strconv.Itoa(n)
	})
	setup := time.Since(began)
	for _, tok := range toks {
		h.waitReady(tok, 1)
	}
	busy := measureUsage(t)

	acks0, frames0 := h.metric("ssegw_rabbitmq_acks_total"), h.metric("ssegw_rabbitmq_ack_frames_total")
	began = time.Now()
	p.event(h.tr.Exchange(), "fan", "", "one publish, every stream")
	want := strconv.Itoa(atoi(acks0) + n)
	waitFor(t, "fan-out acked", 10*time.Minute, func() bool { return h.metric("ssegw_rabbitmq_acks_total") == want })
	fanout := time.Since(began)
	frames := atoi(h.metric("ssegw_rabbitmq_ack_frames_total")) - atoi(frames0)

	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	t.Logf("consumers=%d setup=%v (%.0f streams/s)", n, setup.Round(time.Millisecond), float64(n)/setup.Seconds())
	t.Logf("per consumer: goroutines %.2f, Go heap %.0f B, Go stacks %.0f B, process RSS %.0f B, broker RSS %.0f B",
		float64(busy.goroutines-idle.goroutines)/float64(n), per(idle.heap, busy.heap), per(idle.stack, busy.stack),
		per(idle.rss, busy.rss), per(idle.brokerRSS, busy.brokerRSS))
	t.Logf("fan-out of one publish to %d streams: all acked in %v, %d ack frames (%.1f deliveries per frame)",
		n, fanout.Round(time.Millisecond), frames, float64(n)/float64(max(frames, 1)))
	after := measureUsage(t)
	t.Logf("per consumer after its first delivery: Go stacks %.0f B, Go heap %.0f B, process RSS %.0f B",
		per(idle.stack, after.stack), per(idle.heap, after.heap), per(idle.rss, after.rss))

	for _, tok := range toks {
		h.tr.Close(tok)
	}
	waitFor(t, "consumers cancelled", 10*time.Minute, func() bool { return h.metric("ssegw_rabbitmq_consumers") == "0" })
	h.stop()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
