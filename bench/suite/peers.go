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

// peersCharts are the peers run's charts: the gateway and nginx+nchan as
// deployed, measured in the same run.
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
	// Workers is nginx's worker count in its per-core configuration (0: the
	// machine's cores).
	Workers int
}

// DefaultSaturatedRate is the peers run's saturated publish rate (issue 6's
// second rate).
const DefaultSaturatedRate = 20

// PeersResults is one peers run: the gateway (with its callback backend)
// and nginx+nchan as deployed, master + 1 worker and master + one worker per
// core, under the same load.
type PeersResults struct {
	Machine       Machine     `json:"machine"`
	Started       time.Time   `json:"started"`
	Seconds       float64     `json:"seconds"`
	Streams       int         `json:"streams"`
	SaturatedRate float64     `json:"saturated_rate"`
	Workers       int         `json:"nginx_workers_per_core"`
	NginxVersion  string      `json:"nginx_version"`
	NginxConf     string      `json:"nginx_conf"` // the per-core one; the other differs in worker_processes only
	Command       string      `json:"command"`
	Commands      []string    `json:"commands"`
	Gateway       *ServerRuns `json:"gateway"`
	Nchan1        *ServerRuns `json:"nchan_1_worker"`
	NchanN        *ServerRuns `json:"nchan_workers_per_core"`
}

