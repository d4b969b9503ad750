package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"ssegw/rabbitmq"
	"ssegw/sse"
)

// TestBrokerRestartUnder100Streams: the broker goes away under 100 live
// streams and comes back. While it is away /readyz's reason is given and new
// streams are refused with ErrUnavailable; when it is back every stream's
// queue is re-declared, re-bound and re-consumed, each stream is told ready
// again exactly once, and each receives what is published next (and what was
// published for it while the gateway was away: the queues are durable).
func TestBrokerRestartUnder100Streams(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	const n = 100
	toks := make([]rabbitmq.Token, n)
	rids := make([]string, n)
	for i := range toks {
		rids[i] = uniq(t)
		toks[i] = h.open(rids[i], "connection."+rids[i], "broadcast")
	}
	p.event(h.tr.Exchange(), "broadcast", "", "before")
	for _, tok := range toks {
		h.waitFrames(tok, 1)
	}

	if err := broker.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = broker.Restart() // for the tests after this one
		}
	}()
	waitFor(t, "disconnected", waitLong, func() bool { return !h.tr.Connected() })
	if r := h.tr.ReadyReasons(); !slices.Equal(r, []string{"RabbitMQ not connected"}) {
		t.Fatalf("ReadyReasons while down = %q", r)
	}
	if err := h.tr.Open(newToken(), uniq(t), []string{"k"}); !errors.Is(err, rabbitmq.ErrUnavailable) {
		t.Fatalf("Open while down = %v, want ErrUnavailable", err)
	}
	if h.metric("ssegw_rabbitmq_connected") != "0" {
		t.Fatal("connected gauge still 1")
	}

	if err := broker.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFor(t, "reconnected", waitBroker, h.tr.Connected)
	waitFor(t, "every stream ready again", waitLong, func() bool {
		for _, tok := range toks {
			if h.rec.count(tok, "again") < 1 {
				return false
			}
		}
		return true
	})
	if r := h.tr.ReadyReasons(); r != nil {
		t.Fatalf("ReadyReasons after reconnect = %q", r)
	}
	p = newPublisher(t) // the old connection went with the broker
	p.event(h.tr.Exchange(), "broadcast", "", "after")
	p.event(h.tr.Exchange(), "connection."+rids[7], "", "just one")
	for i, tok := range toks {
		want := []string{"ready", "data: before\n\n", "again", "data: after\n\n"}
		if i == 7 {
			want = append(want, "data: just one\n\n")
		}
		waitFor(t, "after the restart", waitLong, func() bool { return len(h.rec.events(tok)) >= len(want) })
		if got := h.rec.events(tok); !slices.Equal(got, want) {
			t.Fatalf("stream %d was told %q, want %q", i, got, want)
		}
	}
	if h.metric("ssegw_rabbitmq_reconnects_total") != "1" || h.metric("ssegw_rabbitmq_setup_failures_total") != "0" {
		t.Fatalf("reconnects %s setup failures %s, want 1 and 0", h.metric("ssegw_rabbitmq_reconnects_total"), h.metric("ssegw_rabbitmq_setup_failures_total"))
	}
	// A new stream works again.
	late := h.open(uniq(t), "broadcast")
	p.event(h.tr.Exchange(), "broadcast", "", "late")
	h.waitFrames(late, 1)
	if h.rec.orphans() != 0 {
		t.Fatalf("%d calls for tokens never opened", h.rec.orphans())
	}
}

// TestStopAcksNothingUnwritten: Stop cancels the consumers, waits (within its
// context) for the deliveries already handed to the gateway, acks those that
// were written and leaves the rest to be requeued; goroutines return to what
// they were.
func TestStopAcksNothingUnwritten(t *testing.T) {
	p := newPublisher(t)
	baseline := steadyGoroutines(t)
	h := start(t, nil)
	ridW, ridH := uniq(t), uniq(t)
	w := h.open(ridW, "w")
	held := h.open(ridH, "h")
	h.rec.setHold(held)
	for i := range 3 {
		p.event(h.tr.Exchange(), "w", "", fmt.Sprint("w", i))
		p.event(h.tr.Exchange(), "h", "", fmt.Sprint("h", i))
	}
	h.waitFrames(w, 3)
	h.waitFrames(held, 3) // handed over, never written
	waitFor(t, "written ones acked", waitLong, func() bool {
		ready, unacked := queueCounts(t, "sse.conn."+ridW)
		return ready == "0" && unacked == "0"
	})

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := h.tr.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with unsettled deliveries = %v, want the context's deadline", err)
	}
	waitFor(t, "the unwritten ones requeued", waitLong, func() bool {
		ready, unacked := queueCounts(t, "sse.conn."+ridH)
		return ready == "3" && unacked == "0"
	})
	h.rec.release(true) // too late: the connection is gone, nothing is acked
	if err := h.tr.Open(newToken(), uniq(t), []string{"k"}); !errors.Is(err, rabbitmq.ErrStopped) {
		t.Fatalf("Open after Stop = %v, want ErrStopped", err)
	}
	if !slices.Equal(h.tr.ReadyReasons(), []string{"RabbitMQ not connected"}) {
		t.Fatalf("ReadyReasons after Stop = %q", h.tr.ReadyReasons())
	}
	goroutines(t, baseline)
	if ready, _ := queueCounts(t, "sse.conn."+ridH); ready != "3" {
		t.Fatalf("after a late done the queue holds %s, want 3", ready)
	}
}

