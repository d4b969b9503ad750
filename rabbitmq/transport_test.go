package rabbitmq_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"ssegw/metricsdoc"
	"ssegw/rabbitmq"
	"ssegw/sse"
)

// TestDeclaresLikeNode: the exchange, the queue and its bindings carry the
// Node service's names and arguments, as the broker itself lists them, and
// the consumer uses manual acks and has prefetch 10 (not exclusive: see
// TestCompetingConsumers).
func TestDeclaresLikeNode(t *testing.T) {
	h := start(t, func(o *rabbitmq.Options) { o.QueueTTL = 123456 })
	rid := uniq(t)
	h.open(rid, "connection."+rid, "subject.alice", "broadcast")
	queue := "sse.conn." + rid
	exchange := h.prefix + ".sse.events"
	if h.tr.Exchange() != exchange {
		t.Fatalf("Exchange() = %q, want %q", h.tr.Exchange(), exchange)
	}

	found := false
	for _, r := range ctlRows(t, "list_exchanges", "name", "type", "durable", "auto_delete") {
		if r[0] == exchange {
			found = true
			if r[1] != "topic" || r[2] != "true" || r[3] != "false" {
				t.Fatalf("exchange %v, want topic, durable, not auto-delete", r)
			}
		}
	}
	if !found {
		t.Fatalf("exchange %s not declared", exchange)
	}

	found = false
	for _, r := range ctlRows(t, "list_queues", "name", "durable", "auto_delete", "exclusive", "arguments") {
		if r[0] == queue {
			found = true
			if r[1] != "true" || r[2] != "false" || r[3] != "false" || r[4] != `[{"x-expires",123456}]` {
				t.Fatalf("queue %v, want durable, not auto-delete, not exclusive, x-expires 123456", r)
			}
		}
	}
	if !found {
		t.Fatalf("queue %s not declared", queue)
	}

	var keys []string
	for _, r := range ctlRows(t, "list_bindings", "source_name", "destination_name", "destination_kind", "routing_key") {
		if r[0] == exchange && r[1] == queue && r[2] == "queue" {
			keys = append(keys, r[3])
		}
	}
	slices.Sort(keys)
	if want := []string{"broadcast", "connection." + rid, "subject.alice"}; !slices.Equal(keys, want) {
		t.Fatalf("bindings %v, want %v", keys, want)
	}

	found = false
	for _, r := range ctlRows(t, "list_consumers", "queue_name", "ack_required", "prefetch_count", "active") {
		if r[0] == queue {
			found = true
			if r[1] != "true" || r[2] != "10" || r[3] != "true" {
				t.Fatalf("consumer %v, want manual acks, prefetch 10, active", r)
			}
		}
	}
	if !found {
		t.Fatalf("no consumer on %s", queue)
	}
}

// TestExchangeNamesAndAutoDelete: no prefix gives sse.events; auto-delete
// declares it auto-delete and not durable.
func TestExchangeNamesAndAutoDelete(t *testing.T) {
	if got := rabbitmq.ExchangeName(""); got != "sse.events" {
		t.Fatalf("ExchangeName(\"\") = %q", got)
	}
	if got := rabbitmq.QueueName("abc-1"); got != "sse.conn.abc-1" {
		t.Fatalf("QueueName = %q", got)
	}
	h := start(t, func(o *rabbitmq.Options) { o.AutoDelete = true })
	tok := h.open(uniq(t), "k")
	found := false
	for _, r := range ctlRows(t, "list_exchanges", "name", "durable", "auto_delete") {
		if r[0] == h.tr.Exchange() {
			found = true
			if r[1] != "false" || r[2] != "true" {
				t.Fatalf("auto-delete exchange %v, want not durable, auto-delete", r)
			}
		}
	}
	if !found {
		t.Fatal("exchange not declared")
	}
	// The stream still receives through it.
	p := newPublisher(t)
	p.event(h.tr.Exchange(), "k", "", "through an auto-delete exchange")
	if got := h.waitFrames(tok, 1); got[0] != "data: through an auto-delete exchange\n\n" {
		t.Fatalf("frame %q", got[0])
	}
}

