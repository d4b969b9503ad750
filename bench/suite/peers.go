package suite

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"ssegw/bench/fleet"
	"ssegw/bench/gwproc"
	"ssegw/bench/scenario"
)

const (
	// DefaultNginx and DefaultNchanModule are where Debian's nginx and
	// libnginx-mod-nchan packages put them.
	DefaultNginx       = "/usr/sbin/nginx"
	DefaultNchanModule = "/usr/lib/nginx/modules/ngx_nchan_module.so"
	// nginxFiles is nginx's open-file limit in the peers run: the process
	// limit here is 20,000, and 15,000 streams need headroom.
	nginxFiles = 19500
	// peersResultsJSON is the peers run's raw reports under ResultsDir.
	peersResultsJSON = "peers.json"
)

// peersCharts are the peers run's charts: the gateway and nginx+nchan (as
// deployed, and tuned), measured in the same run.
var peersCharts = []chartSpec[*PeersResults]{
	{"peers-memory-per-stream.svg", "peers: memory per stream", func(r *PeersResults) Chart {
		return memoryChartOf("Peers: server memory per idle stream (hold steps)", r.servers())
	}},
	{"peers-fanout-latency-cdf.svg", "peers: fan-out latency", func(r *PeersResults) Chart {
		return latencyChartOf("Peers: fan-out delivery latency at 1/s, cumulative", r.servers())
	}},
}

// PeersConfig configures the peers run. The suite's Config supplies sizes
// and durations; Nginx and Module locate the binaries.
type PeersConfig struct {
	Config
	Nginx, Module string
	// SaturatedRate is the publish rate of the saturated fan-out (0:
	// DefaultSaturatedRate): more than any of the servers delivers to N
	// streams, so deliveries per CPU-second are at their ceiling.
	SaturatedRate float64
	// Workers is nginx's worker count in its per-core configurations (0: the
	// machine's cores).
	Workers int
	// NoTuned skips the tuned nginx+nchan run (Workers workers, listen
	// backlog 4096, multi_accept on).
	NoTuned bool
	// NoGatewayPipelined skips the second gateway storm, with callbacks
	// pipelined (pipelinedEnv).
	NoGatewayPipelined bool
}

// PipelinedConcurrency and PipelinedDepth are the CALLBACK_CONCURRENCY and
// CALLBACK_PIPELINE of the peers run's second gateway storm: the recommended
// storm setting for a fast backend (README "Connect storms"). Few workers
// let the connects queue behind them, so each worker writes up to 32 of them
// to its backend connection at once: about 50% more streams set up per
// second at about 35% less CPU per stream, on the gateway and the backend,
// than the defaults (256 workers, no pipelining).
const (
	PipelinedConcurrency = 16
	PipelinedDepth       = 32
)

// pipelinedEnv is the pipelined gateway's extra environment.
var pipelinedEnv = []string{fmt.Sprintf("CALLBACK_CONCURRENCY=%d", PipelinedConcurrency),
	fmt.Sprintf("CALLBACK_PIPELINE=%d", PipelinedDepth)}

// DefaultSaturatedRate is the peers run's saturated publish rate (issue 6's
// second rate).
const DefaultSaturatedRate = 20

// PeersResults is one peers run: the gateway (with its callback backend)
// and nginx+nchan as Debian deploys it (listen backlog 511, multi_accept
// off), master + 1 worker and master + one worker per core, then nchan's
// best configuration, master + one worker per core with a listen backlog of
// 4096 on the subscriber port and multi_accept on (NchanTuned; nil in a run
// without it, or from before it), all under the same load. GatewayPipelined
// is a second gateway and backend, fresh, with callbacks pipelined
// (GatewayPipelinedEnv), through the storm only (nil in a run without it,
// or from before it).
type PeersResults struct {
	Machine       Machine     `json:"machine"`
	Started       time.Time   `json:"started"`
	Seconds       float64     `json:"seconds"`
	Streams       int         `json:"streams"`
	SaturatedRate float64     `json:"saturated_rate"`
	Workers       int         `json:"nginx_workers_per_core"`
	NginxVersion  string      `json:"nginx_version"`
	NginxConf     string      `json:"nginx_conf"` // the per-core one; 1 worker differs in worker_processes, tuned in backlog and multi_accept
	Command       string      `json:"command"`
	Commands      []string    `json:"commands"`
	Gateway       *ServerRuns `json:"gateway"`
	Nchan1        *ServerRuns `json:"nchan_1_worker"`
	NchanN        *ServerRuns `json:"nchan_workers_per_core"`
	NchanTuned    *ServerRuns `json:"nchan_tuned"`
	// GatewayPipelined has only Storm set.
	GatewayPipelined *ServerRuns `json:"gateway_pipelined"`
	// GatewayPipelinedEnv is its gateway's environment beyond the first
	// gateway's (pipelinedEnv when it ran).
	GatewayPipelinedEnv []string `json:"gateway_pipelined_env,omitempty"`
}

