package rabbitmq_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/rabbitmq"
)

// TestReplayWithinTTL: what is published while no stream consumes a
// request_id's queue is delivered, in order, to the next stream that opens
// with it within the TTL (the Node service's only replay).
func TestReplayWithinTTL(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	rid := uniq(t)
	key := "connection." + rid
	first := h.open(rid, key)
	p.event(h.tr.Exchange(), key, "", "m1")
	h.waitFrames(first, 1)
	h.tr.Close(first)
	waitFor(t, "consumer cancelled", waitLong, func() bool { return h.metric("ssegw_rabbitmq_consumers") == "0" })

	for _, m := range []string{"m2", "m3", "m4"} {
		p.event(h.tr.Exchange(), key, "", m)
	}
	if ready, _ := queueCounts(t, "sse.conn."+rid); ready != "3" {
		t.Fatalf("queue holds %s messages while no one consumes, want 3", ready)
	}
	again := h.open(rid, key)
	got := h.waitFrames(again, 3)
	if want := []string{"data: m2\n\n", "data: m3\n\n", "data: m4\n\n"}; !slices.Equal(got, want) {
		t.Fatalf("replayed %q, want %q", got, want)
	}
	if ev := h.rec.events(again); ev[0] != "ready" {
		t.Fatalf("replay came before ready: %q", ev)
	}
	if got := h.rec.frames(first); len(got) != 1 {
		t.Fatalf("the closed stream got more: %q", got)
	}
}

// TestUnwrittenIsRequeued: a delivery the gateway could not write (the stream
// was going) is not lost: it is requeued, the stream's consumer cancelled,
// and a client returning with the same request_id gets it. (The Node service
// nacked such deliveries without requeue: lost.)
func TestUnwrittenIsRequeued(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	rid := uniq(t)
	gone := h.open(rid, "k")
	h.rec.setGone(gone) // answers done(false)
	p.event(h.tr.Exchange(), "k", "", "kept")
	waitFor(t, "requeued", waitLong, func() bool {
		return h.metric(`ssegw_rabbitmq_nacks_total{cause="not_written"}`) == "1"
	})
	waitFor(t, "the gone stream's consumer cancelled", waitLong, func() bool { return h.metric("ssegw_rabbitmq_consumers") == "0" })
	if ready, unacked := queueCounts(t, "sse.conn."+rid); ready != "1" || unacked != "0" {
		t.Fatalf("queue ready %s unacked %s, want the message back in the queue", ready, unacked)
	}
	h.tr.Close(gone)
	back := h.open(rid, "k")
	if got := h.waitFrames(back, 1); got[0] != "data: kept\n\n" {
		t.Fatalf("returning stream got %q", got)
	}
}

// TestClosedStreamInFlightRequeued: messages still on their way to a stream
// that the gateway closed are requeued, not acked and not dropped.
func TestClosedStreamInFlightRequeued(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	rid := uniq(t)
	tok := h.open(rid, "k")
	h.rec.setHold(tok) // deliveries reach the "loop" but are not written yet
	for i := range 5 {
		p.event(h.tr.Exchange(), "k", "", fmt.Sprint("m", i))
	}
	h.waitFrames(tok, 5)
	h.tr.Close(tok)
	h.rec.release(false) // the stream ended before they were written
	waitFor(t, "all five requeued", waitLong, func() bool {
		ready, unacked := queueCounts(t, "sse.conn."+rid)
		return ready == "5" && unacked == "0"
	})
	back := h.open(rid, "k")
	got := h.waitFrames(back, 5)
	if want := []string{"data: m0\n\n", "data: m1\n\n", "data: m2\n\n", "data: m3\n\n", "data: m4\n\n"}; !slices.Equal(got, want) {
		t.Fatalf("after requeue got %q, want %q (in order)", got, want)
	}
}

// TestCompetingConsumers: two streams with one request_id share its queue as
// competing consumers, as in Node: each message reaches exactly one of them,
// round-robin.
func TestCompetingConsumers(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	rid := uniq(t)
	a := h.open(rid, "k")
	b := h.open(rid, "k")
	const n = 20
	for i := range n {
		p.event(h.tr.Exchange(), "k", "", fmt.Sprint(i))
	}
	waitFor(t, "all delivered", waitLong, func() bool { return len(h.rec.frames(a))+len(h.rec.frames(b)) >= n })
	fa, fb := h.rec.frames(a), h.rec.frames(b)
	if len(fa) != n/2 || len(fb) != n/2 {
		t.Fatalf("split %d/%d, want %d/%d (round-robin)", len(fa), len(fb), n/2, n/2)
	}
	all := slices.Concat(fa, fb)
	slices.Sort(all)
	if len(slices.Compact(all)) != n {
		t.Fatalf("a message reached both streams: %q %q", fa, fb)
	}
}

