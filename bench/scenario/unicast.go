package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ssegw/bench/loadclient"
	"ssegw/bench/sseparse"
	"ssegw/bench/stats"
)

const (
	// DefaultBatchSize is the commands per /internal/batch request.
	DefaultBatchSize = 100
	// MaxBatchSize keeps one request body well under the control port's 1 MiB
	// limit (CONTRACT 6: 413 beyond): a command is about 110 bytes.
	MaxBatchSize = 5000
	// DefaultSenders is the concurrent batch senders.
	DefaultSenders = 4
	// MaxSenders bounds sender goroutines (each holds one connection).
	MaxSenders = 64
	// MaxSends bounds one run's sends whatever duration says (memory of the
	// counters is fixed, this bounds the time the drain may need).
	MaxSends = 50_000_000
	// readyWait bounds the wait for the opened streams' "ready" events and for
	// the backend to list their tokens.
	readyWait = 30 * time.Second
	// maxBatchReply bounds one batch answer read (MaxBatchSize results).
	maxBatchReply = 4 << 20
	// maxTokensReply bounds the backend's token list read (15,000 UUIDs are 600 KB).
	maxTokensReply = 64 << 20
	// EventsWrittenMetric is the gateway's counter of events written.
	EventsWrittenMetric = "ssegw_events_written_total"
)

var (
	// ErrNoTokens reports a backend that lists no tokens to send to.
	ErrNoTokens = errors.New("scenario: the backend lists no open tokens")
	// ErrBatchStatus reports a batch answered with a non-2xx status.
	ErrBatchStatus = errors.New("scenario: batch failed")
	// ErrBadUnicast reports unusable unicast options.
	ErrBadUnicast = errors.New("scenario: bad unicast options")
)

// UnicastConfig configures the unicast scenario: N streams through the
// gateway, then sends to their tokens through /internal/batch.
type UnicastConfig struct {
	Common
	BatchURL   string // e.g. http://127.0.0.1:3001/internal/batch
	BackendURL string // the bench backend, e.g. http://127.0.0.1:4000 (GET /tokens lists the open streams' tokens)
	BatchSize  int
	Senders    int
	Duration   time.Duration
	Drain      time.Duration
}

// UnicastReport is the outcome of a unicast run.
type UnicastReport struct {
	Scenario      string              `json:"scenario"`
	Target        string              `json:"target"`
	Procs         int                 `json:"client_procs"`
	Streams       int64               `json:"streams"`
	Tokens        int                 `json:"tokens"`
	BatchSize     int                 `json:"batch_size"`
	Senders       int                 `json:"senders"`
	Batches       int64               `json:"batches"`
	BatchErrors   int64               `json:"batch_errors"`
	Sent          int64               `json:"sent"`     // commands sent
	Accepted      int64               `json:"accepted"` // answered {"status":"ok"}
	Rejected      map[string]int64    `json:"rejected"` // by error code
	SendSeconds   float64             `json:"send_seconds"`
	SendsPerSec   float64             `json:"sends_per_second"`
	BatchLatency  Latency             `json:"batch_latency"`
	Delivered     int64               `json:"delivered"`
	Missing       int64               `json:"missing"`
	Extra         int64               `json:"extra"`
	ServerWritten float64             `json:"server_events_written"` // EventsWrittenMetric delta, -1: unknown
	ExactlyOnce   bool                `json:"exactly_once"`
	Latency       Latency             `json:"latency"`
	LatencyHist   stats.Snapshot      `json:"latency_histogram_ns"` // for distribution charts
	ServerCPU     float64             `json:"server_cpu_seconds"`
	Clients       loadclient.Counters `json:"clients"`
	ClientCPU     float64             `json:"client_cpu_seconds"`
}

// Unicast runs the unicast scenario.
func Unicast(ctx context.Context, cfg UnicastConfig) (*UnicastReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Senders == 0 {
		cfg.Senders = DefaultSenders
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxBatchSize || cfg.Senders < 1 || cfg.Senders > MaxSenders || cfg.Duration <= 0 {
		return nil, fmt.Errorf("%w: batch %d (1..%d), senders %d (1..%d), duration %v",
			ErrBadUnicast, cfg.BatchSize, MaxBatchSize, cfg.Senders, MaxSenders, cfg.Duration)
	}
	for _, u := range []string{cfg.BatchURL, cfg.BackendURL} {
		if err := checkURL(u, cfg.Client.AllowRemote); err != nil {
			return nil, err
		}
	}
	r, err := start(ctx, &cfg.Common, "unicast")
	if err != nil {
		return nil, err
	}
	rep := &UnicastReport{Scenario: "unicast", Target: cfg.Client.Target.String(), Procs: r.fleet.Procs(),
		BatchSize: cfg.BatchSize, Senders: cfg.Senders, Rejected: map[string]int64{}, ServerWritten: -1}
	err = r.unicast(ctx, &cfg, rep)
	res, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	if err != nil {
		return rep, err
	}
	rep.Latency, rep.LatencyHist = toLatency(res.Groups[0].Latency), res.Groups[0].Latency
	rep.Clients = res.Groups[0].Counters
	rep.ClientCPU = res.CPUSeconds
	return rep, nil
}

// checkURL accepts an http URL on loopback (or anywhere with allowRemote).
func checkURL(s string, allowRemote bool) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%w: %q", ErrBadPublishURL, s)
	}
	if !allowRemote && !IsLoopbackURL(u.Host) {
		return ErrRemotePublish
	}
	return nil
}

