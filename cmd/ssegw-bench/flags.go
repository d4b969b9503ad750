package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"ssegw/bench/heads"
	"ssegw/bench/loadclient"
	"ssegw/bench/scenario"
)

// defaultMaxDuration bounds any subcommand that is not told otherwise.
const defaultMaxDuration = 2 * time.Hour

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// intsFlag parses "0,5000,15000".
type intsFlag []int

func (l *intsFlag) String() string { return fmt.Sprint([]int(*l)) }
func (l *intsFlag) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*l = append(*l, n)
	}
	return nil
}

func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ssegw-bench "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	return fs
}

// parse parses args; any mistake is a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// clientFlags are the flags of every load scenario.
type clientFlags struct {
	target, path, sources, metricsURL, metricsGauge               string
	head                                                          string
	headers                                                       listFlag
	streams, procs, pollers, serverPID                            int
	rate                                                          float64
	connectTimeout, handshakeTimeout, settle, maxDur              time.Duration
	allowRemote, json, quiet, browserHeaders, noRead, readyOnOpen bool
}

// browserHeaderBytes is the size of the browser-like header block.
const browserHeaderBytes = scenario.BrowserHeaderBytes

// browserHeaders is the 1 KB browser-like header block (--browser-headers).
func browserHeaders() []string { return scenario.BrowserHeaders() }

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.target, "target", "127.0.0.1:3000", "SSE server `address:port` (loopback unless --allow-remote)")
	fs.StringVar(&c.path, "path", "/events?channel=bench", "request-target of every stream")
	fs.Var(&c.headers, "header", "extra request header `Name: value` (repeatable)")
	fs.StringVar(&c.sources, "source-range", "127.0.0.1-127.0.0.254", "loopback source address `range` to spread streams over")
	fs.IntVar(&c.streams, "streams", 1000, "streams to open")
	fs.IntVar(&c.procs, "procs", 0, fmt.Sprintf("client processes (0: one per %d streams)", loadclient.MaxStreamsPerProcess))
	fs.IntVar(&c.pollers, "pollers", 1, "epoll poller goroutines per client process (1 or 2)")
	fs.Float64Var(&c.rate, "rate", scenario.DefaultRate, "connects per second, all processes together")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", loadclient.DefaultConnectTimeout, "TCP connect timeout")
	fs.DurationVar(&c.handshakeTimeout, "handshake-timeout", loadclient.DefaultHandshakeTimeout, "connected to response head timeout")
	fs.DurationVar(&c.settle, "settle", scenario.DefaultSettle, "pause before each server snapshot")
	fs.IntVar(&c.serverPID, "server-pid", 0, "server process to sample from /proc (RSS, CPU, threads)")
	fs.StringVar(&c.metricsURL, "metrics-url", "", "optional Prometheus /metrics URL of the server")
	fs.StringVar(&c.metricsGauge, "metrics-gauge", "", "gauge to read from --metrics-url at each snapshot")
	fs.DurationVar(&c.maxDur, "max-duration", defaultMaxDuration, "hard bound on the whole run")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "permit non-loopback target and publish addresses")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&c.quiet, "quiet", false, "no live progress line on stderr")
	fs.BoolVar(&c.browserHeaders, "browser-headers", false, "add a 1 KB browser-like header block to every request (same as --head browser)")
	fs.BoolVar(&c.readyOnOpen, "ready-on-open", false, "count a stream ready when its 200 event-stream head arrives (servers that send no \"ready\" event, e.g. nginx+nchan)")
	fs.BoolVar(&c.noRead, "no-read", false, "streams stop reading once their response head arrived (a stalled client: the server's send buffers fill)")
	fs.StringVar(&c.head, "head", "", "request head of every stream: short (the default: --path and --header), browser (plus the 1 KB browser-like block) "+
		"or chromium (the head Chromium's EventSource sent, captured in bench/heads, with each stream's own cookie values and room; replaces --path and --header)")
}

// common turns the flags into scenario options.
func (c *clientFlags) common(stderr io.Writer) (scenario.Common, error) {
	target, err := resolveTarget(c.target)
	if err != nil {
		return scenario.Common{}, err
	}
	first, last, err := parseRange(c.sources)
	if err != nil {
		return scenario.Common{}, err
	}
	headers := c.headers
	var tpl *heads.Template
	switch c.head {
	case "", "short":
	case "browser":
		c.browserHeaders = true
	case "chromium":
		if tpl, err = heads.Chromium(target.String()); err != nil {
			return scenario.Common{}, err
		}
	default:
		return scenario.Common{}, fmt.Errorf("%w: --head %q: want short, browser or chromium", errUsage, c.head)
	}
	if c.browserHeaders {
		headers = append(browserHeaders(), headers...)
	}
	cfg := scenario.Common{
		Client: loadclient.Config{Target: target, AllowRemote: c.allowRemote, Path: c.path, Headers: headers, Head: tpl,
			SourceFirst: first, SourceLast: last, Rate: c.rate, ConnectTimeout: c.connectTimeout,
			HandshakeTimeout: c.handshakeTimeout, MaxDuration: c.maxDur, Pollers: c.pollers, NoRead: c.noRead,
			ReadyOnOpen: c.readyOnOpen},
		Streams: c.streams, Procs: c.procs, ServerPID: c.serverPID,
		MetricsURL: c.metricsURL, MetricsGauge: c.metricsGauge, Settle: c.settle,
	}
	if !c.quiet {
		cfg.Progress = stderr
	}
	if c.metricsURL != "" && !c.allowRemote && !loopbackURL(c.metricsURL) {
		return cfg, fmt.Errorf("%w: --metrics-url must be loopback without --allow-remote", errUsage)
	}
	return cfg, nil
}

// resolveTarget accepts an IPv4 address:port or localhost:port.
func resolveTarget(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host != "localhost" {
		return netip.AddrPort{}, fmt.Errorf("%w: --target %q: want IPv4 address:port or localhost:port", errUsage, s)
	}
	return netip.ParseAddrPort("127.0.0.1:" + port)
}

// parseRange parses "127.0.0.1-127.0.0.254" (or one address).
func parseRange(s string) (netip.Addr, netip.Addr, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	first, err1 := netip.ParseAddr(strings.TrimSpace(a))
	last, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || !first.Is4() || !last.Is4() || last.Less(first) {
		return first, last, fmt.Errorf("%w: --source-range %q", errUsage, s)
	}
	return first, last, nil
}

func loopbackURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	return scenario.IsLoopbackURL(host)
}

// checkListen refuses non-loopback listen addresses without --allow-remote.
func checkListen(addr string, allowRemote bool) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: want IPv4 address:port", errUsage, addr)
	}
	if !ap.Addr().IsLoopback() && !allowRemote {
		return fmt.Errorf("%w: %s is not loopback (use --allow-remote)", errUsage, addr)
	}
	return nil
}
