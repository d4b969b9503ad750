package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ssegw/bench/loadclient"
	"ssegw/bench/sseparse"
)

// Resume scenarios (issue 14, CONTRACT.md section 9): streams that come back
// with their Last-Event-ID while publishing goes on must get every event
// once. The clients track each stream as a resuming client (loadclient
// Config.Track): every publish carries its sequence ("t=<nanos> s=<n>"), and
// every stream is checked for gaps (lost), repeats (duplicated) and
// "resync" events. Publishing starts only once every stream is ready, so a
// stream must see every sequence from 1 to the last.
//
// Both scenarios start the servers they measure (package gwproc), since they
// restart them or compare two of them in one run: Resume runs one gateway
// without history and one with it, one after the other, each fresh, with the
// same load; RollingRestart runs a cluster of gateways on one port with a
// JetStream broker and restarts each in turn.

const (
	// ResumeChannel is the channel every stream is bound to and every publish goes to.
	ResumeChannel = "bench"
	// DefaultResumeRate is the single-gateway resume scenario's publishes per second.
	DefaultResumeRate = 10
	// DefaultResumeWarmup is how long publishing runs before the drop.
	DefaultResumeWarmup = 5 * time.Second
	// DefaultResumeTail is how long publishing goes on after all streams are back.
	DefaultResumeTail = 5 * time.Second
	// DefaultHistorySize is HISTORY_SIZE of the gateway with history: far
	// more than the publishes of a reconnect storm (10/s for a few seconds),
	// so a resync would be a defect, not truncation.
	DefaultHistorySize = 1000
	// DefaultHistoryTTL is HISTORY_TTL_SECONDS of the gateway with history:
	// far longer than a run, so nothing ages out during one.
	DefaultHistoryTTL = 300 * time.Second
	// DefaultHistoryMaxBytes is HISTORY_MAX_BYTES of the gateway with
	// history: far above what DefaultHistorySize small events take.
	DefaultHistoryMaxBytes = 64 << 20
	// resumeGatewayShutdown is SHUTDOWN_TIMEOUT_SECONDS of the gateways a resume scenario starts.
	resumeGatewayShutdown = "10"
	// publishAttemptTimeout bounds one publish request of a resume scenario.
	publishAttemptTimeout = 5 * time.Second
	// HistoryRSSMetric and friends are read from the gateway with history.
	historyBytesMetric     = "ssegw_history_bytes"
	replayedMessagesMetric = "ssegw_replayed_messages_total"
	replaysMetric          = "ssegw_replays_total"
)

// ErrNoGateway reports a resume scenario without a gateway binary.
var ErrNoGateway = errors.New("scenario: resume needs the gateway binary")

// seqPublisher publishes "t=<nanos> s=<seq>" events, seq 1, 2, ... with no
// gap among the publishes that succeeded: a failed publish is tried again
// with the same seq (on the next control port when there are several), so
// a client's gap is a lost event, never a publish that failed.
type seqPublisher struct {
	controls []string      // control base URLs
	down     []atomic.Bool // controls[i] is being restarted: not used
	client   *http.Client
	next     int // round-robin position (publisher goroutine only)
	last     atomic.Int64
	errs     atomic.Int64
	mu       sync.Mutex
	lastErr  string
	began    time.Time // first tick (publisher goroutine until done)
	ended    time.Time // return of run
}

func newSeqPublisher(controls ...string) *seqPublisher {
	return &seqPublisher{controls: controls, down: make([]atomic.Bool, len(controls)),
		client: &http.Client{Timeout: publishAttemptTimeout}}
}

// run publishes at rate until stop is closed, ctx ends or until passes.
func (p *seqPublisher) run(ctx context.Context, rate float64, until time.Time, stop <-chan struct{}) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	p.began = time.Now()
	defer func() { p.ended = time.Now() }()
	defer t.Stop()
	for n := 0; n < MaxPublishes && time.Now().Before(until); n++ {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		p.publishNext(ctx)
	}
}

