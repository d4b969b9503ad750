package callback

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"ssegw/retryq"
)

// Disconnect retries (CONTRACT.md section 5). A disconnect callback that gets
// no answer, a network error or a 5xx (retriable) is not lost: it waits
// in a retry queue (package retryq: capped, jittered exponential backoff) and
// is attempted again by the same workers, until it is answered or
// DISCONNECT_RETRY_SECONDS have passed since its first failure. A backend
// that answers — 2xx, or any 4xx — is never asked twice, so the exactly-once
// rule holds for it; a backend that got an attempt but whose answer was lost
// sees the same token and reason again and recognises the repeat.
//
// One goroutine, the retry scheduler, owns the queue. Workers hand it what
// happened to each attempt (first failure, failed retry, delivered retry)
// through a mutex-guarded inbox; it files them and, when attempts fall due,
// puts their jobs back on the disconnect queue for the workers. There is no
// goroutine or timer per pending retry.

// maxPendingRetries bounds the disconnects waiting for a retry. A backend
// outage during a deploy can end every stream of a gateway while the backend
// is away — 100k and more — and each waiting disconnect holds its job and the
// stream's request head (about 1–2 KB), so 128Ki of them cost up to ~256 MB;
// past it the oldest (the closest to giving up) is dropped and counted.
const maxPendingRetries = 1 << 17

// retryCap bounds the wait between two attempts: once the backend is back,
// every pending disconnect reaches it within about this long. The workers
// bound the attempt rate while it is down (CALLBACK_CONCURRENCY requests in
// flight at most), so a short cap costs a down backend little.
const retryCap = 10 * time.Second

// retryDueBatch bounds the attempts the scheduler hands to the workers at
// once; the rest follow as soon as it looks again.
const retryDueBatch = 1024

// Retry outcomes, as ssegw_disconnect_retries_total labels them.
var (
	retriesRetried   = metrics.NewCounter(`ssegw_disconnect_retries_total{outcome="retried"}`)
	retriesDelivered = metrics.NewCounter(`ssegw_disconnect_retries_total{outcome="delivered"}`)
	retriesGivenUp   = metrics.NewCounter(`ssegw_disconnect_retries_total{outcome="given_up"}`)
	retriesDropped   = metrics.NewCounter(`ssegw_disconnect_retries_total{outcome="dropped"}`)
)

// retryNote is what a worker tells the scheduler about one attempt.
type retryNote struct {
	job *Job
	ok  bool // delivered (only sent for retried jobs)
}

// retrier is the retry scheduler's state.
type retrier struct {
	c      *Client
	window time.Duration
	epoch  time.Time

	mu   sync.Mutex
	in   []retryNote
	wake chan struct{}

	// Scheduler goroutine only.
	q       *retryq.Queue[*Job]
	taken   []retryNote
	due     []retryq.Entry[*Job]
	pending atomic.Int64 // waiting + in flight, for PendingRetries
}

func newRetrier(c *Client, window time.Duration, bound int) *retrier {
	if bound <= 0 {
		bound = maxPendingRetries
	}
	r := &retrier{c: c, window: window, epoch: time.Now(), wake: make(chan struct{}, 1)}
	r.q = retryq.New[*Job](retryq.Config{Max: bound, Window: window, Base: c.opts.retryBase, Cap: retryCap, Seed: uint64(r.epoch.UnixNano())})
	return r
}

func (r *retrier) now() int64 { return int64(time.Since(r.epoch)) }

// after settles a disconnect attempt's outcome (worker goroutine): a failure
// goes to the retry queue, an answer to a retried job is reported; it
// reports whether the job is settled here (no retry involved).
func (r *retrier) after(j *Job, res Result) bool {
	switch {
	case j.retrying:
		r.note(retryNote{job: j, ok: !retriable(res)})
	case retriable(res):
		r.note(retryNote{job: j})
	default:
		return true
	}
	return false
}