// waitReady waits until every opened stream of group 0 got its "ready".
func (r *run) waitReady(ctx context.Context) (loadclient.Counters, error) {
	var last loadclient.Counters
	err := waitUntil(ctx, readyWait, func() (bool, error) {
		cs, err := r.fleet.Counters()
		last = cs[0]
		return err == nil && last.Ready >= last.Active, err
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %d of %d streams ready", ErrOpenStuck, last.Ready, last.Active)
	}
	return last, err
}

func (r *run) unicast(ctx context.Context, cfg *UnicastConfig, rep *UnicastReport) error {
	r.setStatus("opening")
	if _, err := r.openTo(ctx, cfg.Streams); err != nil {
		return err
	}
	cs, err := r.waitReady(ctx)
	if err != nil {
		return err
	}
	rep.Streams = cs.Active
	// The backend learns tokens from connect callbacks and forgets them on
	// disconnect callbacks, which may lag: wait until it lists as many as are open.
	var tokens []string
	err = waitUntil(ctx, readyWait, func() (bool, error) {
		var err error
		tokens, err = fetchTokens(ctx, cfg.BackendURL+"/tokens")
		return err == nil && int64(len(tokens)) == rep.Streams, err
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if len(tokens) == 0 {
		return ErrNoTokens
	}
	rep.Tokens = len(tokens)
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return err
	}
	before, err := r.fleet.Counters()
	if err != nil {
		return err
	}
	s0 := r.c.sampleServer(ctx, before[0].Active)
	w0, werr := r.c.scrape(ctx, EventsWrittenMetric)
	r.setStatus("sending")
	snd := newSender(cfg, tokens)
	t0 := time.Now()
	snd.run(ctx, cfg)
	rep.SendSeconds = time.Since(t0).Seconds()
	snd.fill(rep)
	if rep.SendSeconds > 0 {
		rep.SendsPerSec = float64(rep.Accepted) / rep.SendSeconds
	}
	r.setStatus("draining")
	var after [loadclient.MaxGroups]loadclient.Counters
	err = waitUntil(ctx, cfg.Drain, func() (bool, error) {
		cs, err := r.fleet.Counters()
		after = cs
		return err == nil && cs[0].Events-before[0].Events >= rep.Accepted, err
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Duplicates would arrive after the last expected delivery: give them a
	// moment (the settle pause) before the final count.
	if err := SleepCtx(ctx, min(cfg.Settle, time.Second)); err != nil {
		return err
	}
	if after, err = r.fleet.Counters(); err != nil {
		return err
	}
	s1 := r.c.sampleServer(ctx, after[0].Active)
	rep.ServerCPU = s1.CPUSeconds - s0.CPUSeconds
	rep.Delivered = after[0].Events - before[0].Events
	rep.Missing = max(0, rep.Accepted-rep.Delivered)
	rep.Extra = max(0, rep.Delivered-rep.Accepted)
	rep.ExactlyOnce = rep.Delivered == rep.Accepted && rep.BatchErrors == 0
	if w1, err := r.c.scrape(ctx, EventsWrittenMetric); err == nil && werr == nil {
		rep.ServerWritten = w1 - w0
		rep.ExactlyOnce = rep.ExactlyOnce && int64(rep.ServerWritten) == rep.Accepted
	}
	return nil
}

// scrape reads one metric from the server's Prometheus page, if it has one.
func (c *Common) scrape(ctx context.Context, name string) (float64, error) {
	if c.MetricsURL == "" {
		return 0, errors.New("scenario: no metrics URL")
	}
	return scrapeMetric(ctx, c.MetricsURL, name)
}

func fetchTokens(ctx context.Context, u string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %d", ErrNoTokens, u, resp.StatusCode)
	}
	var toks []string
	err = json.NewDecoder(io.LimitReader(resp.Body, maxTokensReply)).Decode(&toks)
	return toks, err
}

// sender runs the batch senders and sums what the gateway answered.
type sender struct {
	url      string
	tokens   [][]byte // JSON-quoted
	size     int
	client   *http.Client
	next     atomic.Int64 // next send number (picks the token round-robin)
	limit    int64
	mu       sync.Mutex
	batches  int64
	errs     int64
	sent     int64
	ok       int64
	rejected map[string]int64
	rtt      *latencyAcc
	firstErr error
}

func newSender(cfg *UnicastConfig, tokens []string) *sender {
	s := &sender{url: cfg.BatchURL, size: cfg.BatchSize, limit: MaxSends, rejected: map[string]int64{},
		rtt: newLatencyAcc(),
		client: &http.Client{Timeout: publishTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Senders, MaxConnsPerHost: cfg.Senders}}}
	for _, t := range tokens {
		q, _ := json.Marshal(t)
		s.tokens = append(s.tokens, q)
	}
	return s
}

func (s *sender) run(ctx context.Context, cfg *UnicastConfig) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for range cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for ctx.Err() == nil {
				first := s.next.Add(int64(s.size)) - int64(s.size)
				if first >= s.limit {
					return
				}
				body = s.batch(body[:0], first)
				s.post(ctx, body)
			}
		}()
	}
	wg.Wait()
	s.client.CloseIdleConnections()
}