// publishNext publishes the next sequence, trying every control port up once.
func (p *seqPublisher) publishNext(ctx context.Context) {
	seq := p.last.Load() + 1
	for range p.controls {
		i := p.next % len(p.controls)
		p.next++
		if p.down[i].Load() {
			continue
		}
		if err := p.publish(ctx, p.controls[i], seq); err != nil {
			p.errs.Add(1)
			p.mu.Lock()
			p.lastErr = err.Error()
			p.mu.Unlock()
			continue
		}
		p.last.Store(seq)
		return
	}
}

func (p *seqPublisher) publish(ctx context.Context, control string, seq int64) error {
	data := sseparse.AppendTimestamp(nil, time.Now().UnixNano())
	data = append(append(data, " s="...), strconv.FormatInt(seq, 10)...)
	body := fmt.Sprintf(`{"channel":%q,"event":{"data":%q}}`, ResumeChannel, data)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, control+"/internal/publish", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxPublishReply))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: status %d: %s", ErrPublishStatus, control, resp.StatusCode, bytes.TrimSpace(b))
	}
	var rep struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(b, &rep) != nil || rep.Status != "ok" {
		return fmt.Errorf("%w: %s: %s", ErrPublishStatus, control, bytes.TrimSpace(b))
	}
	return nil
}

// achieved is the publishes per second that succeeded (after run returned):
// a publish answers once its fan-out is queued, so the publisher never
// runs ahead of the gateway (one publish at a time keeps the sequence in
// position order), and a rate the machine cannot fan out is not reached.
func (p *seqPublisher) achieved() float64 {
	if d := p.ended.Sub(p.began).Seconds(); d > 0 {
		return float64(p.last.Load()) / d
	}
	return 0
}

func (p *seqPublisher) lastError() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Tracked are a tracking run's per-stream checks, summed over streams.
type Tracked struct {
	Streams    int64 `json:"streams"`    // resuming clients (slots)
	Published  int64 `json:"published"`  // publishes that succeeded: every stream must see 1..Published
	Lost       int64 `json:"lost"`       // gaps within streams plus what never arrived by the end
	Duplicated int64 `json:"duplicated"` // events a stream saw twice
	Resyncs    int64 `json:"resyncs"`    // "event: resync" received
	Missing    int64 `json:"missing"`    // of Lost: sequences that had not arrived when the wait for them ended
	Replayed   int64 `json:"replayed"`   // events received before "ready" by streams that sent Last-Event-ID
	Resumed    int64 `json:"resumed"`    // connections that sent Last-Event-ID
}

// tracked sums the groups' counters against the last sequence published.
func tracked(cs [loadclient.MaxGroups]loadclient.Counters, published int64) Tracked {
	var t Tracked
	var seqSum int64
	for _, c := range cs {
		t.Streams += c.Slots
		seqSum += c.SeqSum
		t.Lost += c.Lost
		t.Duplicated += c.Duplicated
		t.Resyncs += c.Resyncs
		t.Replayed += c.Replayed
		t.Resumed += c.Resumed
	}
	t.Published = published
	t.Missing = t.Streams*published - seqSum
	t.Lost += t.Missing
	return t
}