// TestPublishReachesStream: a publish with a bound routing key reaches the
// stream as a send would write it (named and unnamed events, both formats),
// in order, and is acked; another stream's key does not reach it.
func TestPublishReachesStream(t *testing.T) {
	for _, format := range []sse.Format{sse.Standard, sse.Envelope} {
		h := start(t, func(o *rabbitmq.Options) { o.Format = format })
		ridA, ridB := uniq(t), uniq(t)
		a := h.open(ridA, "connection."+ridA, "broadcast")
		b := h.open(ridB, "connection."+ridB, "broadcast")
		p := newPublisher(t)
		ex := h.tr.Exchange()
		p.event(ex, "connection."+ridA, "ping", `"pong"`)
		p.event(ex, "connection."+ridA, "", "line1\nline2")
		p.event(ex, "broadcast", "news", `{"n":1}`)
		got := h.waitFrames(a, 3)
		var want []string
		if format == sse.Standard {
			want = []string{"event: ping\ndata: \"pong\"\n\n", "data: line1\ndata: line2\n\n", "event: news\ndata: {\"n\":1}\n\n"}
		} else {
			want = []string{`data: {"type":"ping","payload":"pong"}` + "\n\n", "data: line1\ndata: line2\n\n", `data: {"type":"news","payload":{"n":1}}` + "\n\n"}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("format %v: stream A got %q, want %q", format, got, want)
		}
		if got := h.waitFrames(b, 1); len(got) != 1 || got[0] != want[2] {
			t.Fatalf("format %v: stream B got %q, want only the broadcast", format, got)
		}
		if ev := h.rec.events(a); ev[0] != "ready" {
			t.Fatalf("ready does not come first: %q", ev)
		}
		waitFor(t, "messages acked", waitLong, func() bool {
			ready, unacked := queueCounts(t, "sse.conn."+ridA)
			return ready == "0" && unacked == "0"
		})
		if h.metric("ssegw_rabbitmq_acks_total") != "4" || h.metric("ssegw_rabbitmq_deliveries_total") != "4" {
			t.Fatalf("acks %s deliveries %s, want 4 and 4", h.metric("ssegw_rabbitmq_acks_total"), h.metric("ssegw_rabbitmq_deliveries_total"))
		}
		h.stop()
	}
}

// TestMalformedDropped: bodies that are not {"event","data"} are nacked
// without requeue, counted, and never reach the stream; the next good one
// does.
func TestMalformedDropped(t *testing.T) {
	h := start(t, nil)
	rid := uniq(t)
	tok := h.open(rid, "k")
	p := newPublisher(t)
	ex := h.tr.Exchange()
	bad := []string{`not json`, `null`, `[1]`, `{"event":"x"}`, `{"data":5}`, `{"event":null,"data":"x"}`, `{"event":"a\nb","data":"x"}`}
	for _, body := range bad {
		p.publish(ex, "k", body)
	}
	p.event(ex, "k", "", "good")
	if got := h.waitFrames(tok, 1); !slices.Equal(got, []string{"data: good\n\n"}) {
		t.Fatalf("frames %q, want only the good one", got)
	}
	waitFor(t, "malformed counted", waitLong, func() bool {
		return h.metric(`ssegw_rabbitmq_nacks_total{cause="malformed"}`) == "7"
	})
	waitFor(t, "queue empty (dropped, not requeued)", waitLong, func() bool {
		ready, unacked := queueCounts(t, "sse.conn."+rid)
		return ready == "0" && unacked == "0"
	})
}

// TestErrorsAreNamed: the errors the gateway tells apart.
func TestErrorsAreNamed(t *testing.T) {
	for _, e := range []error{rabbitmq.ErrUnavailable, rabbitmq.ErrStopped, rabbitmq.ErrBadName, rabbitmq.ErrSetup, rabbitmq.ErrBrokerLost, rabbitmq.ErrConsumerCancelled} {
		if !strings.HasPrefix(e.Error(), "rabbitmq: ") || errors.Unwrap(e) != nil {
			t.Fatalf("error %q", e)
		}
	}
}

// TestMetricsDescribed: every family the transport writes has its help text
// and type (metricsdoc), as the control port's /metrics shows them.
func TestMetricsDescribed(t *testing.T) {
	h := start(t, nil)
	h.open(uniq(t), "k")
	var page bytes.Buffer
	if err := metricsdoc.Expose(&page, h.tr.WriteMetrics); err != nil {
		t.Fatal(err)
	}
	if p := metricsdoc.Check(page.Bytes()); len(p) > 0 {
		t.Fatalf("families without metadata:\n%s", strings.Join(p, "\n"))
	}
	if !strings.Contains(page.String(), "# TYPE ssegw_rabbitmq_consumers gauge") {
		t.Fatalf("page:\n%s", page.String())
	}
}
