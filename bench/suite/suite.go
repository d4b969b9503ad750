// Package suite is `ssegw-bench suite`: it starts the gateway, the bench
// backend, the baseline and the ceiling servers as child processes on free
// loopback ports, runs the scenarios against each in one session, and
// regenerates the generated block of BENCHMARKS.md (between
// "<!-- suite:begin -->" and "<!-- suite:end -->") with the DESIGN.md
// section 5 figures, their targets, and the ratios against baseline and
// ceiling, plus SVG charts under bench/results/ (chart.go, drawn with
// gonum.org/v1/plot: one per scenario with a distribution or a curve, listed
// in suiteCharts and peersCharts). Peers (nginx+nchan, peers.go) runs hold,
// storm and fan-out against the gateway and nginx with the nchan module, as
// Debian deploys it (master + 1 worker, master + one worker per core) and
// tuned (one worker per core, listen backlog 4096, multi_accept on), then
// the storm alone against a fresh gateway with callbacks pipelined
// (CALLBACK_CONCURRENCY=16, CALLBACK_PIPELINE=32), and fills the
// "<!-- peers:begin -->" block and its charts. Rabbit (`ssegw-bench rabbit-fanout`, rabbit.go) runs
// a private RabbitMQ broker, the backend and two gateways (with and without
// RABBITMQ_URL) for scenario.RabbitFanout.
//
// What runs where: the suite's own process drives the scenarios (one
// scenario at a time, on the caller's goroutine); load clients run in child
// processes of the bench binary ("ssegw-bench worker", at most
// loadclient.MaxStreamsPerProcess streams each); every server is a child
// process stopped by its PID (SIGTERM, then SIGKILL) when the suite ends, and
// dies with the suite (Pdeathsig) if the suite is killed.
package suite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"ssegw/bench/backend"
	"ssegw/bench/fleet"
	"ssegw/bench/heads"
	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
	"ssegw/bench/scenario"
)

const (
	// DefaultStreams is the full suite's stream count (DESIGN.md section 5).
	DefaultStreams = 15000
	// DefaultProcs spreads the load over this many client processes (each
	// well under the per-process file limit, and the work over both cores).
	DefaultProcs = 3
	// DefaultRate is the connect rate of hold, fanout and unicast (per second,
	// all client processes): the baseline keeps up with it, so every server
	// sees the same arrival pattern.
	DefaultRate = 3000
	// DefaultHeartbeat is the heartbeat of every server in the suite (the CPU
	// figure of DESIGN.md section 5 is "heartbeat every 1 s").
	DefaultHeartbeat = time.Second
	// DefaultMaxDuration bounds the whole suite; its child servers stop by
	// themselves after it too.
	DefaultMaxDuration = 20 * time.Minute
	// channel is the channel every stream is bound to (backend --bindings).
	channel = "bench"
	// streamPath is the request-target of every gateway and bench server stream.
	streamPath = "/events?channel=" + channel
)

// Config configures a suite run.
type Config struct {
	BenchExe   string // the ssegw-bench binary (servers, workers)
	GatewayExe string // the ssegw binary
	Out        string // BENCHMARKS.md to regenerate
	ResultsDir string // charts and suite.json (linked relative to Out's directory)
	Command    string // the command line that ran the suite, for the record

	Streams, Procs int
	Rate           float64
	Settle         time.Duration
	Heartbeat      time.Duration
	HoldDuration   time.Duration
	FanoutDuration time.Duration
	PublishRate    float64
	LateStreams    int
	UnicastTime    time.Duration
	BatchSize      int
	Senders        int
	ChurnDuration  time.Duration
	ChurnRate      float64
	BackendLatency time.Duration // connect callback delay in the storm
	MaxDuration    time.Duration
	Progress       io.Writer // scenario progress lines and suite steps; nil: none

	// Resume configures the resume storm (resume.go).
	Resume ResumeSettings
}

