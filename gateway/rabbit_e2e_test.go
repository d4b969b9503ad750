package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/internal/rabbitbroker"
	"ssegw/rabbitmq"
)

// The RabbitMQ mode end to end (CONTRACT.md section 10): a real gateway, a
// real callback backend and a real broker (Debian's rabbitmq-server, one per
// test process, started by the first test that needs it: about 7 s).

var (
	rabbitOnce sync.Once
	rabbit     *rabbitbroker.Broker
	rabbitErr  error
)

func startRabbit(t *testing.T) *rabbitbroker.Broker {
	t.Helper()
	rabbitOnce.Do(func() { rabbit, rabbitErr = rabbitbroker.Start() })
	if rabbitErr != nil {
		t.Fatalf("the RabbitMQ tests need a real broker: %v", rabbitErr)
	}
	return rabbit
}

// closeRabbit stops the broker at the end of the test process (TestMain).
func closeRabbit() {
	if rabbit != nil {
		rabbit.Close()
	}
}

// rabbitBackend answers connects with the request_id and bindings in the
// stream URL's query: ?rid=<id>&keys=a,b (and ch=<channel> bindings too:
// the same bindings feed /internal/publish).
func rabbitBackend(t *testing.T) *backend {
	b := startBackend(t)
	b.onConnect(func(rec callbackRec) reply {
		u, _ := url.Parse(rec.Request.URL)
		body := map[string]any{}
		if rid := u.Query().Get("rid"); rid != "" {
			body["request_id"] = rid
		}
		if keys := u.Query().Get("keys"); keys != "" {
			body["bindings"] = strings.Split(keys, ",")
		}
		raw, _ := json.Marshal(body)
		return reply{statusLine: "200 OK", body: string(raw)}
	})
	return b
}

func rabbitGateway(t *testing.T, b *backend, env map[string]string) *gw {
	t.Helper()
	br := startRabbit(t)
	prefix := fmt.Sprintf("t%d", time.Now().UnixNano())
	e := map[string]string{"CALLBACK_URL": b.url(), "RABBITMQ_URL": br.URL, "RABBITMQ_ENV_PREFIX": prefix,
		"RABBITMQ_QUEUE_TTL_MS": "60000"}
	for k, v := range env {
		e[k] = v
	}
	g := startGateway(t, e)
	waitFor(t, "the broker connected", 30*time.Second, func() bool { return g.Rabbit.Connected() })
	return g
}

// amqpPublisher publishes to the gateway's exchange with confirms.
type amqpPublisher struct {
	t  *testing.T
	c  *amqp.Connection
	ch *amqp.Channel
	ex string
}

func newAMQPPublisher(t *testing.T, g *gw) *amqpPublisher {
	t.Helper()
	c, err := amqp.Dial(startRabbit(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	return &amqpPublisher{t: t, c: c, ch: ch, ex: g.Rabbit.Exchange()}
}

func (p *amqpPublisher) publish(key, body string) {
	p.t.Helper()
	dc, err := p.ch.PublishWithDeferredConfirm(p.ex, key, false, false, amqp.Publishing{Body: []byte(body)})
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		p.t.Fatalf("publish to %s not confirmed: %v %v", key, ok, err)
	}
}

func (p *amqpPublisher) event(key, name, data string) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]string{"event": name, "data": data})
	p.publish(key, string(body))
}

// openQueued opens a stream with a queue and waits for its ready.
func openQueued(t *testing.T, g *gw, b *backend, n int, rid string, keys ...string) (*client, string) {
	t.Helper()
	return openStream(t, g, b, n, "/amqp?rid="+rid+"&keys="+strings.Join(keys, ","))
}

