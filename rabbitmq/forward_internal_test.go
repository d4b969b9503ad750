package rabbitmq

import (
	"runtime"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestScaleForwarderStackStaysSmall (a TestScale name so that `make test`
// runs it again without -race, which makes frames larger): a stream's forwarder goroutine keeps Go's
// 2 KiB starting stack while it waits, while it delivers and while the
// dispatcher's queue is full (it used to grow to 4 KiB at start: a received
// amqp.Delivery in its frame plus the select). One forwarder per stream, so
// this is per-stream memory.
func TestScaleForwarderStackStaysSmall(t *testing.T) {
	if raceEnabled {
		t.Skip("frames are larger under -race; `make test`'s scale pass runs this without it")
	}
	const n = 2000
	tr, err := New(Options{URL: "amqp://127.0.0.1:1/", QueueTTL: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l := newLane(tr, nil, 0)
	stacks := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.StackInuse
	}
	// The queue is full from the start, so every forwarder blocks in its
	// send once it has a delivery.
	for len(tr.dispatchQ) < cap(tr.dispatchQ) {
		tr.dispatchQ <- delivery{}
	}
	before := stacks()
	ins := make([]chan amqp.Delivery, n)
	for i := range ins {
		ins[i] = make(chan amqp.Delivery)
		go tr.forward(&consumer{l: l}, ins[i])
	}
	check := func(when string) {
		t.Helper()
		if per := (stacks() - before) / n; per > 3<<10 {
			t.Fatalf("%s: %d B of stack per forwarder, want Go's 2 KiB", when, per)
		}
	}
	check("waiting")
	for i := range ins {
		ins[i] <- amqp.Delivery{DeliveryTag: uint64(i), Body: []byte("x"), Headers: amqp.Table{"h": "v"}}
	}
	check("blocked on a full dispatcher queue")
	close(tr.quit) // they give up their sends and end
}