func (c *Config) defaults() error {
	if c.BenchExe == "" || c.GatewayExe == "" || c.Out == "" {
		return errors.New("suite: need the bench and gateway binaries and an output file")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Streams <= 0 {
		c.Streams = DefaultStreams
	}
	if c.Procs <= 0 {
		c.Procs = min(DefaultProcs, max(1, c.Streams/1000))
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	def(&c.Settle, scenario.DefaultSettle)
	def(&c.Heartbeat, DefaultHeartbeat)
	def(&c.HoldDuration, 10*time.Second)
	def(&c.FanoutDuration, 10*time.Second)
	def(&c.UnicastTime, 10*time.Second)
	def(&c.ChurnDuration, 10*time.Second)
	def(&c.MaxDuration, DefaultMaxDuration)
	if c.PublishRate <= 0 {
		c.PublishRate = 1
	}
	if c.LateStreams == 0 {
		c.LateStreams = max(1, c.Streams/150)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.Senders <= 0 {
		c.Senders = 4
	}
	if c.ChurnRate <= 0 {
		c.ChurnRate = 200
	}
	return nil
}

// ServerRuns is everything measured against one server.
type ServerRuns struct {
	Name        string               `json:"name"`
	Hold        *scenario.HoldReport `json:"hold,omitempty"`
	HoldBrowser *scenario.HoldReport `json:"hold_browser_headers,omitempty"`
	// HoldChromium replays the head Chromium's EventSource sends (bench/heads),
	// each stream with its own cookie values and room.
	HoldChromium *scenario.HoldReport   `json:"hold_chromium_head,omitempty"`
	Fanout       *scenario.FanoutReport `json:"fanout,omitempty"`
	// FanoutSaturated is the peers run's fan-out at a publish rate no server
	// keeps up with (PeersConfig.SaturatedRate).
	FanoutSaturated *scenario.FanoutReport  `json:"fanout_saturated,omitempty"`
	Unicast         *scenario.UnicastReport `json:"unicast,omitempty"`
	Storm           *scenario.StormReport   `json:"storm,omitempty"`
	Churn           *scenario.ChurnReport   `json:"churn,omitempty"`
	Errors          []string                `json:"errors,omitempty"`
}

// Results is one suite run.
type Results struct {
	Machine  Machine     `json:"machine"`
	Started  time.Time   `json:"started"`
	Seconds  float64     `json:"seconds"`
	Streams  int         `json:"streams"`
	Procs    int         `json:"client_procs"`
	Command  string      `json:"command"`
	Commands []string    `json:"commands"`
	Gateway  *ServerRuns `json:"gateway"`
	Baseline *ServerRuns `json:"baseline"`
	Ceiling  *ServerRuns `json:"ceiling"`
	Checks   []Check     `json:"checks"`
	// Resume is the resume storm (resume.go); nil in a suite.json from before it.
	Resume *scenario.ResumeReport `json:"resume,omitempty"`
}

// Check is one cross-check of a client-side count against a server's own count.
type Check struct {
	What   string  `json:"what"`
	Client float64 `json:"client"`
	Server float64 `json:"server"`
	OK     bool    `json:"ok"`
}

// Machine describes where the suite ran.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// target is a server under test as the scenarios see it.
type target struct {
	name       string
	stream     netip.AddrPort
	control    string // http://host:port
	metricsURL string
	pid        int
	path       string // stream request-target ("": streamPath)
	publishURL string // ("": control + /internal/publish)
	publishTpl string // publish body template ("": the gateway's JSON)
	backendURL string // the gateway's bench backend ("": none)
	backendPID int    // its process (0: none)
}

// suiteRun holds a running suite.
type suiteRun struct {
	cfg   *Config
	res   *Results
	spawn *fleet.Spawn
}

func (s *suiteRun) logf(format string, a ...any) {
	if s.cfg.Progress != nil {
		fmt.Fprintf(s.cfg.Progress, "suite: "+format+"\n", a...)
	}
}

// Run runs the suite and regenerates cfg.Out's block and the charts.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()
	s := &suiteRun{cfg: &cfg, spawn: &fleet.Spawn{Path: cfg.BenchExe, Args: []string{fleet.WorkerCommand}},
		res: &Results{Machine: machine(), Started: time.Now().UTC(), Streams: cfg.Streams, Procs: cfg.Procs,
			Command: cfg.Command}}
	err := s.run(ctx)
	s.res.Seconds = time.Since(s.res.Started).Seconds()
	if err != nil {
		return s.res, err
	}
	if err := writeOutputs(&cfg, s.res); err != nil {
		return s.res, err
	}
	return s.res, nil
}

func (s *suiteRun) run(ctx context.Context) error {
	cfg := s.cfg
	maxDur := cfg.MaxDuration.String()
	hb := cfg.Heartbeat.String()
	be, err := startBenchServer(cfg.BenchExe, "backend", "--listen", "127.0.0.1:0", "--bindings", channel,
		"--max-duration", maxDur)
	if err != nil {
		return err
	}
	defer be.stop()
	backendURL := "http://" + be.addr("listen")
	gw, err := startGateway(ctx, cfg.GatewayExe, backendURL+"/cb", max(1, int(cfg.Heartbeat/time.Second)))
	if err != nil {
		return err
	}
	defer gw.stop()
	bl, err := startBenchServer(cfg.BenchExe, "baseline", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--heartbeat", hb, "--max-duration", maxDur)
	if err != nil {
		return err
	}
	defer bl.stop()
	cl, err := startBenchServer(cfg.BenchExe, "ceiling", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--heartbeat", hb, "--max-duration", maxDur)
	if err != nil {
		return err
	}
	defer cl.stop()
	s.res.Commands = append(s.res.Commands,
		quoteArgs([]string{"ssegw-bench", "backend", "--listen", be.addr("listen"), "--bindings", channel}),
		strings.Join(gw.env, " ")+" ssegw",
		quoteArgs([]string{"ssegw-bench", "baseline", "--listen", bl.addr("listen"), "--control", bl.addr("control"), "--heartbeat", hb}),
		quoteArgs([]string{"ssegw-bench", "ceiling", "--listen", cl.addr("listen"), "--control", cl.addr("control"), "--heartbeat", hb}))

	gwT := target{name: "gateway", stream: netip.MustParseAddrPort(gw.listen), control: "http://" + gw.control,
		metricsURL: "http://" + gw.control + "/metrics", pid: gw.PID(), backendURL: backendURL,
		backendPID: be.PID()}
	blT := target{name: "baseline", stream: netip.MustParseAddrPort(bl.addr("listen")),
		control: "http://" + bl.addr("control"), pid: bl.PID()}
	blT.metricsURL = blT.control + "/metrics"
	clT := target{name: "ceiling", stream: netip.MustParseAddrPort(cl.addr("listen")),
		control: "http://" + cl.addr("control"), pid: cl.PID()}
	clT.metricsURL = clT.control + "/metrics"

	s.res.Gateway = &ServerRuns{Name: "gateway"}
	s.res.Baseline = &ServerRuns{Name: "baseline"}
	s.res.Ceiling = &ServerRuns{Name: "ceiling"}
	for _, t := range []struct {
		t target
		r *ServerRuns
	}{{gwT, s.res.Gateway}, {blT, s.res.Baseline}, {clT, s.res.Ceiling}} {
		if err := s.holdAndFanout(ctx, t.t, t.r); err != nil {
			return err
		}
	}
	if err := s.gatewayOnly(ctx, gwT, backendURL); err != nil {
		return err
	}
	return s.resume(ctx, gwT, backendURL)
}

// common builds the scenario options for a target.
func (s *suiteRun) common(t target, streams int, headers []string) scenario.Common {
	return scenario.Common{
		Client: loadclient.Config{Target: t.stream, Path: cmp.Or(t.path, streamPath), Headers: headers, Rate: s.cfg.Rate,
			MaxDuration: s.cfg.MaxDuration},
		Streams: streams, Procs: min(s.cfg.Procs, max(1, streams)), Spawn: s.spawn, ServerPID: t.pid,
		MetricsURL: t.metricsURL, MetricsGauge: "go_goroutines", Settle: s.cfg.Settle, Progress: s.cfg.Progress,
	}
}

// HoldSteps are the snapshot steps for n streams: 0, n/6, n/3, 2n/3, n
// (0, 2,500, 5,000, 10,000, 15,000 at the full size).
func HoldSteps(n int) []int { return []int{0, n / 6, n / 3, 2 * n / 3, n} }

func (s *suiteRun) holdAndFanoutAt(ctx context.Context, t target, r *ServerRuns, path, pubURL, tpl string) error {
	t.path, t.publishURL, t.publishTpl = path, pubURL, tpl
	return s.holdAndFanout(ctx, t, r)
}

// hold runs the hold scenario on a quiet server into r.Hold, and records its
// command.
func (s *suiteRun) hold(ctx context.Context, t target, r *ServerRuns) error {
	n := s.cfg.Streams
	s.quiesce(ctx, t, t.backendURL)
	s.logf("%s: hold %d streams", t.name, n)
	hold, err := scenario.Hold(ctx, scenario.HoldConfig{Common: s.common(t, n, nil), Steps: HoldSteps(n),
		Duration: s.cfg.HoldDuration})
	r.Hold = hold
	if err != nil {
		return fmt.Errorf("%s hold: %w", t.name, err)
	}
	s.record("hold", t, fmt.Sprintf("--streams %d --procs %d --rate %.0f --steps %s --duration %v --settle %v",
		n, s.cfg.Procs, s.cfg.Rate, ints(HoldSteps(n)), s.cfg.HoldDuration, s.cfg.Settle))
	return nil
}

func (s *suiteRun) holdAndFanout(ctx context.Context, t target, r *ServerRuns) error {
	n := s.cfg.Streams
	pubURL := cmp.Or(t.publishURL, t.control+"/internal/publish")
	if err := s.hold(ctx, t, r); err != nil {
		return err
	}
	s.quiesce(ctx, t, t.backendURL)
	s.logf("%s: fanout %d streams", t.name, n)
	fan, err := scenario.Fanout(ctx, scenario.FanoutConfig{Common: s.common(t, n, nil),
		PublishURL: pubURL, PublishBody: t.publishTpl, PublishRate: s.cfg.PublishRate, Duration: s.cfg.FanoutDuration,
		LateStreams: s.cfg.LateStreams})
	r.Fanout = fan
	if err != nil {
		return fmt.Errorf("%s fanout: %w", t.name, err)
	}
	body := ""
	if t.publishTpl != "" {
		body = " --publish-body " + quoteArgs([]string{t.publishTpl})
	}
	s.record("fanout", t, fmt.Sprintf("--streams %d --procs %d --rate %.0f --publish-url %s%s --publish-rate %g --duration %v --late-streams %d",
		n, s.cfg.Procs, s.cfg.Rate, pubURL, body, s.cfg.PublishRate, s.cfg.FanoutDuration, s.cfg.LateStreams))
	return nil
}

func (s *suiteRun) gatewayOnly(ctx context.Context, t target, backendURL string) error {
	n, r := s.cfg.Streams, s.res.Gateway
	var err error
	if r.HoldBrowser, err = s.holdHead(ctx, backendURL, "browser"); err != nil {
		return err
	}
	if r.HoldChromium, err = s.holdHead(ctx, backendURL, "chromium"); err != nil {
		return err
	}

	s.quiesce(ctx, t, backendURL)
	s.logf("gateway: unicast %d streams", n)
	u, err := scenario.Unicast(ctx, scenario.UnicastConfig{Common: s.common(t, n, nil),
		BatchURL: t.control + "/internal/batch", BackendURL: backendURL, BatchSize: s.cfg.BatchSize,
		Senders: s.cfg.Senders, Duration: s.cfg.UnicastTime})
	r.Unicast = u
	if err != nil {
		return fmt.Errorf("gateway unicast: %w", err)
	}
	s.record("unicast", t, fmt.Sprintf("--streams %d --procs %d --rate %.0f --batch-url %s/internal/batch --backend-url %s --batch-size %d --senders %d --duration %v",
		n, s.cfg.Procs, s.cfg.Rate, t.control, backendURL, s.cfg.BatchSize, s.cfg.Senders, s.cfg.UnicastTime))
	if err := s.checkUnicast(ctx, t, u); err != nil {
		return err
	}

	s.quiesce(ctx, t, backendURL)
	s.logf("gateway: storm %d streams", n)
	sc := s.common(t, n, nil)
	sc.Client.Rate = scenario.DefaultStormRate
	st0, _ := scenario.BackendStats(ctx, backendURL)
	st, err := scenario.Storm(ctx, scenario.StormConfig{Common: sc, Reconnect: true, BackendURL: backendURL,
		BackendLatency: s.cfg.BackendLatency, BackendPID: t.backendPID})
	r.Storm = st
	if err != nil {
		return fmt.Errorf("gateway storm: %w", err)
	}
	s.record("storm", t, fmt.Sprintf("--streams %d --procs %d --rate %d --reconnect --backend-url %s --backend-latency %v --backend-pid %d",
		n, s.cfg.Procs, scenario.DefaultStormRate, backendURL, s.cfg.BackendLatency, t.backendPID))
	if st.Backend != nil {
		ready := int64(0)
		for _, p := range st.Phases {
			ready += p.Ready
		}
		s.check("storm: streams ready (client) vs connects accepted (backend)", float64(ready),
			float64(st.Backend.Accepted-st0.Accepted), ready == st.Backend.Accepted-st0.Accepted)
	}

	s.quiesce(ctx, t, backendURL)
	s.logf("gateway: churn")
	cc := s.common(t, 1, nil)
	cc.MetricsGauge = "ssegw_streams_open"
	ch, err := scenario.Churn(ctx, scenario.ChurnConfig{Common: cc, Rate: s.cfg.ChurnRate, Duration: s.cfg.ChurnDuration,
		MinLife: 200 * time.Millisecond, MaxLife: 2 * time.Second, Seed: 1})
	r.Churn = ch
	if err != nil {
		return fmt.Errorf("gateway churn: %w", err)
	}
	s.record("churn", t, fmt.Sprintf("--open-rate %g --duration %v --min-life 200ms --max-life 2s --metrics-gauge ssegw_streams_open",
		s.cfg.ChurnRate, s.cfg.ChurnDuration))
	return nil
}

// holdHead holds N streams with a browser's head ("browser": the 1 KB
// browser-like block; "chromium": the head Chromium's EventSource sends, each
// stream with its own cookie values and room) on a gateway process of its
// own: a process that ran the other scenarios keeps the memory they mapped,
// and would hand it to these streams for free.
func (s *suiteRun) holdHead(ctx context.Context, backendURL, head string) (*scenario.HoldReport, error) {
	n := s.cfg.Streams
	gw, err := startGateway(ctx, s.cfg.GatewayExe, backendURL+"/cb", max(1, int(s.cfg.Heartbeat/time.Second)))
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	t := target{name: "gateway (a fresh process, same settings)", stream: netip.MustParseAddrPort(gw.listen), control: "http://" + gw.control,
		metricsURL: "http://" + gw.control + "/metrics", pid: gw.PID(), backendURL: backendURL}
	s.quiesce(ctx, t, backendURL)
	s.logf("gateway: hold %d streams with the %s head (a fresh gateway process)", n, head)
	c := s.common(t, n, nil)
	flag := "--head " + head
	switch head {
	case "browser":
		c.Client.Headers = scenario.BrowserHeaders()
	case "chromium":
		if c.Client.Head, err = heads.Chromium(t.stream.String()); err != nil {
			return nil, err
		}
	}
	steps := []int{0, n / 3, n}
	hold, err := scenario.Hold(ctx, scenario.HoldConfig{Common: c, Steps: steps, Duration: s.cfg.HoldDuration})
	if err != nil {
		return hold, fmt.Errorf("gateway hold %s: %w", flag, err)
	}
	s.record("hold", t, fmt.Sprintf("--streams %d --procs %d --rate %.0f --steps %s --duration %v %s",
		n, s.cfg.Procs, s.cfg.Rate, ints(steps), s.cfg.HoldDuration, flag))
	return hold, nil
}

// quiesceWait bounds the wait for the previous scenario's streams to be gone
// from the gateway (its gauge) and the backend (disconnect callbacks).
const quiesceWait = 60 * time.Second

// quiesce waits until the server holds no stream (its ssegw_streams_open
// gauge; servers without /metrics are not waited for) and the backend, if
// any, has seen every disconnect, so one scenario's teardown does not load
// the next.
func (s *suiteRun) quiesce(ctx context.Context, t target, backendURL string) {
	deadline := time.Now().Add(quiesceWait)
	if t.metricsURL == "" { // no gauge to read (nginx+nchan): wait until it stops using CPU
		s.waitIdle(ctx, t, deadline)
		return
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		open, err := procstat.ScrapeGauge(ctx, t.metricsURL, "ssegw_streams_open")
		var st backend.Stats
		var berr error
		if backendURL != "" {
			st, berr = scenario.BackendStats(ctx, backendURL)
		}
		if err == nil && berr == nil && open == 0 && st.Open == 0 {
			return
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	s.logf("%s still busy after %v; going on", t.name, quiesceWait)
}

// idleCPU is the CPU share (of one core, over idleWindow) below which a
// server without a gauge counts as quiet.
const (
	idleCPU    = 0.05
	idleWindow = 500 * time.Millisecond
)

// waitIdle waits until the server's process tree uses less than idleCPU of a
// core over idleWindow (a server still flushing a fan-out backlog would load
// the next scenario), or the deadline.
func (s *suiteRun) waitIdle(ctx context.Context, t target, deadline time.Time) {
	prev, err := procstat.ReadTree(t.pid)
	for err == nil && time.Now().Before(deadline) && ctx.Err() == nil {
		tm := time.NewTimer(idleWindow)
		select {
		case <-ctx.Done():
		case <-tm.C:
		}
		tm.Stop()
		cur, cerr := procstat.ReadTree(t.pid)
		if cerr != nil {
			return
		}
		if (cur.CPUSeconds-prev.CPUSeconds)/idleWindow.Seconds() < idleCPU {
			return
		}
		prev = cur
	}
	if err == nil && time.Now().After(deadline) {
		s.logf("%s still busy after %v; going on", t.name, quiesceWait)
	}
}

// checkUnicast compares the unicast counts with the gateway's own counter.
func (s *suiteRun) checkUnicast(_ context.Context, _ target, u *scenario.UnicastReport) error {
	s.check("unicast: sends accepted (control port) vs delivered (clients)", float64(u.Accepted), float64(u.Delivered),
		u.Accepted == u.Delivered)
	if u.ServerWritten >= 0 {
		s.check("unicast: sends accepted vs events written (gateway /metrics)", float64(u.Accepted), u.ServerWritten,
			float64(u.Accepted) == u.ServerWritten)
	}
	return nil
}

func (s *suiteRun) check(what string, client, server float64, ok bool) {
	s.res.Checks = append(s.res.Checks, Check{What: what, Client: client, Server: server, OK: ok})
}

// record adds the equivalent CLI command of a scenario run.
func (s *suiteRun) record(sub string, t target, flags string) {
	extra := fmt.Sprintf(" --target %s --server-pid %d", t.stream, t.pid)
	if t.path != "" {
		extra += " --path " + t.path
	}
	switch {
	case t.metricsURL == "":
	case sub == "churn":
		extra += " --metrics-url " + t.metricsURL
	default:
		extra += " --metrics-url " + t.metricsURL + " --metrics-gauge go_goroutines"
	}
	s.res.Commands = append(s.res.Commands, fmt.Sprintf("ssegw-bench %s%s %s   # %s", sub, extra, flags, t.name))
}

func ints(v []int) string {
	out := make([]string, len(v))
	for i, n := range v {
		out[i] = fmt.Sprint(n)
	}
	return strings.Join(out, ",")
}
