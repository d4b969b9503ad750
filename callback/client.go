package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"ssegw/retryq"
)

// maxResponseBody bounds how much of a connect response is read for
// request_id and bindings; a larger body is treated as having none.
const maxResponseBody = 1 << 20

// Outcome is what a connect callback decided.
type Outcome uint8

const (
	Accepted     Outcome = iota // any 2xx
	Rejected                    // 400, 401 or 403: in-stream rejection
	BackendError                // any other status that is not a server failure: passed through as BACKEND_ERROR
	Timeout                     // no answer within CALLBACK_TIMEOUT_MS
	Unavailable                 // network error
	ServerError                 // 429 or 5xx: the backend is overloaded or failing
)

var outcomeNames = [...]string{"accepted", "rejected", "backend_error", "timeout", "unavailable", "server_error"}

// Failed reports whether the outcome means the backend is in trouble (no
// answer, a network error, 429 or 5xx) rather than that it decided: a connect
// with such an outcome is answered per CONNECT_FAILURE, and a disconnect
// with one is retried.
func (o Outcome) Failed() bool { return o == Timeout || o == Unavailable || o == ServerError }

func (o Outcome) String() string { return outcomeNames[o] }

// Result is the backend's answer to one callback.
type Result struct {
	Outcome   Outcome
	Status    int    // HTTP status, 0 for Timeout and Unavailable
	Phrase    string // reason phrase of the status line (standard text when empty)
	RequestID string
	// HasRequestID: the 2xx body's request_id was a JSON string (possibly
	// empty); RabbitMQ mode gives such a stream a queue (Node's rule).
	HasRequestID bool
	Bindings     []string
	// Since is the connect answer's "since" (a string): the resume position
	// of a page rendered at a known position (CONTRACT.md section 9).
	Since    string
	HasSince bool
}

// Job is one callback to make. The submitter fills it and must not touch it
// again until Done runs (connects) or ever (disconnects).
type Job struct {
	Action Action
	Reason string // disconnect reason
	Token  string // lowercase UUID
	Head   []byte // raw request head (or what Request says), immutable
	// Request says what Head holds; the zero value is the whole head.
	Request Request
	// Done receives a connect's result on the worker goroutine; it must not block.
	Done func(*Job, Result)
	// Ctx is free for the submitter (the gateway keeps its connection here).
	Ctx any

	// Retry bookkeeping of a disconnect (retry.go), owned by whoever holds the job.
	retrying bool          // it failed once and is in the retry queue's care
	retry    retryq.Handle // its place in the queue while an attempt is due
}

// Options configure a Client.
type Options struct {
	URL         string
	Timeout     time.Duration
	Concurrency int
	MaxPending  int          // capacity of the connect queue
	Logger      *slog.Logger // failures are logged here, at most once per failLogEvery
	// DisconnectRetry is how long after its first failure a disconnect
	// callback is still retried (DISCONNECT_RETRY_SECONDS); 0: never.
	DisconnectRetry time.Duration
	// Pipeline is how many callbacks one connection carries at once
	// (CALLBACK_PIPELINE; 0 or 1: one at a time; pipeline.go).
	Pipeline int
	// MaxPendingRetries bounds the retry queue (0: maxPendingRetries).
	MaxPendingRetries int
	// retryBase overrides the first retry delay (package tests only).
	retryBase time.Duration
}

// failLogEvery rate-limits the warning about failed callbacks: a backend that is
// down fails every callback, and one line a second says so.
const failLogEvery = time.Second

// Client sends callbacks from a fixed pool of workers.
type Client struct {
	opts     Options
	target   *target
	live     conns // connections in use, closed by Stop
	connects chan *Job
	discMu   sync.Mutex
	discQ    []*Job // new disconnects
	retryQ   []*Job // retries that fell due (retry.go)
	discWake chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	failLog  logLimit       // "callback failed" lines
	lossLog  logLimit       // "disconnect callback lost" lines (retry.go)
	idle     sync.WaitGroup // counts queued, running and retry-pending disconnects, for Flush
	retries  *retrier       // nil when DisconnectRetry is 0
}