// batch builds one NDJSON body of size sends starting at send number first.
func (s *sender) batch(b []byte, first int64) []byte {
	for i := first; i < first+int64(s.size); i++ {
		b = append(b, `{"token":`...)
		b = append(b, s.tokens[i%int64(len(s.tokens))]...)
		b = append(b, `,"event":{"data":"`...)
		b = sseparse.AppendTimestamp(b, time.Now().UnixNano())
		b = append(b, ` s=`...)
		b = strconv.AppendInt(b, i, 10)
		b = append(b, "\"}}\n"...)
	}
	return b
}

type batchReply struct {
	Results []struct {
		Status string `json:"status"`
		Error  *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"results"`
}

// post sends one batch; a request cut by the end of the run is not counted.
func (s *sender) post(ctx context.Context, body []byte) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		s.fail(err)
		return
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.client.Do(req)
	if err != nil {
		s.fail(err)
		return
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBatchReply))
	resp.Body.Close()
	var rep batchReply
	switch {
	case rerr != nil:
		s.fail(rerr)
		return
	case resp.StatusCode/100 != 2:
		s.fail(fmt.Errorf("%w: status %d: %s", ErrBatchStatus, resp.StatusCode, bytes.TrimSpace(b)))
		return
	case json.Unmarshal(b, &rep) != nil || len(rep.Results) != s.size:
		s.fail(fmt.Errorf("%w: %d results for %d commands", ErrBatchStatus, len(rep.Results), s.size))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rtt.record(time.Since(t0))
	s.batches++
	s.sent += int64(s.size)
	for _, r := range rep.Results {
		switch {
		case r.Status == "ok":
			s.ok++
		case r.Error != nil:
			s.rejected[r.Error.Code]++
		default:
			s.rejected["status_"+r.Status]++
		}
	}
}

func (s *sender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.errs++
	s.sent += int64(s.size)
	if s.firstErr == nil {
		s.firstErr = err
	}
}

func (s *sender) fill(rep *UnicastReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep.Batches, rep.BatchErrors, rep.Sent, rep.Accepted = s.batches, s.errs, s.sent, s.ok
	for k, v := range s.rejected {
		rep.Rejected[k] = v
	}
	if s.firstErr != nil {
		rep.Rejected["batch_error: "+s.firstErr.Error()] = s.errs
	}
	rep.BatchLatency = s.rtt.latency()
}

// WriteTable prints the summary table.
func (u *UnicastReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "unicast: target %s, %d streams (%d tokens), %d client process(es)\n", u.Target, u.Streams, u.Tokens, u.Procs)
	fmt.Fprintf(w, "  %d senders x batches of %d: %d batches (%d failed), %d sends, %d accepted in %.1fs\n",
		u.Senders, u.BatchSize, u.Batches, u.BatchErrors, u.Sent, u.Accepted, u.SendSeconds)
	fmt.Fprintf(w, "  accepted sends per second: %.0f\n", u.SendsPerSec)
	if len(u.Rejected) > 0 {
		fmt.Fprintf(w, "  rejected: %v\n", u.Rejected)
	}
	fmt.Fprintf(w, "  batch round trip ms: %s\n", u.BatchLatency)
	fmt.Fprintf(w, "  delivered %d (missing %d, extra %d), server wrote %.0f: exactly once %v\n",
		u.Delivered, u.Missing, u.Extra, u.ServerWritten, u.ExactlyOnce)
	fmt.Fprintf(w, "  delivery latency ms: %s\n", u.Latency)
	fmt.Fprintf(w, "  server CPU %.2fs\n", u.ServerCPU)
	writeCounters(w, u.Clients, u.ClientCPU)
}