// retriable reports whether a disconnect attempt is tried again (CONTRACT.md
// section 5): no answer, a network error or a 5xx. Any 4xx, 429 included, is
// the backend's answer, so the disconnect is settled (a connect answered 429
// is a failure, section 4.1, because the browser retries it instead).
func retriable(res Result) bool {
	return res.Outcome == Timeout || res.Outcome == Unavailable || (res.Outcome == ServerError && res.Status >= 500)
}

// note hands the outcome of an attempt to the scheduler. Any goroutine.
func (r *retrier) note(n retryNote) {
	r.mu.Lock()
	r.in = append(r.in, n)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run is the scheduler goroutine. It ends when stop is closed; what is still
// waiting then is given up.
func (r *retrier) run(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		r.file()
		r.handOut()
		d := time.Hour
		if at, ok := r.q.Next(); ok {
			d = max(time.Duration(at-r.now()), 0)
		}
		t.Reset(d)
		select {
		case <-r.wake:
		case <-t.C:
		case <-stop:
			r.file()
			r.giveUpAll()
			return
		}
	}
}

// file applies what the workers reported. The disconnects it settles are
// reported to Flush only after the pending count is published, so whoever
// Flush lets go sees that count without them.
func (r *retrier) file() {
	r.mu.Lock()
	r.taken, r.in = r.in, r.taken[:0]
	r.mu.Unlock()
	now := r.now()
	settled := 0
	for i, n := range r.taken {
		r.taken[i] = retryNote{}
		j := n.job
		switch {
		case !j.retrying && !n.ok:
			o, old, dropped := r.q.Add(j, now)
			if dropped {
				retriesDropped.Inc()
				settled++
				r.c.logRetryLoss("dropped: retry queue full", old)
			}
			switch o {
			case retryq.GaveUp:
				settled += r.end(j, retriesGivenUp, "given up")
			case retryq.Refused:
				settled += r.end(j, retriesDropped, "dropped: retry queue full")
			default:
				j.retrying = true
			}
		case n.ok:
			r.q.Done(j.retry)
			retriesDelivered.Inc()
			settled++
		default:
			if r.q.Retry(j.retry, now) == retryq.GaveUp {
				settled += r.end(j, retriesGivenUp, "given up")
			}
		}
	}
	r.publish()
	for range settled {
		r.c.idle.Done()
	}
}

// retriesPending sums every client's pending retries for the gauge (one
// client per process in production; tests run several).
var retriesPending atomic.Int64

func init() {
	metrics.NewGauge(`ssegw_disconnect_retries_pending`, func() float64 { return float64(retriesPending.Load()) })
}

func (r *retrier) publish() {
	n := int64(r.q.Len())
	retriesPending.Add(n - r.pending.Swap(n))
}

// end counts and logs a disconnect that will not be retried again; it
// returns 1, the disconnect the caller settles.
func (r *retrier) end(j *Job, c *metrics.Counter, why string) int {
	c.Inc()
	r.c.logRetryLoss(why, j)
	return 1
}

// handOut puts the jobs whose attempt is due back on the disconnect queue.
func (r *retrier) handOut() {
	r.due = r.q.Due(r.now(), retryDueBatch, r.due[:0])
	for i, e := range r.due {
		e.Item.retry = e.Handle
		retriesRetried.Inc()
		r.c.enqueueRetry(e.Item)
		r.due[i] = retryq.Entry[*Job]{}
	}
	if len(r.due) == retryDueBatch {
		select { // more may be due: look again at once
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// giveUpAll ends every waiting retry (shutdown).
func (r *retrier) giveUpAll() {
	settled := 0
	r.q.Drain(func(j *Job) { settled += r.end(j, retriesGivenUp, "given up at shutdown") })
	r.publish()
	for range settled {
		r.c.idle.Done()
	}
}

// logRetryLoss logs a disconnect that will never reach the backend, at most
// once per failLogEvery (with the count of the others).
func (c *Client) logRetryLoss(why string, j *Job) {
	if c.opts.Logger == nil {
		return
	}
	if ok, skipped := c.lossLog.allow(); ok {
		c.opts.Logger.Warn("disconnect callback lost", "why", why, "token", j.Token, "reason", j.Reason, "similar_not_logged", skipped)
	}
}