// waitDelivered waits until every stream saw the last sequence published
// (or budget); it returns the checks as they stand.
func (r *run) waitDelivered(ctx context.Context, published int64, budget time.Duration) (Tracked, error) {
	var t Tracked
	err := waitUntil(ctx, budget, func() (bool, error) {
		cs, err := r.fleet.Counters()
		if err != nil {
			return false, err
		}
		t = tracked(cs, published)
		return t.Missing == 0, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // reported: Missing > 0
	}
	return t, err
}

// ResumeConfig configures the single-gateway resume scenario.
type ResumeConfig struct {
	Common                     // Client.Target is set per gateway; Streams, Procs, Rate, ...
	GatewayExe   string        // the ssegw binary
	CallbackURL  string        // the bench backend's callback URL (bindings: ResumeChannel)
	PublishRate  float64       // publishes per second through the control port
	Warmup       time.Duration // publishing before the drop
	Tail         time.Duration // publishing after every stream is back
	PhaseTimeout time.Duration // bound on the connect and the reconnect storm
	Drain        time.Duration // wait for the last deliveries after the last publish
	HistoryEnv   []string      // the gateway with history: HISTORY_SIZE=... and so on
	GatewayEnv   []string      // both gateways: anything else (EVENT_LOOPS=...)
	// Away keeps the dropped streams away this long before they reconnect
	// (0: at once), so publishes certainly fall into the gap.
	Away time.Duration
	// OnlyHistory skips the run without history (no ratio then).
	OnlyHistory bool
	// HistoryFirst runs the gateway with history first (an order check).
	HistoryFirst bool
}

// ResumeRun is one gateway's run.
type ResumeRun struct {
	Server         string     `json:"server"` // "no history" or "history"
	Env            []string   `json:"env"`
	Connect        StormPhase `json:"connect"`
	Reconnect      StormPhase `json:"reconnect"` // the storm: all dropped at once, back with Last-Event-ID
	Tracked        Tracked    `json:"tracked"`
	PublishErrors  int64      `json:"publish_errors"`
	LastPublishErr string     `json:"last_publish_error,omitempty"`
	PublishRate    float64    `json:"publish_rate_achieved"` // successful publishes per second
	// The gateway's own counters over the reconnect storm (history only).
	ServerReplays          float64 `json:"server_replays"`
	ServerReplayed         float64 `json:"server_replayed_messages"`
	ReplayedPerSec         float64 `json:"replayed_per_second"` // ServerReplayed / the storm's seconds
	HistoryBytes           float64 `json:"history_bytes"`       // ssegw_history_bytes at the end
	RSSConnected           int64   `json:"rss_connected_bytes"` // N streams open, before any publish
	RSSEnd                 int64   `json:"rss_end_bytes"`       // N streams open, history filled, after the tail
	ServerCPU              float64 `json:"server_cpu_seconds"`  // whole run
	GatewayExit            string  `json:"gateway_exit"`        // "ok" or the exit error after SIGTERM
	ClientCPU              float64 `json:"client_cpu_seconds"`
	loadclient.GroupResult `json:"clients"`
}

// ResumeReport is the outcome of the single-gateway resume scenario.
type ResumeReport struct {
	Scenario    string        `json:"scenario"`
	Streams     int           `json:"streams"`
	Procs       int           `json:"client_procs"`
	PublishRate float64       `json:"publish_rate"`
	Warmup      time.Duration `json:"warmup_ns"`
	Tail        time.Duration `json:"tail_ns"`
	Runs        []ResumeRun   `json:"runs"`
	// StormRatio is the reconnect storm's streams/s with history over
	// without (target >= 0.8); 0 without a run without history.
	StormRatio float64 `json:"storm_ratio"`
	// HistoryRSS is the gateway's RSS at the end with history minus without.
	HistoryRSS int64 `json:"history_rss_bytes"`
}

// Resume runs the single-gateway resume scenario: for the gateway without
// history, then the one with it, each started fresh: N streams ready, then
// publishing at PublishRate for Warmup, then every stream dropped at once
// and reopened with its Last-Event-ID (a storm, timed until all N are ready
// again) while publishing goes on, then Tail more, then a wait until every
// stream saw the last publish.
func Resume(ctx context.Context, cfg ResumeConfig) (*ResumeReport, error) {
	if cfg.GatewayExe == "" {
		return nil, ErrNoGateway
	}
	if cfg.Client.Rate == 0 {
		cfg.Client.Rate = DefaultStormRate
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.PublishRate <= 0 {
		return nil, ErrBadPublishRate
	}
	cfg.Warmup = orDur(cfg.Warmup, DefaultResumeWarmup)
	cfg.Tail = orDur(cfg.Tail, DefaultResumeTail)
	cfg.PhaseTimeout = orDur(cfg.PhaseTimeout, DefaultStormTimeout)
	cfg.Drain = orDur(cfg.Drain, DefaultDrain)
	rep := &ResumeReport{Scenario: "resume", Streams: cfg.Streams, PublishRate: cfg.PublishRate,
		Warmup: cfg.Warmup, Tail: cfg.Tail}
	variants := []struct {
		name string
		env  []string
	}{{"no history", nil}, {"history", cfg.HistoryEnv}}
	if cfg.OnlyHistory {
		variants = variants[1:]
	} else if cfg.HistoryFirst {
		variants[0], variants[1] = variants[1], variants[0]
	}
	for _, v := range variants {
		run, err := resumeOne(ctx, &cfg, v.name, v.env, rep)
		if run != nil {
			rep.Runs = append(rep.Runs, *run)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	if len(rep.Runs) == 2 {
		without, with := rep.Runs[0], rep.Runs[1]
		if cfg.HistoryFirst {
			without, with = with, without
		}
		if without.Reconnect.StreamsPerSec > 0 {
			rep.StormRatio = with.Reconnect.StreamsPerSec / without.Reconnect.StreamsPerSec
		}
		rep.HistoryRSS = with.RSSEnd - without.RSSEnd
	}
	return rep, nil
}

// HistoryEnv is the environment of a gateway with history: HISTORY_SIZE,
// HISTORY_TTL_SECONDS (whole seconds) and HISTORY_MAX_BYTES.
func HistoryEnv(size int, ttl time.Duration, maxBytes int64) []string {
	return []string{fmt.Sprintf("HISTORY_SIZE=%d", size), fmt.Sprintf("HISTORY_TTL_SECONDS=%d", int(ttl.Seconds())),
		fmt.Sprintf("HISTORY_MAX_BYTES=%d", maxBytes)}
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// resumeOne runs the scenario against one fresh gateway.
func resumeOne(ctx context.Context, cfg *ResumeConfig, name string, histEnv []string, rep *ResumeReport) (*ResumeRun, error) {
	env := append([]string{"CALLBACK_URL=" + cfg.CallbackURL, "LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT_SECONDS=" + resumeGatewayShutdown}, cfg.GatewayEnv...)
	env = append(env, histEnv...)
	gw, err := startResumeGateway(ctx, cfg.GatewayExe, env)
	if err != nil {
		return nil, err
	}
	res := &ResumeRun{Server: name, Env: env}
	defer func() {
		if gw != nil {
			res.GatewayExit = exitText(gw.Stop())
		}
	}()
	common := cfg.Common
	common.Client.Target = gw.listen
	common.Client.Track, common.Client.ReopenShed, common.Client.ReopenGroup = true, true, groupAgain
	common.ServerPID, common.MetricsURL = gw.PID(), gw.ControlURL()+"/metrics"
	r, err := start(ctx, &common, "resume "+name)
	if err != nil {
		return res, err
	}
	rep.Procs = r.fleet.Procs()
	err = r.resume(ctx, cfg, gw.ControlURL(), res)
	out, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	var g loadclient.GroupResult
	g.Counters = out.Groups[groupFirst].Counters
	g.Counters.Add(out.Groups[groupAgain].Counters)
	g.Latency, g.Open, g.Ready = out.Groups[groupFirst].Latency, out.Groups[groupFirst].Open, out.Groups[groupFirst].Ready
	res.GroupResult, res.ClientCPU = g, out.CPUSeconds
	res.GatewayExit = exitText(gw.Stop())
	gw = nil
	return res, err
}

func exitText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func (r *run) resume(ctx context.Context, cfg *ResumeConfig, control string, res *ResumeRun) error {
	storm := &StormConfig{Common: *r.c, PhaseTimeout: cfg.PhaseTimeout}
	s0 := r.c.sampleServer(ctx, 0)
	ph, err := r.stormPhase(ctx, storm, "connect")
	res.Connect = ph
	if err != nil {
		return err
	}
	if !ph.AllReady {
		return fmt.Errorf("%w: %d of %d streams ready", ErrOpenStuck, ph.Ready, ph.Streams)
	}
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return err
	}
	res.RSSConnected = r.c.sampleServer(ctx, int64(cfg.Streams)).RSSBytes

	pub := newSeqPublisher(control)
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	bound := time.Now().Add(cfg.Warmup + cfg.Away + cfg.PhaseTimeout + cfg.Tail + cfg.Drain)
	go func() {
		defer close(pubDone)
		pub.run(ctx, cfg.PublishRate, bound, stop)
	}()
	stopPub := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-pubDone
	}
	defer stopPub()
	r.setStatus("publishing")
	if err := SleepCtx(ctx, cfg.Warmup); err != nil {
		return err
	}
	rp0, _ := r.c.scrape(ctx, replayedMessagesMetric)
	rs0, _ := r.c.scrape(ctx, replaysMetric)
	// Every stream drops at once, then all come back with their Last-Event-ID.
	for _, g := range []int{groupFirst, groupAgain} {
		if err := r.fleet.CloseGroup(g); err != nil {
			return err
		}
	}
	if err := SleepCtx(ctx, cfg.Away); err != nil {
		return err
	}
	ph, err = r.stormPhase(ctx, storm, "reconnect")
	res.Reconnect = ph
	if err != nil {
		return err
	}
	rp1, _ := r.c.scrape(ctx, replayedMessagesMetric)
	rs1, _ := r.c.scrape(ctx, replaysMetric)
	res.ServerReplayed, res.ServerReplays = rp1-rp0, rs1-rs0
	if ph.Seconds > 0 {
		res.ReplayedPerSec = res.ServerReplayed / ph.Seconds
	}
	r.setStatus("tail")
	if err := SleepCtx(ctx, cfg.Tail); err != nil {
		return err
	}
	stopPub()
	r.setStatus("drain")
	t, err := r.waitDelivered(ctx, pub.last.Load(), cfg.Drain)
	res.Tracked, res.PublishErrors, res.LastPublishErr = t, pub.errs.Load(), pub.lastError()
	res.PublishRate = pub.achieved()
	if err != nil {
		return err
	}
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return err
	}
	s1 := r.c.sampleServer(ctx, int64(cfg.Streams))
	res.RSSEnd, res.ServerCPU = s1.RSSBytes, s1.CPUSeconds-s0.CPUSeconds
	res.HistoryBytes, _ = r.c.scrape(ctx, historyBytesMetric)
	return nil
}

// WriteTable prints the summary table.
func (s *ResumeReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "resume: %d streams on channel %q, %d client process(es), %.0f publishes/s, warmup %v, tail %v\n",
		s.Streams, ResumeChannel, s.Procs, s.PublishRate, s.Warmup, s.Tail)
	for _, r := range s.Runs {
		fmt.Fprintf(w, "  %s:\n", r.Server)
		for _, p := range []StormPhase{r.Connect, r.Reconnect} {
			fmt.Fprintf(w, "    %-9s %d ready in %.2fs = %.0f streams/s (all ready %v; shed %d, failed %d, other closes %d)\n",
				p.Name, p.Ready, p.Seconds, p.StreamsPerSec, p.AllReady, p.Shed, p.Failed, p.OtherClosed)
		}
		writeTracked(w, r.Tracked, r.PublishErrors, r.LastPublishErr)
		fmt.Fprintf(w, "    publishes achieved %.1f/s (asked %.0f/s)\n", r.PublishRate, s.PublishRate)
		if r.ServerReplays > 0 || r.HistoryBytes > 0 {
			fmt.Fprintf(w, "    gateway: %.0f replays, %.0f replayed events = %.0f replayed/s over the storm; history %.0f B\n",
				r.ServerReplays, r.ServerReplayed, r.ReplayedPerSec, r.HistoryBytes)
		}
		fmt.Fprintf(w, "    gateway RSS: %s connected, %s at the end; CPU %.2fs; exit %s\n",
			mib(r.RSSConnected), mib(r.RSSEnd), r.ServerCPU, r.GatewayExit)
	}
	if s.StormRatio > 0 {
		fmt.Fprintf(w, "  reconnect storm with history / without: %.2f (target >= 0.8)\n", s.StormRatio)
		fmt.Fprintf(w, "  RSS with history - without (end): %s\n", mib(s.HistoryRSS))
	}
}

func writeTracked(w io.Writer, t Tracked, pubErrs int64, lastErr string) {
	fmt.Fprintf(w, "    %d streams x %d publishes: lost %d (missing at the end %d), duplicated %d, resync %d; "+
		"resumed connections %d, events before ready on them %d\n",
		t.Streams, t.Published, t.Lost, t.Missing, t.Duplicated, t.Resyncs, t.Resumed, t.Replayed)
	if pubErrs > 0 {
		fmt.Fprintf(w, "    publish attempts failed %d (retried), last: %s\n", pubErrs, lastErr)
	}
}
