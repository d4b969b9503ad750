package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"ssegw/bench/gwproc"
	"ssegw/bench/scenario"
	"ssegw/bench/suite"
)

// Defaults of the resume and rolling subcommands (issue 14).
const (
	defaultResumeStreams  = 15000
	defaultRollingStreams = 3000
)

// historyFlags are the gateway settings both resume subcommands start gateways with.
type historyFlags struct {
	gateway          string
	size, eventLoops int
	ttl              time.Duration
	maxBytes         int64
}

func (h *historyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.gateway, "gateway", "bin/ssegw", "the gateway binary (started and stopped by the scenario)")
	fs.IntVar(&h.size, "history-size", scenario.DefaultHistorySize, "HISTORY_SIZE of the gateway(s) with history")
	fs.DurationVar(&h.ttl, "history-ttl", scenario.DefaultHistoryTTL, "HISTORY_TTL_SECONDS (whole seconds)")
	fs.Int64Var(&h.maxBytes, "history-max-bytes", scenario.DefaultHistoryMaxBytes, "HISTORY_MAX_BYTES")
	fs.IntVar(&h.eventLoops, "event-loops", 0, "EVENT_LOOPS of every gateway (0: the gateway's default)")
}

func (h *historyFlags) env() (history, other []string) {
	history = scenario.HistoryEnv(h.size, h.ttl, h.maxBytes)
	if h.eventLoops > 0 {
		other = append(other, fmt.Sprintf("EVENT_LOOPS=%d", h.eventLoops))
	}
	return history, other
}

// setDefault changes a registered flag's default.
func setDefault(fs *flag.FlagSet, name, v string) {
	f := fs.Lookup(name)
	f.DefValue = v
	_ = f.Value.Set(v)
}

func runResume(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("resume", sio.err)
	var cf clientFlags
	cf.register(fs)
	setDefault(fs, "streams", fmt.Sprint(defaultResumeStreams))
	setDefault(fs, "rate", fmt.Sprint(scenario.DefaultStormRate))
	var hf historyFlags
	hf.register(fs)
	rate := fs.Float64("publish-rate", scenario.DefaultResumeRate, "publishes per second through the control port")
	warmup := fs.Duration("warmup", scenario.DefaultResumeWarmup, "publishing before every stream is dropped")
	tail := fs.Duration("tail", scenario.DefaultResumeTail, "publishing after every stream is back")
	timeout := fs.Duration("phase-timeout", scenario.DefaultStormTimeout, "bound on the connect and on the reconnect storm")
	drain := fs.Duration("drain", scenario.DefaultDrain, "wait at most this long for the last deliveries")
	away := fs.Duration("away", 0, "keep the dropped streams away this long before they reconnect")
	only := fs.Bool("only-history", false, "skip the run without history (no same-run ratio)")
	first := fs.Bool("history-first", false, "run the gateway with history first (an order check)")
	render := fs.String("render", "", "print the report of an earlier run's --json output and draw its chart instead of measuring")
	resultsDir := fs.String("results-dir", "bench/results", "directory --render draws the reconnect-ready latency chart into")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *render != "" {
		return renderResume(sio, *render, *resultsDir, cf.json)
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	be, err := gwproc.StartBackend([]string{scenario.ResumeChannel})
	if err != nil {
		return err
	}
	defer be.Close()
	histEnv, gwEnv := hf.env()
	_, err = runBounded(ctx, &cf, sio, func(ctx context.Context) (*scenario.ResumeReport, error) {
		return scenario.Resume(ctx, scenario.ResumeConfig{Common: common, GatewayExe: hf.gateway,
			CallbackURL: be.URL() + "/cb", PublishRate: *rate, Warmup: *warmup, Tail: *tail, PhaseTimeout: *timeout,
			Drain: *drain, HistoryEnv: histEnv, GatewayEnv: gwEnv, Away: *away, OnlyHistory: *only, HistoryFirst: *first})
	})
	return err
}

// renderResume prints a saved resume report (--json) and draws the
// reconnect storm's ready latency without and with history.
func renderResume(sio stdio, from, dir string, asJSON bool) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var rep scenario.ResumeReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if err := printReport(sio.out, asJSON, &rep); err != nil {
		return err
	}
	return drawChart(sio, dir, suite.ResumeChart, suite.ResumeReadyCDF(&rep), from)
}

func runRolling(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("rolling", sio.err)
	var cf clientFlags
	cf.register(fs)
	setDefault(fs, "streams", fmt.Sprint(defaultRollingStreams))
	var hf historyFlags
	hf.register(fs)
	gateways := fs.Int("gateways", scenario.DefaultRollingGateways, "gateways sharing the public port (SO_REUSEPORT)")
	rate := fs.Float64("publish-rate", scenario.DefaultRollingRate, "publishes per second through the control ports")
	dur := fs.Duration("duration", scenario.DefaultRollingDuration, "how long to publish; gateway i restarts at (i+1)/(gateways+1) of it")
	window := fs.Duration("drain-window", scenario.DefaultRollingDrainWindow, "DRAIN_WINDOW_MS of every gateway")
	timeout := fs.Duration("phase-timeout", scenario.DefaultStormTimeout, "bound on the first connect")
	dir := fs.String("broker-dir", "", "JetStream store directory of the embedded broker (default: a temporary one, removed)")
	if err := parse(fs, args); err != nil {
		return err
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	be, err := gwproc.StartBackend([]string{scenario.ResumeChannel})
	if err != nil {
		return err
	}
	defer be.Close()
	histEnv, gwEnv := hf.env()
	_, err = runBounded(ctx, &cf, sio, func(ctx context.Context) (*scenario.RollingReport, error) {
		return scenario.RollingRestart(ctx, scenario.RollingConfig{Common: common, GatewayExe: hf.gateway,
			CallbackURL: be.URL() + "/cb", BrokerDir: *dir, Gateways: *gateways, PublishRate: *rate, Duration: *dur,
			PhaseTimeout: *timeout, DrainWindow: *window, HistoryEnv: histEnv, GatewayEnv: gwEnv})
	})
	return err
}