// ErrQueueFull is returned by Connect when the connect queue is at its bound;
// callers enforce MAX_PENDING_CONNECTS first, so this is a last line of defence.
var ErrQueueFull = errors.New("callback: connect queue full")

// ErrPipeline reports a pipeline depth outside 0..MaxPipeline.
var ErrPipeline = errors.New("callback: pipeline depth must be within 0..64")

// New makes a client; Start runs its workers.
func New(o Options) (*Client, error) {
	t, err := parseTarget(o.URL)
	if err != nil {
		return nil, err
	}
	if o.Pipeline < 0 || o.Pipeline > MaxPipeline {
		return nil, fmt.Errorf("%w: %d", ErrPipeline, o.Pipeline)
	}
	c := &Client{
		opts:     o,
		target:   t,
		connects: make(chan *Job, o.MaxPending),
		discWake: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	if o.DisconnectRetry > 0 {
		c.retries = newRetrier(c, o.DisconnectRetry, o.MaxPendingRetries)
	}
	return c, nil
}

// Start launches the workers (and the retry scheduler).
func (c *Client) Start() {
	for i := 0; i < c.opts.Concurrency; i++ {
		c.wg.Add(1)
		go c.worker()
	}
	if c.retries != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.retries.run(c.stop) }()
	}
}

// PendingRetries is the number of disconnects in the retry queue's care.
func (c *Client) PendingRetries() int64 {
	if c.retries == nil {
		return 0
	}
	return c.retries.pending.Load()
}

// Stop ends the workers once the queued disconnects are sent (retries
// included) or ctx ends, and reports whether every disconnect went out.
// Requests still in flight when ctx ends are aborted and retries still
// pending are given up (counted and logged), so Stop returns within ctx's
// deadline.
func (c *Client) Stop(ctx context.Context) bool {
	ok := c.Flush(ctx)
	c.live.abortAll()
	close(c.stop)
	c.wg.Wait()
	for j := c.popRetry(); j != nil; j = c.popRetry() {
		retriesGivenUp.Inc()
		c.logRetryLoss("given up at shutdown", j)
	}
	if c.retries != nil { // what the aborted attempts reported after the scheduler stopped
		c.retries.file()
		c.retries.giveUpAll()
	}
	return ok
}

