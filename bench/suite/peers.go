package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ssegw/bench/fleet"
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

// peersCharts are the peers run's charts: nginx+nchan and the ceiling side
// by side, measured in the same run.
var peersCharts = []chartSpec[*PeersResults]{
	{"peers-memory-per-stream.svg", "peers: memory per stream", func(r *PeersResults) Chart {
		return memoryChartOf("Peers: server memory per idle stream (hold steps)", []*ServerRuns{r.Nchan, r.Ceiling})
	}},
	{"peers-fanout-latency-cdf.svg", "peers: fan-out latency", func(r *PeersResults) Chart {
		return latencyChartOf("Peers: fan-out delivery latency, cumulative", []*ServerRuns{r.Nchan, r.Ceiling})
	}},
}

// PeersConfig configures the nginx+nchan run. The suite's Config supplies
// sizes and durations; Nginx and Module locate the binaries.
type PeersConfig struct {
	Config
	Nginx, Module string
}

// PeersResults is one peers run: nginx+nchan and the ceiling, same load.
type PeersResults struct {
	Machine      Machine     `json:"machine"`
	Started      time.Time   `json:"started"`
	Seconds      float64     `json:"seconds"`
	Streams      int         `json:"streams"`
	NginxVersion string      `json:"nginx_version"`
	NginxConf    string      `json:"nginx_conf"`
	Command      string      `json:"command"`
	Commands     []string    `json:"commands"`
	Nchan        *ServerRuns `json:"nchan"`
	Ceiling      *ServerRuns `json:"ceiling"`
}

// nchanConf is the nginx configuration: one process (master_process off, so
// its PID is the one to sample), loopback only, subscribers at
// /sub/<channel> as EventSource, publisher at /pub/<channel> on another port.
const nchanConf = `load_module {{MODULE}};
daemon off;
master_process off;
worker_processes 1;
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

// Peers runs hold and fanout against nginx+nchan and the ceiling, and
// regenerates the peers block of cfg.Out.
func Peers(ctx context.Context, pc PeersConfig) (*PeersResults, error) {
	cfg := &pc.Config
	cfg.GatewayExe = "-" // not used
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if pc.Nginx == "" {
		pc.Nginx = DefaultNginx
	}
	if pc.Module == "" {
		pc.Module = DefaultNchanModule
	}
	for _, f := range []string{pc.Nginx, pc.Module} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("suite: %s: %w (apt-get install -y nginx libnginx-mod-nchan)", f, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()
	res := &PeersResults{Machine: machine(), Started: time.Now().UTC(), Streams: cfg.Streams, Command: cfg.Command,
		Nchan: &ServerRuns{Name: "nginx+nchan"}, Ceiling: &ServerRuns{Name: "ceiling"}}
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
		"{{FILES}}", fmt.Sprint(nginxFiles), "{{PING}}", fmt.Sprint(max(1, int(cfg.Heartbeat/time.Second)))).Replace(nchanConf)
	res.NginxConf = conf
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	ng := newProc("nginx", pc.Nginx, []string{"-p", dir, "-c", confPath}, nil)
	ng.cmd.Stdout = ng.log
	if err := ng.start(); err != nil {
		return err
	}
	defer ng.stop()
	if err := waitHTTP(ctx, "http://"+pub+"/healthz", ng.waited); err != nil {
		errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Errorf("%w: nginx: %v: %s %s", ErrStart, err, ng.log, errLog)
	}
	cl, err := startBenchServer(cfg.BenchExe, "ceiling", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
		"--heartbeat", cfg.Heartbeat.String(), "--max-duration", cfg.MaxDuration.String())
	if err != nil {
		return err
	}
	defer cl.stop()
	s.res.Commands = append(s.res.Commands, fmt.Sprintf("nginx -p %s -c %s   # the config below", dir, confPath))
	nt := target{name: "nginx+nchan", stream: netip.MustParseAddrPort(sub), control: "http://" + pub, pid: ng.PID()}
	ct := target{name: "ceiling", stream: netip.MustParseAddrPort(cl.addr("listen")),
		control: "http://" + cl.addr("control"), pid: cl.PID()}
	ct.metricsURL = ct.control + "/metrics"
	if err := s.holdAndFanoutAt(ctx, nt, res.Nchan, "/sub/"+channel, "http://"+pub+"/pub/"+channel, "{{.Data}}"); err != nil {
		return err
	}
	return s.holdAndFanout(ctx, ct, res.Ceiling)
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
	n, c := FiguresOf(res.Nchan), FiguresOf(res.Ceiling)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("_Generated by `ssegw-bench peers` (`make bench-peers`); do not edit by hand between the peers markers._\n\n")
	w("- Machine: %s, %d cores, Linux %s; %s (Debian package, nchan module from libnginx-mod-nchan), one process (`master_process off`), EventSource ping every 1 s\n",
		res.Machine.CPU, res.Machine.Cores, res.Machine.Kernel, res.NginxVersion)
	w("- Date: %s; took %.0f s; %s streams; the ceiling measured in the same run\n\n", res.Started.Format("2006-01-02 15:04 MST"),
		res.Seconds, commas(int64(res.Streams)))
	w("| figure | nginx+nchan | ceiling | nchan / ceiling |\n|---|---:|---:|---:|\n")
	row := func(name string, a, b float64, unit string) {
		w("| %s | %s | %s | %s |\n", name, fmtNum(a, unit), fmtNum(b, unit), ratio(a, b))
	}
	row("RSS per idle stream, slope N/3→N", n.RSSPerStream, c.RSSPerStream, " B")
	row("server CPU, N idle streams, 1 s ping (% of one core)", n.HoldCPUPct, c.HoldCPUPct, " %")
	row("publish to N subscribers, 1/s: delivery latency p99", n.FanoutP99, c.FanoutP99, " ms")
	row("fan-out deliveries per server CPU-second", n.DeliveriesPerCPUSec, c.DeliveriesPerCPUSec, "")
	row("accept latency p99 while a fan-out runs", n.AcceptP99, c.AcceptP99, " ms")
	if f := res.Nchan.Fanout; f != nil {
		w("\nnchan fan-out: %s of %s expected deliveries, p50 %.1f ms, max %.1f ms.\n", commas(f.Delivered), commas(f.Expected),
			f.Latency.P50, f.Latency.Max)
	}
	w("\n")
	chartLinks(&b, rel, peersCharts)
	w("Raw reports: [`%s/%s`](%s/%s).\n\nCommands:\n\n```\n%s\n", rel, peersResultsJSON, rel, peersResultsJSON, res.Command)
	for _, c := range res.Commands {
		w("%s\n", c)
	}
	w("```\n")
	if res.NginxConf != "" {
		w("\nnginx.conf (written to a temporary directory):\n\n```nginx\n%s```\n", res.NginxConf)
	}
	return b.String()
}