// servers are the runs in table order.
func (r *PeersResults) servers() []*ServerRuns {
	var out []*ServerRuns
	for _, s := range []*ServerRuns{r.Gateway, r.Nchan1, r.NchanN} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// nchanConf is the nginx configuration as nchan is deployed: a master
// process (its PID is the one sampled; procstat sums its workers) and
// {{WORKERS}} workers, loopback only, subscribers at /sub/<channel> as
// EventSource, publisher at /pub/<channel> on another port.
const nchanConf = `load_module {{MODULE}};
daemon off;
worker_processes {{WORKERS}};
worker_rlimit_nofile {{FILES}};
error_log {{DIR}}/error.log warn;
pid {{DIR}}/nginx.pid;
events { worker_connections {{FILES}}; }
http {
  access_log off;
  client_body_temp_path {{DIR}}/body;
  proxy_temp_path {{DIR}}/proxy;
  fastcgi_temp_path {{DIR}}/fastcgi;
  uwsgi_temp_path {{DIR}}/uwsgi;
  scgi_temp_path {{DIR}}/scgi;
  server {
    listen {{SUB}};
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

// Peers runs hold, fan-out (1/s and saturated) and storm against the
// gateway and nginx+nchan (master + 1 worker, master + one per core), and
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
	if err := s.nchanRuns(ctx, pc, 1, res.Nchan1, nil); err != nil {
		return err
	}
	if err := s.gatewayPeer(ctx, pc, res.Gateway); err != nil {
		return err
	}
	return s.nchanRuns(ctx, pc, pc.Workers, res.NchanN, &res.NginxConf)
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

// peersStormProcs is the storm's client processes in the peers run (issue
// 18's measurement: two load processes, 64 connects in flight each).
const peersStormProcs = 2

// gatewayPeer runs the peers scenarios against the gateway with its bench
// backend, both fresh.
func (s *suiteRun) gatewayPeer(ctx context.Context, pc *PeersConfig, r *ServerRuns) error {
	cfg := s.cfg
	be, err := startBenchServer(cfg.BenchExe, "backend", "--listen", "127.0.0.1:0", "--bindings", channel,
		"--max-duration", cfg.MaxDuration.String())
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
	s.res.Commands = append(s.res.Commands,
		quoteArgs([]string{"ssegw-bench", "backend", "--listen", be.addr("listen"), "--bindings", channel}),
		strings.Join(gw.env, " ")+" ssegw")
	t := target{name: "gateway", stream: netip.MustParseAddrPort(gw.listen), control: "http://" + gw.control,
		metricsURL: "http://" + gw.control + "/metrics", pid: gw.PID(), backendURL: backendURL, backendPID: be.PID()}
	return s.peerRuns(ctx, pc, t, r, false)
}

// nchanRuns starts nginx+nchan with workers workers and runs the peers
// scenarios against it.
func (s *suiteRun) nchanRuns(ctx context.Context, pc *PeersConfig, workers int, r *ServerRuns, confOut *string) error {
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
	conf := strings.NewReplacer("{{MODULE}}", pc.Module, "{{DIR}}", dir, "{{SUB}}", sub, "{{PUB}}", pub,
		"{{WORKERS}}", fmt.Sprint(workers), "{{FILES}}", fmt.Sprint(nginxFiles),
		"{{PING}}", fmt.Sprint(max(1, int(cfg.Heartbeat/time.Second)))).Replace(nchanConf)
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
	s.res.Commands = append(s.res.Commands, fmt.Sprintf("nginx -p %s -c %s   # the config below, worker_processes %d", dir, confPath, workers))
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
	g, n1, nn := FiguresOf(res.Gateway), FiguresOf(res.Nchan1), FiguresOf(res.NchanN)
	ps := peerSaturated(res)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("_Generated by `ssegw-bench peers` (`make bench-peers`); do not edit by hand between the peers markers._\n\n")
	w("- Machine: %s, %d cores, Linux %s; %s (Debian package, nchan module from libnginx-mod-nchan) as deployed: a master process and 1 worker, then a master and %d workers (one per core); CPU and RSS summed over nginx's process tree. EventSource ping / heartbeat every 1 s on every server\n",
		res.Machine.CPU, res.Machine.Cores, res.Machine.Kernel, res.NginxVersion, res.Workers)
	w("- The gateway calls the bench backend for every connect (and disconnect); the backend's CPU is not in the gateway's and is shown apart\n")
	w("- Date: %s; took %.0f s; %s streams; every server measured in the same run under the same load (nchan 1 worker, gateway, nchan %d workers)\n\n",
		res.Started.Format("2006-01-02 15:04 MST"), res.Seconds, commas(int64(res.Streams)), res.Workers)
	nName := fmt.Sprintf("nchan, %d workers", res.Workers)
	w("| figure | gateway | nchan, 1 worker | %s | gateway / nchan's best |\n|---|---:|---:|---:|---:|\n", nName)
	row := func(name string, a, b, c float64, unit string, lowerBetter bool) {
		best := bestOf(b, c, lowerBetter)
		w("| %s | %s | %s | %s | %s |\n", name, fmtNum(a, unit), fmtNum(b, unit), fmtNum(c, unit), ratio(a, best))
	}
	row("RSS per idle stream, slope N/3→N", g.RSSPerStream, n1.RSSPerStream, nn.RSSPerStream, " B", true)
	row("server CPU, N idle streams, 1 s heartbeat (% of one core)", g.HoldCPUPct, n1.HoldCPUPct, nn.HoldCPUPct, " %", true)
	row("publish to N subscribers, 1/s: delivery latency p99", g.FanoutP99, n1.FanoutP99, nn.FanoutP99, " ms", true)
	row("fan-out deliveries per server CPU-second, 1/s", g.DeliveriesPerCPUSec, n1.DeliveriesPerCPUSec, nn.DeliveriesPerCPUSec, "", false)
	row(fmt.Sprintf("publish at %g/s (saturated): delivery latency p99", res.SaturatedRate), ps[0].p99, ps[1].p99, ps[2].p99, " ms", true)
	row(fmt.Sprintf("fan-out deliveries per server CPU-second, %g/s", res.SaturatedRate), ps[0].perCPU, ps[1].perCPU, ps[2].perCPU, "", false)
	row("accept latency p99 while a fan-out runs (1/s)", g.AcceptP99, n1.AcceptP99, nn.AcceptP99, " ms", true)
	row("streams set up per second (storm, connect phase)", g.StreamsPerSec, n1.StreamsPerSec, nn.StreamsPerSec, "/s", false)
	row("server CPU per stream set up (connect phase; gateway: callback included, backend excluded)", g.StormCPUPerStreamUS, n1.StormCPUPerStreamUS, nn.StormCPUPerStreamUS, " µs", true)
	w("\n")
	bestCPU := bestOf(n1.StormCPUPerStreamUS, nn.StormCPUPerStreamUS, true)
	bestRate := bestOf(n1.StreamsPerSec, nn.StreamsPerSec, false)
	if !math.IsNaN(bestCPU) && !math.IsNaN(g.StormCPUPerStreamUS) {
		w("Issue 18's targets in this run: CPU per stream set up ≤ 1.2× nchan's best (%s, gateway %s): **%s**; streams/s ≥ nchan's best (%s/s, gateway %s/s): **%s**.\n\n",
			fmtNum(bestCPU, " µs"), fmtNum(g.StormCPUPerStreamUS, " µs"), metOrMissed(g.StormCPUPerStreamUS <= 1.2*bestCPU),
			commas(int64(bestRate)), commas(int64(g.StreamsPerSec)), metOrMissed(g.StreamsPerSec >= bestRate))
	}
	for _, r := range res.servers() {
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
		w("\nnginx.conf (written to a temporary directory; the 1-worker run differs only in `worker_processes 1`):\n\n```nginx\n%s```\n", res.NginxConf)
	}
	return b.String()
}

// saturatedFigures are a server's saturated fan-out figures.
type saturatedFigures struct{ p99, perCPU float64 }

func peerSaturated(res *PeersResults) [3]saturatedFigures {
	var out [3]saturatedFigures
	for i, r := range []*ServerRuns{res.Gateway, res.Nchan1, res.NchanN} {
		out[i] = saturatedFigures{nan(), nan()}
		if r == nil || r.FanoutSaturated == nil {
			continue
		}
		if f := r.FanoutSaturated; f != nil {
			out[i] = saturatedFigures{f.Latency.P99, f.DeliveriesPerCPUSec}
			if f.ServerCPU <= 0 { // a worker exited and was replaced: its CPU went with it
				out[i].perCPU = nan()
			}
		}
	}
	return out
}

// bestOf is the better of two figures (NaN when both are missing).
func bestOf(a, b float64, lowerBetter bool) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	case lowerBetter:
		return math.Min(a, b)
	}
	return math.Max(a, b)
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