// TestRabbitMQStreams: a stream accepted with a request_id and bindings gets
// the queue sse.conn.<request_id> (durable, x-expires = the TTL, bound to
// each key) and `ready` once it consumes; messages published to the exchange
// with its routing keys arrive as sends would (named, unnamed); malformed
// bodies are dropped; the same bindings still feed /internal/publish; a
// stream without a request_id gets no queue; and when the stream ends its
// consumer goes, the queue stays, and what is published meanwhile reaches
// the client that comes back with the same request_id.
func TestRabbitMQStreams(t *testing.T) {
	b := rabbitBackend(t)
	g := rabbitGateway(t, b, nil)
	br := startRabbit(t)
	p := newAMQPPublisher(t, g)
	rid := fmt.Sprintf("r%d", time.Now().UnixNano())
	c, tok := openQueued(t, g, b, 1, rid, "connection."+rid, "broadcast")
	out, err := br.Ctl("list_queues", "name", "durable", "auto_delete", "arguments", "consumers")
	if err != nil || !strings.Contains(out, "sse.conn."+rid+"\ttrue\tfalse\t[{\"x-expires\",60000}]\t1") {
		t.Fatalf("queue not as Node declares it: %v\n%s", err, out)
	}
	p.event("connection."+rid, "ping", `"pong"`)
	p.event("connection."+rid, "", "line1\nline2")
	p.publish("connection."+rid, `{"event":"x","data":7}`) // malformed: data is not a string
	p.publish("connection."+rid, `not json`)
	p.event("broadcast", "news", "n1")
	for _, want := range []string{"event: ping\ndata: \"pong\"\n\n", "data: line1\ndata: line2\n\n", "event: news\ndata: n1\n\n"} {
		if got := c.event(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	// Bindings are channels too.
	if code, resp := g.control("/internal/publish", `{"channel":"broadcast","event":{"data":"via control"}}`); code != 200 ||
		resp != `{"status":"ok","connections":1}` {
		t.Fatalf("publish: %d %s", code, resp)
	}
	if got := c.event(); got != "data: via control\n\n" {
		t.Fatalf("control publish: %q", got)
	}
	// A stream without a request_id has no queue.
	plain, _ := openStream(t, g, b, 2, "/amqp?keys=broadcast")
	_ = plain
	if n := strings.Count(mustCtl(t, br, "list_consumers", "queue_name"), "sse.conn."); n != 1 {
		t.Fatalf("%d consumers, want 1 (the stream without request_id has none)", n)
	}
	// The stream ends; what is published while it is away waits in its queue.
	c.conn.Close()
	waitFor(t, "the disconnect", 5*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	waitFor(t, "the consumer cancelled", 10*time.Second, func() bool {
		return !strings.Contains(mustCtl(t, br, "list_consumers", "queue_name"), "sse.conn."+rid)
	})
	p.event("connection."+rid, "missed", "while away")
	c2, _ := openQueued(t, g, b, 3, rid, "connection."+rid, "broadcast")
	if got := c2.event(); got != "event: missed\ndata: while away\n\n" {
		t.Fatalf("after coming back: %q", got)
	}
}

func mustCtl(t *testing.T, br *rabbitbroker.Broker, args ...string) string {
	t.Helper()
	out, err := br.Ctl(args...)
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
	return out
}

// TestRabbitMQSetupFailureEndsStream: a queue the broker refuses (it exists
// with other arguments) ends the stream after the 200 without `ready`, with
// disconnect reason error; other streams are untouched.
func TestRabbitMQSetupFailureEndsStream(t *testing.T) {
	b := rabbitBackend(t)
	g := rabbitGateway(t, b, nil)
	rid := fmt.Sprintf("bad%d", time.Now().UnixNano())
	ch := newAMQPPublisher(t, g).ch
	if _, err := ch.QueueDeclare("sse.conn."+rid, true, false, false, false, amqp.Table{"x-expires": int32(1234567)}); err != nil {
		t.Fatal(err)
	}
	good, _ := openQueued(t, g, b, 1, "good"+rid, "k")
	c := dial(t, g.PublicAddr())
	c.get("/amqp?rid=" + rid + "&keys=k")
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	if got := c.chunk(); got != "" {
		t.Fatalf("got %q, want the end of the stream (no ready)", got)
	}
	tok := b.nthConnect(t, 2).Token
	waitFor(t, "the disconnect", 5*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	if d := b.byToken(tok)[1]; d.Reason != "error" {
		t.Fatalf("disconnect reason %q, want error", d.Reason)
	}
	newAMQPPublisher(t, g).event("k", "still", "here")
	if got := good.event(); got != "event: still\ndata: here\n\n" {
		t.Fatalf("the other stream got %q", got)
	}
}

// TestRabbitMQBrokerOutage: with the broker stopped, /readyz says "RabbitMQ
// not connected", a new stream that needs a queue is answered as a connect
// failure (a retry hint by default; 503 RABBITMQ_UNAVAILABLE with
// CONNECT_FAILURE=status) and its accepted connect gets its disconnect,
// while a stream without a queue still opens; the 100 live streams stay open
// and, once the broker is back, each gets `ready` again and then receives.
func TestRabbitMQBrokerOutage(t *testing.T) {
	n := 100
	if raceEnabled {
		n = 40
	}
	b := rabbitBackend(t)
	g := rabbitGateway(t, b, map[string]string{"HEARTBEAT_INTERVAL_SECONDS": "60"})
	gs := rabbitGateway(t, b, map[string]string{"CONNECT_FAILURE": "status", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	run := fmt.Sprintf("o%d", time.Now().UnixNano())
	clients := make([]*client, n)
	for i := range clients {
		clients[i], _ = openQueued(t, g, b, i+1, fmt.Sprintf("%s-%d", run, i), "all."+run)
	}
	br := startRabbit(t)
	if err := br.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readyz 503", 30*time.Second, func() bool {
		code, body := controlGet(g.ControlAddr() + "/readyz")
		return code == 503 && strings.Contains(body, "RabbitMQ not connected")
	})
	waitFor(t, "the other gateway disconnected too", 30*time.Second, func() bool { return !gs.Rabbit.Connected() })
	c := dial(t, g.PublicAddr())
	c.get("/amqp?rid=" + run + "-new&keys=x")
	if hint := readRetryAnswer(t, c); hint < 1000 {
		t.Fatalf("retry hint %d", hint)
	}
	cs := dial(t, gs.PublicAddr())
	cs.get("/amqp?rid=" + run + "-new2&keys=x")
	if h := cs.head(); !strings.HasPrefix(h, "HTTP/1.1 503 ") ||
		cs.body(h) != `{"error":{"message":"RabbitMQ unavailable","code":"RABBITMQ_UNAVAILABLE"}}` {
		t.Fatalf("status mode: %q", h)
	}
	waitFor(t, "disconnects for the two accepted-then-failed connects", 5*time.Second, func() bool {
		k := 0
		for _, r := range b.snapshot() {
			if r.Action == "disconnect" && r.Reason == "error" {
				k++
			}
		}
		return k == 2
	})
	openStream(t, g, b, n+3, "/plain") // no queue needed: streams as always
	if err := br.Restart(); err != nil {
		t.Fatal(err)
	}
	// The reconnect waits out the backoff it reached during the outage (up to
	// 30 s); the streams' ready follows once it is connected.
	waitFor(t, "the gateway connected to the broker again", 60*time.Second, func() bool { return g.Rabbit.Connected() })
	for i, c := range clients {
		if got := c.event(); got != "event: ready\ndata:\n\n" {
			t.Fatalf("stream %d after the broker came back: %q, want ready again", i, got)
		}
	}
	newAMQPPublisher(t, g).event("all."+run, "back", "again")
	for i, c := range clients {
		if got := c.event(); got != "event: back\ndata: again\n\n" {
			t.Fatalf("stream %d: %q", i, got)
		}
	}
}

// TestRabbitMQDrain: a drain while messages keep coming ends the stream
// cleanly; every message is either written to the client or back in the
// queue — none acked unwritten, none lost — and the consumer is gone.
func TestRabbitMQDrain(t *testing.T) {
	b := rabbitBackend(t)
	g := rabbitGateway(t, b, map[string]string{"SHUTDOWN_TIMEOUT_SECONDS": "4", "DRAIN_WINDOW_MS": "1500"})
	br := startRabbit(t)
	rid := fmt.Sprintf("d%d", time.Now().UnixNano())
	c, _ := openQueued(t, g, b, 1, rid, "drain."+rid)
	p := newAMQPPublisher(t, g)
	got := make(chan int, 1)
	go func() { // the client reads until the end of the stream
		n := 0
		for {
			c.deadline(10 * time.Second)
			ev, err := readChunk(c)
			if err != nil || ev == "" {
				got <- n
				return
			}
			if strings.HasPrefix(ev, "event: m\n") {
				n++
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		done <- g.Shutdown(ctx)
	}()
	const sent = 40
	for i := 0; i < sent; i++ {
		p.event("drain."+rid, "m", fmt.Sprint(i))
		time.Sleep(25 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	written := <-got
	out := mustCtl(t, br, "list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers")
	want := fmt.Sprintf("sse.conn.%s\t%d\t0\t0", rid, sent-written)
	if !strings.Contains(out, want) {
		t.Fatalf("%d of %d written to the client; queue:\n%s\nwant the line %q", written, sent, out, want)
	}
	t.Logf("drain: %d of %d messages written, %d back in the queue", written, sent, sent-written)
}

// readChunk is client.chunk without failing the test (for a reader goroutine).
func readChunk(c *client) (string, error) {
	var n int
	if _, err := fmt.Fscanf(c.r, "%x\r\n", &n); err != nil {
		return "", err
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// TestRabbitMQEnvelopeAndCompeting: with EVENT_FORMAT=envelope a queue
// message is written in the Node service's envelope; two streams opened with
// one request_id share its queue as competing consumers (round-robin, as in
// Node): every message reaches exactly one of them.
func TestRabbitMQEnvelopeAndCompeting(t *testing.T) {
	b := rabbitBackend(t)
	g := rabbitGateway(t, b, map[string]string{"EVENT_FORMAT": "envelope"})
	rid := fmt.Sprintf("c%d", time.Now().UnixNano())
	t0 := time.Now()
	c1, _ := openQueued(t, g, b, 1, rid, "k."+rid)
	c2, _ := openQueued(t, g, b, 2, rid, "k."+rid)
	p := newAMQPPublisher(t, g)
	const n = 10
	for i := 0; i < n; i++ {
		p.event("k."+rid, "tick", fmt.Sprint(i))
	}
	type got struct {
		k  int
		ev string
	}
	evs := make(chan got, 2*n)
	for k, c := range []*client{c1, c2} {
		go func() {
			for {
				c.deadline(15 * time.Second)
				ev, err := readChunk(c)
				if err != nil {
					return
				}
				if ev != ": heartbeat\n\n" {
					evs <- got{k, ev}
				}
			}
		}()
	}
	seen := map[string]int{}
	per := [2]int{}
	for i := 0; i < n; i++ {
		var e got
		select {
		case e = <-evs:
		case <-time.After(15 * time.Second):
			t.Fatalf("only %d of %d messages arrived: %v", i, n, seen)
		}
		if !strings.HasPrefix(e.ev, `data: {"type":"tick","payload":`) {
			t.Fatalf("not the envelope: %q", e.ev)
		}
		seen[e.ev]++
		per[e.k]++
	}
	t.Logf("opened, published and received in %v: %v", time.Since(t0), per)
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("not shared: %v", per)
	}
	for ev, k := range seen {
		if k != 1 {
			t.Fatalf("%q delivered %d times", ev, k)
		}
	}
}

// TestRabbitMQBinary: the RabbitMQ mode through the gateway binary, set up by
// the Node service's environment variables: /readyz waits for the broker; a
// stream whose connect answer carries a request_id and a routing key gets its
// queue and `ready`; a message published to the exchange with that key
// arrives as an event; SIGTERM drains the stream (retry hint, end, one
// server_closed disconnect), its consumer is cancelled and the process exits
// 0, and what is published afterwards waits in the queue.
func TestRabbitMQBinary(t *testing.T) {
	br := startRabbit(t)
	b := rabbitBackend(t)
	prefix := fmt.Sprintf("bin%d", time.Now().UnixNano())
	g := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "RABBITMQ_URL": br.URL, "RABBITMQ_ENV_PREFIX": prefix,
		"RABBITMQ_QUEUE_TTL_MS": "60000", "HEARTBEAT_INTERVAL_SECONDS": "60", "DRAIN_WINDOW_MS": "0"})
	waitFor(t, "readyz 200 once the broker is connected", 30*time.Second, func() bool {
		code, _ := controlGet(g.control + "/readyz")
		return code == 200
	})
	rid := prefix + "-stream"
	s := openRaw(g.public, "/amqp?rid="+rid+"&keys=bin.key", 15*time.Second)
	if !s.ready {
		t.Fatalf("stream: %v", s.err)
	}
	c, err := amqp.Dial(br.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	p := &amqpPublisher{t: t, c: c, ch: ch, ex: rabbitmq.ExchangeName(prefix)}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	p.event("bin.key", "news", "through the binary")
	_ = s.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	if m := s.next(); m != "event: news\ndata: through the binary\n\n" {
		t.Fatalf("event %q (%v)", m, s.err)
	}
	g.signal(syscall.SIGTERM)
	s.readUntilEnd(15 * time.Second)
	if !s.retry || !s.ended {
		t.Fatalf("drain: retry %v, end %v, err %v", s.retry, s.ended, s.err)
	}
	if code := g.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, g.logText())
	}
	waitFor(t, "the stream's disconnect", 10*time.Second, func() bool { return b.count("disconnect") == 1 })
	if r := b.snapshot(); r[len(r)-1].Reason != "server_closed" {
		t.Fatalf("disconnect %+v", r[len(r)-1])
	}
	p.event("bin.key", "later", "kept")
	q, err := ch.QueueDeclarePassive(rabbitmq.QueueName(rid), true, false, false, false, nil)
	if err != nil || q.Messages != 1 || q.Consumers != 0 {
		t.Fatalf("queue after the drain: %+v %v; want 1 message, no consumer", q, err)
	}
}
