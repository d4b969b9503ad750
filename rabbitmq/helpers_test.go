package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/internal/rabbitbroker"
	"ssegw/internal/testkit"
	"ssegw/loop"
	"ssegw/rabbitmq"
	"ssegw/sse"
)

// broker is the package's RabbitMQ, shared by its tests (one boot costs ~7 s).
var broker *rabbitbroker.Broker

func TestMain(m *testing.M) {
	b, err := rabbitbroker.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rabbitmq tests need a real broker:", err)
		os.Exit(1)
	}
	broker = b
	code := m.Run()
	b.Close()
	os.Exit(code)
}

// Test bounds.
const (
	waitLong   = 20 * time.Second // any condition a test waits on
	waitBroker = 90 * time.Second // a broker restart plus the reconnect backoff
)

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, d, cond)
}

// ---- a recording gateway ------------------------------------------------------

// recorder is a small real Gateway: it records what it is told per token, in
// order, and settles each delivery from another goroutine, as an event loop
// would, unless the token is marked gone (done(false)) or held (done kept for
// later).
type recorder struct {
	mu     sync.Mutex
	log    map[rabbitmq.Token][]string // "ready", "again", "failed", or the frame's SSE message
	errs   map[rabbitmq.Token]error
	gone   map[rabbitmq.Token]bool
	hold   map[rabbitmq.Token]bool
	held   []func(bool)
	orphan int // calls for tokens the test has not opened (must stay 0)
	known  map[rabbitmq.Token]bool
}

func newRecorder() *recorder {
	return &recorder{log: map[rabbitmq.Token][]string{}, errs: map[rabbitmq.Token]error{},
		gone: map[rabbitmq.Token]bool{}, hold: map[rabbitmq.Token]bool{}, known: map[rabbitmq.Token]bool{}}
}

func (r *recorder) note(tok rabbitmq.Token, what string) {
	if !r.known[tok] {
		r.orphan++
	}
	r.log[tok] = append(r.log[tok], what)
}

func (r *recorder) StreamReady(tok rabbitmq.Token, again bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if again {
		r.note(tok, "again")
	} else {
		r.note(tok, "ready")
	}
}

func (r *recorder) StreamFailed(tok rabbitmq.Token, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.note(tok, "failed")
	r.errs[tok] = err
}

func (r *recorder) Deliver(tok rabbitmq.Token, fr *loop.Frame, done func(bool)) {
	msg := string(fr.Message())
	fr.Release()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.gone[tok]:
		go done(false)
	case r.hold[tok]:
		r.note(tok, msg)
		r.held = append(r.held, done)
	default:
		r.note(tok, msg)
		go done(true)
	}
}

// events returns a copy of what a token was told.
func (r *recorder) events(tok rabbitmq.Token) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log[tok]...)
}

func (r *recorder) count(tok rabbitmq.Token, what string) int {
	n := 0
	for _, e := range r.events(tok) {
		if e == what {
			n++
		}
	}
	return n
}