// Flush waits until every disconnect submitted so far has been sent (or ctx ends).
func (c *Client) Flush(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { c.idle.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// Connect queues a connect callback without blocking.
func (c *Client) Connect(j *Job) error {
	select {
	case c.connects <- j:
		return nil
	default:
		return ErrQueueFull
	}
}

// Disconnect queues a disconnect callback without blocking. The queue is bounded
// by the number of open connections (each accepted one submits at most one)
// plus the retries that fell due (at most maxPendingRetries).
func (c *Client) Disconnect(j *Job) {
	c.idle.Add(1)
	c.enqueueDisconnect(j)
}

// enqueueDisconnect puts a disconnect (new, or a retry that fell due) on the
// workers' queue.
func (c *Client) enqueueDisconnect(j *Job) { c.enqueue(&c.discQ, j) }

// enqueueRetry puts a retry that fell due on the workers' retry queue, which
// they take from only when no new disconnect or connect waits: after an
// outage, a backlog of retries must not hold back the connects of browsers
// coming back.
func (c *Client) enqueueRetry(j *Job) { c.enqueue(&c.retryQ, j) }

func (c *Client) enqueue(q *[]*Job, j *Job) {
	c.discMu.Lock()
	*q = append(*q, j)
	c.discMu.Unlock()
	select {
	case c.discWake <- struct{}{}:
	default:
	}
}

func (c *Client) popDisconnect() *Job { return c.pop(&c.discQ) }
func (c *Client) popRetry() *Job      { return c.pop(&c.retryQ) }

func (c *Client) pop(q *[]*Job) *Job {
	c.discMu.Lock()
	defer c.discMu.Unlock()
	if len(*q) == 0 {
		return nil
	}
	j := (*q)[0]
	(*q)[0] = nil
	*q = (*q)[1:]
	if len(c.discQ)+len(c.retryQ) > 0 {
		select { // pass the wake-up on to another worker
		case c.discWake <- struct{}{}:
		default:
		}
	}
	if len(*q) == 0 {
		*q = nil // let the backing array go
	}
	return j
}

// worker is one of the CALLBACK_CONCURRENCY goroutines that talk to the backend.
type worker struct {
	c     *Client
	enc   Encoder
	body  []byte // one callback's JSON body
	reqs  []byte // the batch's requests, as written
	batch []*Job // the callbacks in flight, in the order sent (pipeline.go)
	conn  backendConn
}

func (c *Client) worker() {
	defer c.wg.Done()
	w := &worker{c: c}
	defer w.closeConn()
	for {
		if j := c.popDisconnect(); j != nil {
			w.run(j)
			continue
		}
		select {
		case j := <-c.connects:
			w.run(j)
			continue
		default:
		}
		if j := c.popRetry(); j != nil {
			w.run(j)
			continue
		}
		select {
		case j := <-c.connects:
			w.run(j)
		case <-c.discWake:
		case <-c.stop:
			return
		}
	}
}

// run sends j (with the callbacks waiting behind it when pipelining) and
// settles each: a connect's result goes to its Done, a failed disconnect to
// the retry queue.
func (w *worker) run(j *Job) {
	w.collect(j)
	w.runBatch()
}

func (c *Client) logFailure(err error) {
	if c.opts.Logger == nil {
		return
	}
	if ok, skipped := c.failLog.allow(); ok {
		c.opts.Logger.Warn("callback failed", "err", err, "similar_not_logged", skipped)
	}
}

// logLimit lets one line through per failLogEvery and counts the others.
type logLimit struct {
	mu   sync.Mutex
	last time.Time
	skip int
}

// allow reports whether a line may be logged now, and how many were not
// since the last one.
func (l *logLimit) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.last) < failLogEvery {
		l.skip++
		return false, 0
	}
	skipped := l.skip
	l.last, l.skip = time.Now(), 0
	return true, skipped
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func classify(resp *http.Response) Result {
	return Result{Status: resp.StatusCode, Phrase: reasonPhrase(resp), Outcome: outcomeOf(resp.StatusCode)}
}

// outcomeOf classifies a backend's status (CONTRACT.md sections 4.1 and 5).
func outcomeOf(status int) Outcome {
	switch {
	case status >= 200 && status < 300:
		return Accepted
	case status == 400 || status == 401 || status == 403:
		return Rejected
	case status == 429 || status >= 500:
		return ServerError
	default:
		return BackendError
	}
}

// reasonPhrase is the text after the code on the status line, or the standard
// text when the backend sent none.
func reasonPhrase(resp *http.Response) string {
	p := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	if p == "" {
		p = http.StatusText(resp.StatusCode)
	}
	return p
}

// parseAccept reads request_id and bindings from a 2xx body. Anything
// unexpected is ignored, as the Node.js gateway does: bindings count only when
// every element is a string. Keys match exactly (JavaScript's property
// lookup), not case-insensitively as encoding/json's struct decoding would.
func parseAccept(r io.Reader, res *Result) {
	data, err := io.ReadAll(io.LimitReader(r, maxResponseBody+1))
	if err != nil {
		return
	}
	parseAcceptBody(data, res)
}

// parseAcceptBody is parseAccept on a body already read.
func parseAcceptBody(data []byte, res *Result) {
	if len(data) == 0 || len(data) > maxResponseBody {
		return
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(data, &body) != nil {
		return
	}
	if raw, ok := body["request_id"]; ok && len(raw) > 0 && raw[0] == '"' {
		var id string
		if json.Unmarshal(raw, &id) == nil {
			res.RequestID, res.HasRequestID = id, true
		}
	}
	if raw, ok := body["since"]; ok && len(raw) > 0 && raw[0] == '"' {
		var since string
		if json.Unmarshal(raw, &since) == nil {
			res.Since, res.HasSince = since, true
		}
	}
	var list []json.RawMessage
	if json.Unmarshal(body["bindings"], &list) != nil {
		return
	}
	bindings := make([]string, 0, len(list))
	for _, raw := range list {
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return
		}
		bindings = append(bindings, s)
	}
	if len(bindings) > 0 {
		res.Bindings = bindings
	}
}