// servers are the runs in table order (the charts' lines; not the
// pipelined gateway, which only storms).
func (r *PeersResults) servers() []*ServerRuns {
	var out []*ServerRuns
	for _, s := range []*ServerRuns{r.Gateway, r.Nchan1, r.NchanN, r.NchanTuned} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// stormRuns are the runs with a storm note: servers with the pipelined
// gateway after the gateway.
func (r *PeersResults) stormRuns() []*ServerRuns {
	var out []*ServerRuns
	for _, s := range []*ServerRuns{r.Gateway, r.GatewayPipelined, r.Nchan1, r.NchanN, r.NchanTuned} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// nchanConf is the nginx configuration as nchan is deployed: a master
// process (its PID is the one sampled; procstat sums its workers) and
// {{WORKERS}} workers, loopback only, subscribers at /sub/<channel> as
// EventSource, publisher at /pub/<channel> on another port. {{MULTI}} and
// {{BACKLOG}} are empty as Debian deploys it (multi_accept off, listen
// backlog 511), nchanTunedMulti and nchanTunedBacklog in the tuned run.
const nchanConf = `load_module {{MODULE}};
daemon off;
worker_processes {{WORKERS}};
worker_rlimit_nofile {{FILES}};
error_log {{DIR}}/error.log warn;
pid {{DIR}}/nginx.pid;
events { worker_connections {{FILES}};{{MULTI}} }
http {
  access_log off;
  client_body_temp_path {{DIR}}/body;
  proxy_temp_path {{DIR}}/proxy;
  fastcgi_temp_path {{DIR}}/fastcgi;
  uwsgi_temp_path {{DIR}}/uwsgi;
  scgi_temp_path {{DIR}}/scgi;
  server {
    listen {{SUB}}{{BACKLOG}};
    location ~ ^/sub/(\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_eventsource_ping_interval {{PING}};
      nchan_eventsource_ping_comment "ping";
    }
  }
  server {
    listen {{PUB}};
    location = /healthz { return 200 "ok\n"; }
    location ~ ^/pub/(\w+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length 16;
      nchan_message_timeout 30s;
    }
  }
}
`

// nchanTunedBacklog and nchanTunedMulti are what the tuned run adds to
// nchanConf (nchan's best configuration for the storm): with Debian's listen
// backlog (511) and one accept per wakeup, the storm's connects overflow
// nginx's listen queue and the dropped SYNs wait 1 s, 3 s, ... to be
// retried; with these it does not overflow (bench/scripts/nchan-storm.sh
// measured it by hand).
const (
	nchanTunedBacklog = " backlog=4096"
	nchanTunedMulti   = " multi_accept on;"
)

// nchanConfig is nchanConf filled in: nginx's files under dir, subscribers
// on sub, the publisher on pub, EventSource pings every ping seconds; tuned
// adds nchanTunedBacklog and nchanTunedMulti.
func nchanConfig(module, dir, sub, pub string, workers, ping int, tuned bool) string {
	backlog, multi := "", ""
	if tuned {
		backlog, multi = nchanTunedBacklog, nchanTunedMulti
	}
	return strings.NewReplacer("{{MODULE}}", module, "{{DIR}}", dir, "{{SUB}}", sub, "{{PUB}}", pub,
		"{{WORKERS}}", fmt.Sprint(workers), "{{FILES}}", fmt.Sprint(nginxFiles), "{{PING}}", fmt.Sprint(ping),
		"{{BACKLOG}}", backlog, "{{MULTI}}", multi).Replace(nchanConf)
}

// Peers runs hold, fan-out (1/s and saturated) and storm against the
// gateway and nginx+nchan (master + 1 worker, master + one per core, and
// master + one per core tuned unless pc.NoTuned), the storm again against a
// fresh gateway with callbacks pipelined unless pc.NoGatewayPipelined, and
// regenerates the peers block of cfg.Out.
func Peers(ctx context.Context, pc PeersConfig) (*PeersResults, error) {
	cfg := &pc.Config
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if pc.Nginx == "" {
		pc.Nginx = DefaultNginx
	}
	if pc.Module == "" {
		pc.Module = DefaultNchanModule
	}
	if pc.SaturatedRate <= 0 {
		pc.SaturatedRate = DefaultSaturatedRate
	}
	if pc.Workers <= 0 {
		pc.Workers = runtime.NumCPU()
	}
	for _, f := range []string{pc.Nginx, pc.Module} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("suite: %s: %w (apt-get install -y nginx libnginx-mod-nchan)", f, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()
	res := &PeersResults{Machine: machine(), Started: time.Now().UTC(), Streams: cfg.Streams, Command: cfg.Command,
		SaturatedRate: pc.SaturatedRate, Workers: pc.Workers,
		Gateway: &ServerRuns{Name: "gateway"}, Nchan1: &ServerRuns{Name: "nginx+nchan, 1 worker"},
		NchanN: &ServerRuns{Name: fmt.Sprintf("nginx+nchan, %d workers", pc.Workers)}}
	if !pc.NoTuned {
		res.NchanTuned = &ServerRuns{Name: fmt.Sprintf("nginx+nchan, %d workers, tuned", pc.Workers)}
	}
	if !pc.NoGatewayPipelined {
		res.GatewayPipelined = &ServerRuns{Name: "gateway, callbacks pipelined"}
		res.GatewayPipelinedEnv = pipelinedEnv
	}
	if out, err := runOutput(pc.Nginx, "-v"); err == nil {
		res.NginxVersion = strings.TrimSpace(out)
	}
	s := &suiteRun{cfg: cfg, spawn: &fleet.Spawn{Path: cfg.BenchExe, Args: []string{fleet.WorkerCommand}},
		res: &Results{}}
	err := s.peers(ctx, &pc, res)
	res.Seconds = time.Since(res.Started).Seconds()
	res.Commands = append(res.Commands, s.res.Commands...)
	if err != nil {
		return res, err
	}
	return res, writePeers(cfg, res)
}

func (s *suiteRun) peers(ctx context.Context, pc *PeersConfig, res *PeersResults) error {
	if err := s.nchanRuns(ctx, pc, 1, false, res.Nchan1, nil); err != nil {
		return err
	}
	if err := s.gatewayPeer(ctx, pc, res.Gateway); err != nil {
		return err
	}
	if res.GatewayPipelined != nil {
		if err := s.gatewayPipelinedStorm(ctx, res.GatewayPipelined, res.GatewayPipelinedEnv); err != nil {
			return err
		}
	}
	if err := s.nchanRuns(ctx, pc, pc.Workers, false, res.NchanN, &res.NginxConf); err != nil {
		return err
	}
	if res.NchanTuned == nil {
		return nil
	}
	return s.nchanRuns(ctx, pc, pc.Workers, true, res.NchanTuned, nil)
}

// peerRuns runs what the peers block compares on one server: hold, storm
// (on a server that holds nothing and delivers nothing: nchan still flushes
// a saturated fan-out's backlog for tens of seconds after it), fan-out at the
// suite's rate, fan-out saturated.
func (s *suiteRun) peerRuns(ctx context.Context, pc *PeersConfig, t target, r *ServerRuns, readyOnOpen bool) error {
	n := s.cfg.Streams
	if err := s.hold(ctx, t, r); err != nil {
		return err
	}
	if err := s.peerStorm(ctx, t, r, readyOnOpen); err != nil {
		return err
	}

	pubURL := cmp.Or(t.publishURL, t.control+"/internal/publish")
	body := ""
	if t.publishTpl != "" {
		body = " --publish-body " + quoteArgs([]string{t.publishTpl})
	}
	for _, rate := range []float64{s.cfg.PublishRate, pc.SaturatedRate} {
		s.quiesce(ctx, t, t.backendURL)
		s.logf("%s: fanout %d streams at %g/s", t.name, n, rate)
		fan, err := scenario.Fanout(ctx, scenario.FanoutConfig{Common: s.common(t, n, nil),
			PublishURL: pubURL, PublishBody: t.publishTpl, PublishRate: rate, Duration: s.cfg.FanoutDuration,
			LateStreams: s.cfg.LateStreams})
		if rate == s.cfg.PublishRate {
			r.Fanout = fan
		} else {
			r.FanoutSaturated = fan
		}
		if err != nil {
			return fmt.Errorf("%s fanout at %g/s: %w", t.name, rate, err)
		}
		s.record("fanout", t, fmt.Sprintf("--streams %d --procs %d --rate %.0f --publish-url %s%s --publish-rate %g --duration %v --late-streams %d",
			n, s.cfg.Procs, s.cfg.Rate, pubURL, body, rate, s.cfg.FanoutDuration, s.cfg.LateStreams))
	}
	return nil
}

// peerStorm is the peers run's storm step into r.Storm, on a quiet and
// settled server, and records its command: issue 18's measurement, the
// reconnect phase included, the backend's CPU measured apart when t has one.
func (s *suiteRun) peerStorm(ctx context.Context, t target, r *ServerRuns, readyOnOpen bool) error {
	n := s.cfg.Streams
	s.quiesce(ctx, t, t.backendURL)
	if err := scenario.SleepCtx(ctx, s.cfg.Settle); err != nil {
		return err
	}
	s.logf("%s: storm %d streams", t.name, n)
	sc := s.common(t, n, nil)
	sc.Procs = min(peersStormProcs, sc.Procs)
	sc.Client.Rate = scenario.DefaultStormRate
	sc.Client.ReadyOnOpen = readyOnOpen
	st, err := scenario.Storm(ctx, scenario.StormConfig{Common: sc, Reconnect: true, BackendURL: t.backendURL,
		BackendLatency: -1, BackendPID: t.backendPID})
	r.Storm = st
	if err != nil {
		return fmt.Errorf("%s storm: %w", t.name, err)
	}
	flags := fmt.Sprintf("--streams %d --procs %d --rate %d --reconnect", n, sc.Procs, scenario.DefaultStormRate)
	if t.backendURL != "" {
		flags += fmt.Sprintf(" --backend-url %s --backend-pid %d", t.backendURL, t.backendPID)
	}
	if readyOnOpen {
		flags += " --ready-on-open"
	}
	s.record("storm", t, flags)
	return nil
}

// peersStormProcs is the storm's client processes in the peers run (issue
// 18's measurement: two load processes, 64 connects in flight each).
const peersStormProcs = 2

// gatewayPeer runs the peers scenarios against the gateway with its bench
// backend, both fresh.
func (s *suiteRun) gatewayPeer(ctx context.Context, pc *PeersConfig, r *ServerRuns) error {
	t, stop, err := s.startGatewayPeer(ctx, r.Name)
	if err != nil {
		return err
	}
	defer stop()
	return s.peerRuns(ctx, pc, t, r, false)
}

// gatewayPipelinedStorm runs the peers storm, and only it, against a fresh
// gateway with env (pipelinedEnv: callbacks pipelined) and a fresh bench
// backend, exactly as gatewayPeer's storm.
func (s *suiteRun) gatewayPipelinedStorm(ctx context.Context, r *ServerRuns, env []string) error {
	t, stop, err := s.startGatewayPeer(ctx, r.Name, env...)
	if err != nil {
		return err
	}
	defer stop()
	return s.peerStorm(ctx, t, r, false)
}

// startGatewayPeer starts a bench backend and a gateway calling it, with
// extraEnv, records their commands, and returns the target (named name) and
// what stops both.
func (s *suiteRun) startGatewayPeer(ctx context.Context, name string, extraEnv ...string) (target, func(), error) {
	cfg := s.cfg
	be, err := startBenchServer(cfg.BenchExe, "backend", "--listen", "127.0.0.1:0", "--bindings", channel,
		"--max-duration", cfg.MaxDuration.String())
	if err != nil {
		return target{}, nil, err
	}
	backendURL := "http://" + be.addr("listen")
	gw, err := startGateway(ctx, cfg.GatewayExe, backendURL+"/cb", max(1, int(cfg.Heartbeat/time.Second)), extraEnv...)
	if err != nil {
		be.stop()
		return target{}, nil, err
	}
	s.res.Commands = append(s.res.Commands,
		quoteArgs([]string{"ssegw-bench", "backend", "--listen", be.addr("listen"), "--bindings", channel}),
		strings.Join(gw.env, " ")+" ssegw")
	t := target{name: name, stream: netip.MustParseAddrPort(gw.listen), control: "http://" + gw.control,
		metricsURL: "http://" + gw.control + "/metrics", pid: gw.PID(), backendURL: backendURL, backendPID: be.PID()}
	return t, func() { gw.stop(); be.stop() }, nil
}

// nchanRuns starts nginx+nchan with workers workers (tuned: with a listen
// backlog of 4096 and multi_accept on) and runs the peers scenarios against
// it.
func (s *suiteRun) nchanRuns(ctx context.Context, pc *PeersConfig, workers int, tuned bool, r *ServerRuns, confOut *string) error {
	cfg := s.cfg
	dir, err := os.MkdirTemp("", "ssegw-bench-nchan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sub, err := freePort()
	if err != nil {
		return err
	}
	pub, err := freePort()
	if err != nil {
		return err
	}
	conf := nchanConfig(pc.Module, dir, sub, pub, workers, max(1, int(cfg.Heartbeat/time.Second)), tuned)
	if confOut != nil {
		*confOut = conf
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	ng := newProc("nginx", pc.Nginx, []string{"-p", dir, "-c", confPath}, nil)
	ng.cmd.Stdout = ng.log
	if err := ng.start(); err != nil {
		return err
	}
	defer ng.stop() // the master, by its PID; it stops its workers
	if err := gwproc.WaitReady(ctx, "http://"+pub+"/healthz", ng.waited); err != nil {
		errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Errorf("%w: nginx: %v: %s %s", ErrStart, err, ng.log, errLog)
	}
	note := ""
	if tuned {
		note = ", tuned"
	}
	s.res.Commands = append(s.res.Commands, fmt.Sprintf("nginx -p %s -c %s   # the config below, worker_processes %d%s", dir, confPath, workers, note))
	t := target{name: r.Name, stream: netip.MustParseAddrPort(sub), control: "http://" + pub, pid: ng.PID(),
		path: "/sub/" + channel, publishURL: "http://" + pub + "/pub/" + channel, publishTpl: "{{.Data}}"}
	return s.peerRuns(ctx, pc, t, r, true)
}

func writePeers(cfg *Config, res *PeersResults) error {
	dir := cfg.ResultsDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.Out), "bench", "results")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(res) // one line: the histograms would be thousands of indented lines
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, peersResultsJSON), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, c := range peersCharts {
		if err := writeChart(filepath.Join(dir, c.file), c.chart(res)); err != nil {
			return err
		}
	}
	rel, err := filepath.Rel(filepath.Dir(cfg.Out), dir)
	if err != nil {
		rel = dir
	}
	return UpdateFile(cfg.Out, PeersBegin, PeersEnd, PeersMarkdown(res, filepath.ToSlash(rel)))
}

// RenderPeers regenerates cfg.Out's peers block, the peers charts and
// peers.json from a peers.json written by an earlier run (no measuring).
func RenderPeers(cfg Config, from string) (*PeersResults, error) {
	b, err := os.ReadFile(from)
	if err != nil {
		return nil, err
	}
	var res PeersResults
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("suite: %s: %w", from, err)
	}
	return &res, writePeers(&cfg, &res)
}

// PeersMarkdown renders the peers block.
func PeersMarkdown(res *PeersResults, rel string) string {
	cols := peerColumns(res)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("_Generated by `ssegw-bench peers` (`make bench-peers`); do not edit by hand between the peers markers._\n\n")
	w("- Machine: %s, %d cores, Linux %s; %s (Debian package, nchan module from libnginx-mod-nchan) as deployed: a master process and 1 worker, then a master and %d workers (one per core)",
		res.Machine.CPU, res.Machine.Cores, res.Machine.Kernel, res.NginxVersion, res.Workers)
	if res.NchanTuned != nil {
		w(", both with Debian's defaults (listen backlog 511, `multi_accept off`); then nchan's best configuration, \"tuned\": %d workers, `listen ... backlog=4096` on the subscriber port and `multi_accept on` (no listen queue overflow in the storm)",
			res.Workers)
	}
	w("; CPU and RSS summed over nginx's process tree. EventSource ping / heartbeat every 1 s on every server\n")
	w("- The gateway calls the bench backend for every connect (and disconnect); the backend's CPU is not in the gateway's and is shown apart\n")
	pipelined := strings.Join(pipelinedEnvOf(res), ", ")
	if res.GatewayPipelined != nil {
		w("- Callbacks pipelined: after the gateway's steps, a fresh bench backend and a fresh gateway with `%s` (the storm setting README \"Connect storms\" recommends for a fast backend) run the gateway's storm again, and only it\n",
			strings.Join(pipelinedEnvOf(res), " "))
	}
	order := "nchan 1 worker, gateway"
	if res.GatewayPipelined != nil {
		order += ", gateway with callbacks pipelined (storm only)"
	}
	order += fmt.Sprintf(", nchan %d workers", res.Workers)
	if res.NchanTuned != nil {
		order += fmt.Sprintf(", nchan %d workers tuned", res.Workers)
	}
	w("- Date: %s; took %.0f s; %s streams; every server measured in the same run under the same load (%s)\n\n",
		res.Started.Format("2006-01-02 15:04 MST"), res.Seconds, commas(int64(res.Streams)), order)
	w("| figure |")
	for _, c := range cols {
		w(" %s |", c.head)
	}
	w(" gateway / nchan's best |\n|---|%s---:|\n", strings.Repeat("---:|", len(cols)))
	// rowOf writes g in the gateway's column, figure v of every nchan
	// column, and g's ratio to the best nchan column's (lowest or highest,
	// per figure); row writes the gateway's own figure v as g.
	rowOf := func(name, unit string, lowerBetter bool, g float64, v func(peerColumn) float64) {
		w("| %s | %s |", name, fmtNum(g, unit))
		for _, c := range cols[1:] {
			w(" %s |", fmtNum(v(c), unit))
		}
		w(" %s |\n", ratio(g, bestNchan(cols, lowerBetter, v)))
	}
	row := func(name, unit string, lowerBetter bool, v func(peerColumn) float64) {
		rowOf(name, unit, lowerBetter, v(cols[0]), v)
	}
	row("RSS per idle stream, slope N/3→N", " B", true, func(c peerColumn) float64 { return c.f.RSSPerStream })
	row("server CPU, N idle streams, 1 s heartbeat (% of one core)", " %", true, func(c peerColumn) float64 { return c.f.HoldCPUPct })
	row("publish to N subscribers, 1/s: delivery latency p99", " ms", true, func(c peerColumn) float64 { return c.f.FanoutP99 })
	row("fan-out deliveries per server CPU-second, 1/s", "", false, func(c peerColumn) float64 { return c.f.DeliveriesPerCPUSec })
	row(fmt.Sprintf("publish at %g/s (saturated): delivery latency p99", res.SaturatedRate), " ms", true,
		func(c peerColumn) float64 { return c.sat.p99 })
	row(fmt.Sprintf("fan-out deliveries per server CPU-second, %g/s", res.SaturatedRate), "", false,
		func(c peerColumn) float64 { return c.sat.perCPU })
	row("accept latency p99 while a fan-out runs (1/s)", " ms", true, func(c peerColumn) float64 { return c.f.AcceptP99 })
	stormRate := func(c peerColumn) float64 { return c.f.StreamsPerSec }
	stormCPU := func(c peerColumn) float64 { return c.f.StormCPUPerStreamUS }
	row("streams set up per second (storm, connect phase)", "/s", false, stormRate)
	row("server CPU per stream set up (connect phase; gateway: callback included, backend excluded)", " µs", true, stormCPU)
	p := FiguresOf(res.GatewayPipelined)
	if res.GatewayPipelined != nil {
		rowOf("streams set up per second, callbacks pipelined ("+pipelined+")", "/s", false, p.StreamsPerSec, stormRate)
		rowOf("server CPU per stream set up, callbacks pipelined ("+pipelined+")", " µs", true, p.StormCPUPerStreamUS, stormCPU)
	}
	w("\n")
	g := cols[0].f
	bestCPU, bestRate := bestNchan(cols, true, stormCPU), bestNchan(cols, false, stormRate)
	switch {
	case math.IsNaN(bestCPU):
	case res.GatewayPipelined != nil:
		// target is one configuration's figure against issue 18's bound.
		target := func(v float64, unit string, ok bool) string {
			if math.IsNaN(v) {
				return "not measured"
			}
			return fmt.Sprintf("%s **%s**", fmtNum(v, unit), metOrMissed(ok))
		}
		w("Issue 18's targets in this run, for both gateway configurations: CPU per stream set up ≤ 1.2× nchan's best (%s): default callbacks %s, callbacks pipelined (%s) %s; streams/s ≥ nchan's best (%s/s): default callbacks %s, callbacks pipelined %s.\n\n",
			fmtNum(bestCPU, " µs"), target(g.StormCPUPerStreamUS, " µs", g.StormCPUPerStreamUS <= 1.2*bestCPU),
			pipelined, target(p.StormCPUPerStreamUS, " µs", p.StormCPUPerStreamUS <= 1.2*bestCPU),
			commas(int64(bestRate)), target(g.StreamsPerSec, "/s", g.StreamsPerSec >= bestRate),
			target(p.StreamsPerSec, "/s", p.StreamsPerSec >= bestRate))
	case !math.IsNaN(g.StormCPUPerStreamUS):
		w("Issue 18's targets in this run: CPU per stream set up ≤ 1.2× nchan's best (%s, gateway %s): **%s**; streams/s ≥ nchan's best (%s/s, gateway %s/s): **%s**.\n\n",
			fmtNum(bestCPU, " µs"), fmtNum(g.StormCPUPerStreamUS, " µs"), metOrMissed(g.StormCPUPerStreamUS <= 1.2*bestCPU),
			commas(int64(bestRate)), commas(int64(g.StreamsPerSec)), metOrMissed(g.StreamsPerSec >= bestRate))
	}
	for _, r := range res.stormRuns() {
		if st := r.Storm; st != nil && len(st.Phases) > 0 {
			p := st.Phases[0]
			w("- %s storm: connect %s/s, reconnect %s/s; ready latency p50 %.1f ms, p99 %.1f ms", r.Name, commas(int64(p.StreamsPerSec)),
				commas(int64(phaseRate(st, 1))), st.ReadyLatency.P50, st.ReadyLatency.P99)
			if p.BackendCPUPerStreamUS >= 0 {
				w("; the backend's CPU per stream set up %.1f µs (not in the gateway's)", p.BackendCPUPerStreamUS)
			}
			w(".\n")
		}
	}
	for _, r := range res.servers() {
		if f := r.Fanout; f != nil {
			w("- %s fan-out 1/s: %s of %s expected deliveries, p50 %.1f ms, max %.1f ms.\n", r.Name, commas(f.Delivered), commas(f.Expected),
				f.Latency.P50, f.Latency.Max)
		}
		if f := r.FanoutSaturated; f != nil {
			w("- %s fan-out %g/s: %s of %s expected deliveries (%d streams open, %d publish errors), p50 %.1f ms, max %.1f ms; %.0f s for %d publishes.",
				r.Name, res.SaturatedRate, commas(f.Delivered), commas(f.Expected), f.Streams, f.PublishErrors, f.Latency.P50, f.Latency.Max,
				f.Seconds, f.Publishes)
			if f.ServerCPU <= 0 {
				w(" Its CPU reading went backwards (%.2f s): a worker exited during the run and the master started another, so its CPU figure is void.", f.ServerCPU)
			}
			w("\n")
		}
	}
	w("\nnchan counts a stream ready when its 200 event-stream head arrives (`--ready-on-open`: it sends no `ready` event); the gateway when its `ready` event arrives, after the connect callback.\n\n")
	chartLinks(&b, rel, peersCharts)
	w("Raw reports: [`%s/%s`](%s/%s).\n\nCommands:\n\n```\n%s\n", rel, peersResultsJSON, rel, peersResultsJSON, res.Command)
	for _, c := range res.Commands {
		w("%s\n", c)
	}
	w("```\n")
	if res.NginxConf != "" {
		w("\nnginx.conf (written to a temporary directory; the 1-worker run differs only in `worker_processes 1`")
		if res.NchanTuned != nil {
			w(", the tuned run only in `listen ...%s;` on the subscriber port (the first server) and `%s` in `events`",
				nchanTunedBacklog, strings.TrimSpace(nchanTunedMulti))
		}
		w("):\n\n```nginx\n%s```\n", res.NginxConf)
	}
	return b.String()
}

// pipelinedEnvOf is the pipelined gateway's extra environment; a results
// file with the run but not its environment gets today's (pipelinedEnv).
func pipelinedEnvOf(res *PeersResults) []string {
	if len(res.GatewayPipelinedEnv) == 0 {
		return pipelinedEnv
	}
	return res.GatewayPipelinedEnv
}

// peerColumn is one server's column of the peers table.
type peerColumn struct {
	head string
	f    Figures
	sat  saturatedFigures
}

// peerColumns are the peers table's columns: the gateway, nchan with 1
// worker and with one per core (a dash where not measured), then nchan tuned
// only if it ran (a run without it, or from before it, has none).
func peerColumns(res *PeersResults) []peerColumn {
	col := func(head string, r *ServerRuns) peerColumn { return peerColumn{head, FiguresOf(r), saturatedOf(r)} }
	cols := []peerColumn{col("gateway", res.Gateway), col("nchan, 1 worker", res.Nchan1),
		col(fmt.Sprintf("nchan, %d workers", res.Workers), res.NchanN)}
	if res.NchanTuned != nil {
		cols = append(cols, col(fmt.Sprintf("nchan, %d workers, tuned", res.Workers), res.NchanTuned))
	}
	return cols
}

// bestNchan is the best of figure v over the nchan columns (all but the
// first, the gateway's).
func bestNchan(cols []peerColumn, lowerBetter bool, v func(peerColumn) float64) float64 {
	var vs []float64
	for _, c := range cols[1:] {
		vs = append(vs, v(c))
	}
	return bestOf(lowerBetter, vs...)
}

// saturatedFigures are a server's saturated fan-out figures.
type saturatedFigures struct{ p99, perCPU float64 }

func saturatedOf(r *ServerRuns) saturatedFigures {
	if r == nil || r.FanoutSaturated == nil {
		return saturatedFigures{nan(), nan()}
	}
	f := r.FanoutSaturated
	out := saturatedFigures{f.Latency.P99, f.DeliveriesPerCPUSec}
	if f.ServerCPU <= 0 { // a worker exited and was replaced: its CPU went with it
		out.perCPU = nan()
	}
	return out
}

// bestOf is the best of figures, the lowest or the highest; missing ones
// (NaN) are skipped (NaN when all are).
func bestOf(lowerBetter bool, vs ...float64) float64 {
	best := nan()
	for _, v := range vs {
		switch {
		case math.IsNaN(v):
		case math.IsNaN(best), lowerBetter && v < best, !lowerBetter && v > best:
			best = v
		}
	}
	return best
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func phaseRate(st *scenario.StormReport, i int) float64 {
	if i < len(st.Phases) {
		return st.Phases[i].StreamsPerSec
	}
	return 0
}