// frames is what a token received, without the ready notes.
func (r *recorder) frames(tok rabbitmq.Token) []string {
	var out []string
	for _, e := range r.events(tok) {
		if e != "ready" && e != "again" && e != "failed" {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) err(tok rabbitmq.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs[tok]
}

func (r *recorder) setGone(tok rabbitmq.Token) {
	r.mu.Lock()
	r.gone[tok] = true
	r.mu.Unlock()
}

func (r *recorder) setHold(tok rabbitmq.Token) {
	r.mu.Lock()
	r.hold[tok] = true
	r.mu.Unlock()
}

// release settles every held delivery.
func (r *recorder) release(written bool) {
	r.mu.Lock()
	held := r.held
	r.held = nil
	r.mu.Unlock()
	for _, done := range held {
		done(written)
	}
}

func (r *recorder) orphans() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.orphan
}

// ---- a transport under test -------------------------------------------------------

type harness struct {
	t      *testing.T
	tr     *rabbitmq.Transport
	rec    *recorder
	prefix string
	opts   rabbitmq.Options
}

var nameChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// uniq is a name no other test (or test run) uses.
func uniq(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(nameChars.ReplaceAllString(t.Name(), "-")) + "-" + hex.EncodeToString(b[:])
}

// start runs a Transport against the broker with an exchange of the test's
// own, waits until it is connected, and stops it when the test ends.
func start(t *testing.T, edit func(*rabbitmq.Options)) *harness {
	t.Helper()
	h := &harness{t: t, rec: newRecorder(), prefix: uniq(t)}
	h.opts = rabbitmq.Options{URL: broker.URL, QueueTTL: 60000, EnvPrefix: h.prefix, Format: sse.Standard, Logger: testLogger()}
	if edit != nil {
		edit(&h.opts)
	}
	tr, err := rabbitmq.New(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.tr = tr
	tr.Start(h.rec)
	t.Cleanup(func() { h.stop() })
	waitFor(t, "transport connected", waitBroker, tr.Connected)
	return h
}

func (h *harness) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.tr.Stop(ctx); err != nil {
		h.t.Errorf("stop: %v", err)
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("SSEGW_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newToken() rabbitmq.Token {
	var t rabbitmq.Token
	_, _ = rand.Read(t[:])
	return t
}

// open opens a stream and waits until it is ready.
func (h *harness) open(rid string, keys ...string) rabbitmq.Token {
	h.t.Helper()
	tok := h.openNoWait(rid, keys...)
	h.waitReady(tok, 1)
	return tok
}

func (h *harness) openNoWait(rid string, keys ...string) rabbitmq.Token {
	h.t.Helper()
	tok := newToken()
	h.rec.mu.Lock()
	h.rec.known[tok] = true
	h.rec.mu.Unlock()
	if err := h.tr.Open(tok, rid, keys); err != nil {
		h.t.Fatalf("Open(%s): %v", rid, err)
	}
	return tok
}

// waitReady waits until tok was told ready n times in all (first and again).
func (h *harness) waitReady(tok rabbitmq.Token, n int) {
	h.t.Helper()
	waitFor(h.t, "stream ready", waitLong, func() bool {
		if h.rec.count(tok, "failed") > 0 {
			h.t.Fatalf("stream failed: %v", h.rec.err(tok))
		}
		return h.rec.count(tok, "ready")+h.rec.count(tok, "again") >= n
	})
}

// waitFrames waits until tok has received n frames and returns them.
func (h *harness) waitFrames(tok rabbitmq.Token, n int) []string {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%d frames", n), waitLong, func() bool { return len(h.rec.frames(tok)) >= n })
	return h.rec.frames(tok)
}

// metric returns one metric's value from WriteMetrics ("" if absent).
func (h *harness) metric(name string) string {
	var sb strings.Builder
	h.tr.WriteMetrics(&sb)
	for _, line := range strings.Split(sb.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// ---- the broker side ------------------------------------------------------------------

// publisher is a separate AMQP connection, as a backend's.
type publisher struct {
	t  testing.TB
	c  *amqp.Connection
	ch *amqp.Channel
}

func newPublisher(t testing.TB) *publisher {
	t.Helper()
	c, err := amqp.Dial(broker.URL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.Channel()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		c.Close()
		t.Fatal(err)
	}
	p := &publisher{t: t, c: c, ch: ch}
	t.Cleanup(func() { c.Close() })
	return p
}

// publish sends body with a routing key and waits for the broker's confirm.
func (p *publisher) publish(exchange, key, body string) {
	p.t.Helper()
	dc, err := p.ch.PublishWithDeferredConfirm(exchange, key, false, false, amqp.Publishing{Body: []byte(body)})
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		p.t.Fatalf("publish to %s/%s not confirmed: %v %v", exchange, key, ok, err)
	}
}

// event publishes {"event":name,"data":data}.
func (p *publisher) event(exchange, key, name, data string) {
	p.t.Helper()
	body := fmt.Sprintf(`{"event":%q,"data":%q}`, name, data)
	if name == "" {
		body = fmt.Sprintf(`{"data":%q}`, data)
	}
	p.publish(exchange, key, body)
}

// ctlRows runs a rabbitmqctl list command and returns its rows' fields.
func ctlRows(t testing.TB, args ...string) [][]string {
	t.Helper()
	out, err := broker.Ctl(append(args, "--no-table-headers")...)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// queueCounts returns a queue's ready and unacked message counts.
func queueCounts(t testing.TB, queue string) (ready, unacked string) {
	t.Helper()
	for _, r := range ctlRows(t, "list_queues", "name", "messages_ready", "messages_unacknowledged") {
		if r[0] == queue {
			return r[1], r[2]
		}
	}
	t.Fatalf("queue %s not found", queue)
	return "", ""
}

// steadyGoroutines waits until the goroutine count stops moving (what a
// previous test closed may still be ending) and returns it.
func steadyGoroutines(t testing.TB) int {
	t.Helper()
	const polls = 50 // unchanged at 50 polls in a row, ~250 ms
	last, same := -1, 0
	waitFor(t, "goroutine count steady", waitLong, func() bool {
		if n := runtime.NumGoroutine(); n == last {
			same++
		} else {
			last, same = n, 0
		}
		return same >= polls
	})
	return last
}

// goroutines waits until the goroutine count settles at or below want and
// returns it.
func goroutines(t testing.TB, want int) int {
	t.Helper()
	end := time.Now().Add(waitLong)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return n
		}
		if time.Now().After(end) {
			buf := make([]byte, 1<<20)
			t.Fatalf("timed out after %v waiting for goroutines back to %d (%d); stacks:\n%s", waitLong, want, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