// TestBadDeclarationFailsOnlyItsStream: a queue that exists with other
// arguments (PRECONDITION_FAILED), a name longer than AMQP allows (which would
// make the client library drop the whole connection) and an over-long binding
// key each fail their own stream, with the error, and nothing else: the other
// streams keep receiving, on the same connection.
func TestBadDeclarationFailsOnlyItsStream(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	var good []rabbitmq.Token
	for range 2 * rabbitmq.Lanes { // every lane gets some
		good = append(good, h.open(uniq(t), "all"))
	}
	// A queue the Node service (or an older config) declared with another TTL.
	mismatched := uniq(t)
	if _, err := p.ch.QueueDeclare("sse.conn."+mismatched, true, false, false, false, amqp.Table{"x-expires": int32(999)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		rid, key string
		want     error
		text     string
	}{
		{mismatched, "all", rabbitmq.ErrSetup, "PRECONDITION_FAILED"},
		{strings.Repeat("x", 250), "all", rabbitmq.ErrBadName, "queue name"},
		{uniq(t), strings.Repeat("k", 256), rabbitmq.ErrBadName, "binding key"},
		{"bad\xffutf8", "all", rabbitmq.ErrBadName, "UTF-8"},
	}
	for _, c := range cases {
		tok := h.openNoWait(c.rid, c.key)
		waitFor(t, "stream failed", waitLong, func() bool { return h.rec.count(tok, "failed") == 1 })
		if err := h.rec.err(tok); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Fatalf("rid %.20q: error %v, want %v mentioning %q", c.rid, err, c.want, c.text)
		}
		if ev := h.rec.events(tok); slices.Contains(ev, "ready") {
			t.Fatalf("failed stream was told ready: %q", ev)
		}
	}
	p.event(h.tr.Exchange(), "all", "", "still here")
	for _, tok := range good {
		if got := h.waitFrames(tok, 1); got[0] != "data: still here\n\n" {
			t.Fatalf("good stream got %q", got)
		}
		if n := h.rec.count(tok, "again"); n != 0 {
			t.Fatalf("a good stream was re-established (%d) by someone else's bad declaration", n)
		}
	}
	if h.metric("ssegw_rabbitmq_reconnects_total") != "0" || !h.tr.Connected() {
		t.Fatal("the connection was lost")
	}
	if h.metric("ssegw_rabbitmq_setup_failures_total") != fmt.Sprint(len(cases)) {
		t.Fatalf("setup failures %s, want %d", h.metric("ssegw_rabbitmq_setup_failures_total"), len(cases))
	}
	// A stream opened after the failures works too.
	late := h.open(uniq(t), "late")
	p.event(h.tr.Exchange(), "late", "", "late")
	h.waitFrames(late, 1)
}

// TestFailedConsumeReestablishesItsChannel: a consume the broker refuses (a
// foreign application holds an exclusive consumer on the queue) closes the
// AMQP channel it was tried on, with every other consumer on it. That stream
// fails; the others of its lane are re-established at once, told ready again,
// and keep receiving; the other lanes' streams notice nothing.
func TestFailedConsumeReestablishesItsChannel(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	var good []rabbitmq.Token
	for range 3 * rabbitmq.Lanes {
		good = append(good, h.open(uniq(t), "all"))
	}
	locked := uniq(t)
	q := "sse.conn." + locked
	if _, err := p.ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-expires": int32(60000)}); err != nil {
		t.Fatal(err)
	}
	foreign, err := p.c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := foreign.Consume(q, "foreign", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	tok := h.openNoWait(locked, "all")
	waitFor(t, "stream failed", waitLong, func() bool { return h.rec.count(tok, "failed") == 1 })
	if err := h.rec.err(tok); !errors.Is(err, rabbitmq.ErrSetup) || !strings.Contains(err.Error(), "ACCESS_REFUSED") {
		t.Fatalf("error %v, want ErrSetup with ACCESS_REFUSED", err)
	}
	waitFor(t, "victims re-established", waitLong, func() bool { return h.metric("ssegw_rabbitmq_consumers") == fmt.Sprint(len(good)) })
	again := 0
	for _, tok := range good {
		switch h.rec.count(tok, "again") {
		case 0:
		case 1:
			again++
		default:
			t.Fatalf("told ready again more than once: %q", h.rec.events(tok))
		}
	}
	if again != 3 { // the failed stream's lane-mates (streams go round-robin)
		t.Fatalf("%d streams re-established, want the 3 of one lane of %d", again, rabbitmq.Lanes)
	}
	p.event(h.tr.Exchange(), "all", "", "after")
	for _, tok := range good {
		if got := h.waitFrames(tok, 1); got[len(got)-1] != "data: after\n\n" {
			t.Fatalf("stream got %q", got)
		}
	}
	if h.metric("ssegw_rabbitmq_channel_resets_total") != "1" || h.metric("ssegw_rabbitmq_reconnects_total") != "0" {
		t.Fatalf("channel resets %s reconnects %s, want 1 and 0", h.metric("ssegw_rabbitmq_channel_resets_total"), h.metric("ssegw_rabbitmq_reconnects_total"))
	}
}

// TestBrokerCancelEndsStream: a stream whose queue is deleted under it (the
// broker cancels its consumer) ends with an error, as in Node; the others
// keep receiving.
func TestBrokerCancelEndsStream(t *testing.T) {
	h := start(t, nil)
	p := newPublisher(t)
	rid := uniq(t)
	victim := h.open(rid, "all")
	other := h.open(uniq(t), "all")
	if _, err := p.ch.QueueDelete("sse.conn."+rid, false, false, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stream failed", waitLong, func() bool { return h.rec.count(victim, "failed") == 1 })
	if err := h.rec.err(victim); !errors.Is(err, rabbitmq.ErrConsumerCancelled) {
		t.Fatalf("error %v, want ErrConsumerCancelled", err)
	}
	p.event(h.tr.Exchange(), "all", "", "x")
	h.waitFrames(other, 1)
	if h.metric("ssegw_rabbitmq_consumers") != "1" {
		t.Fatalf("consumers %s, want 1", h.metric("ssegw_rabbitmq_consumers"))
	}
}