// TestStopWaitsForWrites: deliveries written while Stop waits are acked
// before the connection closes.
func TestStopWaitsForWrites(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	rid := uniq(t)
	tok := h.open(rid, "k")
	h.rec.setHold(tok)
	p.event(h.tr.Exchange(), "k", "", "a")
	p.event(h.tr.Exchange(), "k", "", "b")
	h.waitFrames(tok, 2)
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		stopped <- h.tr.Stop(ctx)
	}()
	waitFor(t, "consumers cancelled by Stop", waitLong, func() bool { return h.metric("ssegw_rabbitmq_consumers") == "0" })
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before the handed-over deliveries were settled", err)
	default:
	}
	h.rec.release(true)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if ready, unacked := queueCounts(t, "sse.conn."+rid); ready != "0" || unacked != "0" {
		t.Fatalf("queue ready %s unacked %s, want both written messages acked", ready, unacked)
	}
}

// TestGoroutinesPerConsumer: what a consumer costs in goroutines is what
// amqp091-go runs per consumer plus the forwarder that receives from it: two,
// and they end with the consumer.
func TestGoroutinesPerConsumer(t *testing.T) {
	baseline := steadyGoroutines(t)
	h := start(t, nil)
	const n = 100
	toks := make([]rabbitmq.Token, n)
	for i := range toks {
		toks[i] = h.open(uniq(t), "k")
	}
	busy := steadyGoroutines(t)
	for _, tok := range toks {
		h.tr.Close(tok)
	}
	waitFor(t, "consumers cancelled", waitLong, func() bool { return h.metric("ssegw_rabbitmq_consumers") == "0" })
	if idle := steadyGoroutines(t); busy-idle != 2*n {
		t.Fatalf("%d consumers cost %d goroutines, want %d", n, busy-idle, 2*n)
	}
	h.stop()
	goroutines(t, baseline)
}

// TestBrokerDownAtStart: with no broker the transport says so and refuses
// streams, without blocking the caller; Stop ends it promptly.
func TestBrokerDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	baseline := steadyGoroutines(t)
	tr, err := rabbitmq.New(rabbitmq.Options{URL: "amqp://guest:guest@" + addr + "/", QueueTTL: 1000, Format: sse.Standard, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Open(newToken(), "x", []string{"k"}); !errors.Is(err, rabbitmq.ErrUnavailable) {
		t.Fatalf("Open before Start = %v", err)
	}
	tr.Start(newRecorder())
	if !slices.Equal(tr.ReadyReasons(), []string{"RabbitMQ not connected"}) || tr.Connected() {
		t.Fatalf("ReadyReasons = %q", tr.ReadyReasons())
	}
	if err := tr.Open(newToken(), "x", []string{"k"}); !errors.Is(err, rabbitmq.ErrUnavailable) {
		t.Fatalf("Open with the broker down = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	goroutines(t, baseline)
}

// TestNewChecksOptions: the options New refuses.
func TestNewChecksOptions(t *testing.T) {
	for _, o := range []rabbitmq.Options{
		{QueueTTL: 1},
		{URL: "http://x", QueueTTL: 1},
		{URL: "amqp://x", QueueTTL: 0},
		{URL: "amqp://x", QueueTTL: 1 << 32},
		{URL: "amqp://x", QueueTTL: 1, EnvPrefix: string(make([]byte, 250))},
	} {
		if _, err := rabbitmq.New(o); err == nil {
			t.Fatalf("New(%+v) accepted", o)
		}
	}
}

// TestExchangeMismatchKeepsDisconnected: an exchange that exists with other
// flags fails every connection attempt; the transport says it is not
// connected and keeps retrying.
func TestExchangeMismatchKeepsDisconnected(t *testing.T) {
	p := newPublisher(t)
	prefix := uniq(t)
	if err := p.ch.ExchangeDeclare(prefix+".sse.events", "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	tr, err := rabbitmq.New(rabbitmq.Options{URL: broker.URL, QueueTTL: 1000, EnvPrefix: prefix, Format: sse.Standard, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start(newRecorder())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Stop(ctx)
	}()
	h := &harness{t: t, tr: tr}
	waitFor(t, "two failed attempts", waitLong, func() bool { return atoiMetric(h, "ssegw_rabbitmq_connect_failures_total") >= 2 })
	if tr.Connected() || !slices.Equal(tr.ReadyReasons(), []string{"RabbitMQ not connected"}) {
		t.Fatal("connected to a mismatched exchange")
	}
	if err := tr.Open(newToken(), "x", []string{"k"}); !errors.Is(err, rabbitmq.ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
}

func atoiMetric(h *harness, name string) int {
	var n int
	fmt.Sscan(h.metric(name), &n)
	return n
}
