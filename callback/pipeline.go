package callback

import "time"

// Pipelining (Options.Pipeline, CALLBACK_PIPELINE > 1): a worker that takes
// a callback also takes the callbacks already waiting (new disconnects and
// connects, never a retry), up to Pipeline of them and maxPipelineBytes of
// requests, writes them to its connection in one write and reads the answers
// in order (HTTP/1.1 pipelining, RFC 9112 section 9.3.2). In a connect storm
// that is one write, one idle check and a few reads for many callbacks, on
// the gateway's side and on the backend's, instead of one of each per
// callback. Nothing waits to fill a batch: a worker only takes what is
// already queued, so a batch forms only when callbacks arrive faster than the
// free workers take them (set CALLBACK_CONCURRENCY low, e.g. 4-8, with it).
//
// Why it is off by default: RFC 9112 asks clients not to pipeline after a
// non-idempotent request unless they detect and recover from a partial
// failure (below), some servers and proxies mishandle pipelined requests,
// and a backend that answers one connection's requests one after
// the other (Go's net/http does; Node's http server runs them at once) holds
// every callback behind a slow one. CALLBACK_TIMEOUT_MS is each answer's:
// it counts from the batch's write for the first answer and from the
// previous answer for each later one, so a backend that answers a batch
// one request at a time is not cut short, and one that stops answering is
// given up on within the timeout.
//
// Failures: an answer that announces a close (Connection: close) means the
// backend processed nothing sent after it (RFC 9112 section 9.6), so those
// callbacks are sent again on a new connection (a server that runs
// pipelined requests at once, as Node's does, may have run them already and
// sees them twice: documented in README, "Connect storms"); a connection that fails or times out with answers
// missing settles every unanswered callback of the batch as a failure
// (Timeout or Unavailable), never sent twice.

const (
	// MaxPipeline bounds CALLBACK_PIPELINE: past a few dozen, a batch only
	// adds to the wait of its last callback.
	MaxPipeline = 64
	// maxPipelineBytes bounds one pipelined write (a batch stops growing past
	// it): a few connects with 16 KiB heads, or dozens of ordinary ones.
	maxPipelineBytes = 64 << 10
)

// collect makes first and the callbacks already waiting behind it the
// worker's batch (w.batch) and encodes their requests into w.reqs.
func (w *worker) collect(first *Job) {
	w.batch = append(w.batch[:0], first)
	w.reqs = w.appendRequest(w.reqs[:0], first)
	for len(w.batch) < w.c.opts.Pipeline && len(w.reqs) < maxPipelineBytes {
		j := w.c.popDisconnect()
		if j == nil {
			select {
			case j = <-w.c.connects:
			default:
				return
			}
		}
		w.batch = append(w.batch, j)
		w.reqs = w.appendRequest(w.reqs, j)
	}
}

// appendRequest appends j's whole request to dst.
func (w *worker) appendRequest(dst []byte, j *Job) []byte {
	w.body = w.enc.appendJob(w.body[:0], j)
	return w.c.target.appendRequest(dst, w.body)
}

// runBatch sends the batch's callbacks and settles each with its answer.
func (w *worker) runBatch() {
	jobs := w.batch
	start := time.Now()
	inflight.Add(int64(len(jobs)))
	for len(jobs) > 0 {
		// Each write gets a whole timeout: a resend after an announced
		// close may come later than one timeout after the batch began.
		if err := w.send(w.reqs, time.Now().Add(w.c.opts.Timeout)); err != nil {
			w.settleAll(jobs, w.failed(err), start)
			break
		}
		n, err := w.receiveBatch(jobs, start)
		jobs = jobs[n:]
		if err != nil {
			w.settleAll(jobs, w.failed(err), start)
			break
		}
		// An announced close left jobs unprocessed: send them again.
		w.reqs = w.reqs[:0]
		for _, j := range jobs {
			w.reqs = w.appendRequest(w.reqs, j)
		}
	}
	clear(w.batch)
}

// receiveBatch reads the answers of jobs in order and settles each. It stops
// after an answer that announced a close (n < len(jobs), err nil: the rest
// were not processed) or at an error (the rest are unanswered).
func (w *worker) receiveBatch(jobs []*Job, start time.Time) (n int, err error) {
	for n < len(jobs) {
		j := jobs[n]
		res, closed, err := w.receive(j.Action == ActionConnect)
		if err != nil {
			return n, err
		}
		w.settle(j, res, start)
		n++
		if closed {
			return n, nil
		}
		if n < len(jobs) { // the next answer gets a whole timeout of its own
			_ = w.conn.nc.SetReadDeadline(time.Now().Add(w.c.opts.Timeout))
		}
	}
	return n, nil
}

// settleAll settles every job with the same result.
func (w *worker) settleAll(jobs []*Job, res Result, start time.Time) {
	for _, j := range jobs {
		w.settle(j, res, start)
	}
}

// settle records one callback's answer and hands it on: a connect's to its
// Done, a disconnect's to the retry queue when it failed.
func (w *worker) settle(j *Job, res Result, start time.Time) {
	inflight.Add(-1)
	observe(j.Action, res.Outcome, time.Since(start))
	if j.Done != nil {
		j.Done(j, res)
	}
	if j.Action != ActionDisconnect {
		return
	}
	if c := w.c; c.retries == nil || c.retries.after(j, res) {
		c.idle.Done()
	}
}
