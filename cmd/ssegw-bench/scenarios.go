package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"ssegw/bench/loadclient"
	"ssegw/bench/scenario"
)

// Scenario defaults: long enough for a steady reading, short enough to repeat.
const (
	defaultHoldDuration   = 10 * time.Second
	defaultFanoutDuration = 20 * time.Second
)

// report is what a scenario prints.
type report interface{ WriteTable(io.Writer) }

func printReport(w io.Writer, asJSON bool, r report) error {
	if asJSON {
		return printJSON(w, r)
	}
	r.WriteTable(w)
	return nil
}

// runBounded runs a scenario within --max-duration and prints its report
// (whatever part of it there is, also when the run failed).
func runBounded[T any, R interface {
	*T
	report
}](ctx context.Context, cf *clientFlags, sio stdio, run func(context.Context) (R, error)) (R, error) {
	ctx, cancel := context.WithTimeout(ctx, cf.maxDur)
	defer cancel()
	rep, err := run(ctx)
	if rep != nil {
		if perr := printReport(sio.out, cf.json, rep); err == nil {
			err = perr
		}
	}
	return rep, err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runHold(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("hold", sio.err)
	var cf clientFlags
	cf.register(fs)
	var steps intsFlag
	fs.Var(&steps, "steps", "stream counts to snapshot the server at, e.g. 0,5000,15000 (default 0,N/3,N)")
	dur := fs.Duration("duration", defaultHoldDuration, "how long to hold all streams once open")
	if err := parse(fs, args); err != nil {
		return err
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	_, err = runBounded(ctx, &cf, sio, func(ctx context.Context) (*scenario.HoldReport, error) {
		return scenario.Hold(ctx, scenario.HoldConfig{Common: common, Steps: steps, Duration: *dur})
	})
	return err
}

func runFanout(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("fanout", sio.err)
	var cf clientFlags
	cf.register(fs)
	var pubHeaders listFlag
	url := fs.String("publish-url", "http://127.0.0.1:3001/internal/publish", "control endpoint to POST publishes to")
	body := fs.String("publish-body", scenario.DefaultPublishBody,
		"publish request body template: {{.Data}} is the timestamped data, {{.Seq}} the publish number")
	fs.Var(&pubHeaders, "publish-header", "extra publish header `Name: value` (repeatable)")
	rate := fs.Float64("publish-rate", 1, "publishes per second")
	dur := fs.Duration("duration", defaultFanoutDuration, "how long to publish")
	pad := fs.Int("payload-bytes", 0, "pad the event data to at least this many bytes")
	late := fs.Int("late-streams", 100, "streams opened while the fan-out runs (accept latency)")
	lateWorker := fs.String("late-worker", scenario.LateDedicated, "who opens the late streams: "+
		scenario.LateDedicated+" (one more client process of their own, on the last --source-range address) or "+
		scenario.LateShared+" (spread over the --procs processes holding the fan-out)")
	drain := fs.Duration("drain", scenario.DefaultDrain, "wait at most this long for deliveries after the last publish")
	if err := parse(fs, args); err != nil {
		return err
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	rep, err := runBounded(ctx, &cf, sio, func(ctx context.Context) (*scenario.FanoutReport, error) {
		return scenario.Fanout(ctx, scenario.FanoutConfig{Common: common, PublishURL: *url, PublishBody: *body,
			PublishHeaders: pubHeaders, PublishRate: *rate, Duration: *dur, PayloadBytes: *pad, LateStreams: *late,
			LateWorker: *lateWorker, Drain: *drain})
	})
	if err == nil && rep.Delivered < rep.Expected {
		fmt.Fprintf(sio.err, "warning: %d of %d deliveries missing\n", rep.Expected-rep.Delivered, rep.Expected)
	}
	return err
}

// Defaults of the unicast, storm and churn subcommands.
const (
	defaultUnicastDuration = 10 * time.Second
	defaultChurnDuration   = 20 * time.Second
	defaultChurnRate       = 200
	defaultChurnMinLife    = 500 * time.Millisecond
	defaultChurnMaxLife    = 5 * time.Second
)

func runUnicast(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("unicast", sio.err)
	var cf clientFlags
	cf.register(fs)
	batchURL := fs.String("batch-url", "http://127.0.0.1:3001/internal/batch", "the gateway's POST /internal/batch")
	backendURL := fs.String("backend-url", "http://127.0.0.1:4000", "the bench backend (GET /tokens lists the streams' tokens)")
	size := fs.Int("batch-size", scenario.DefaultBatchSize, "send commands per batch request")
	senders := fs.Int("senders", scenario.DefaultSenders, "concurrent batch senders")
	dur := fs.Duration("duration", defaultUnicastDuration, "how long to send")
	drain := fs.Duration("drain", scenario.DefaultDrain, "wait at most this long for deliveries after the last send")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkURLs(cf.allowRemote, *batchURL, *backendURL); err != nil {
		return err
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	rep, err := runBounded(ctx, &cf, sio, func(ctx context.Context) (*scenario.UnicastReport, error) {
		return scenario.Unicast(ctx, scenario.UnicastConfig{Common: common, BatchURL: *batchURL,
			BackendURL: *backendURL, BatchSize: *size, Senders: *senders, Duration: *dur, Drain: *drain})
	})
	if err == nil && !rep.ExactlyOnce {
		fmt.Fprintf(sio.err, "warning: not exactly once: accepted %d delivered %d server wrote %.0f\n",
			rep.Accepted, rep.Delivered, rep.ServerWritten)
	}
	return err
}

func runStorm(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("storm", sio.err)
	var cf clientFlags
	cf.register(fs)
	fs.Lookup("rate").DefValue = fmt.Sprint(scenario.DefaultStormRate)
	cf.rate = scenario.DefaultStormRate
	retryCap := fs.Duration("retry-cap", loadclient.MaxRetryDelay, "longest retry delay a shed stream waits before it re-opens")
	reconnect := fs.Bool("reconnect", true, "after all are ready, close all at once and reconnect")
	timeout := fs.Duration("phase-timeout", scenario.DefaultStormTimeout, "bound on one phase (all N ready)")
	backendURL := fs.String("backend-url", "", "optional bench backend: its /stats are reported; --backend-latency is set there")
	latency := fs.Duration("backend-latency", -1, "set the bench backend's connect callback delay first (needs --backend-url; <0 leaves it)")
	backendPID := fs.Int("backend-pid", 0, "backend process to sample from /proc: its CPU per stream set up is reported apart from --server-pid's")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *backendURL != "" {
		if err := checkURLs(cf.allowRemote, *backendURL); err != nil {
			return err
		}
	} else if *latency >= 0 {
		return fmt.Errorf("%w: --backend-latency needs --backend-url", errUsage)
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	common.Client.RetryCap = *retryCap
	_, err = runBounded(ctx, &cf, sio, func(ctx context.Context) (*scenario.StormReport, error) {
		return scenario.Storm(ctx, scenario.StormConfig{Common: common, Reconnect: *reconnect,
			PhaseTimeout: *timeout, BackendURL: *backendURL, BackendLatency: *latency, BackendPID: *backendPID})
	})
	return err
}

func runChurn(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("churn", sio.err)
	var cf clientFlags
	cf.register(fs)
	rate := fs.Float64("open-rate", defaultChurnRate, "streams opened per second")
	dur := fs.Duration("duration", defaultChurnDuration, "how long to churn")
	minLife := fs.Duration("min-life", defaultChurnMinLife, "shortest stream lifetime")
	maxLife := fs.Duration("max-life", defaultChurnMaxLife, "longest stream lifetime")
	every := fs.Duration("sample-every", scenario.DefaultChurnSample, "server sampling interval")
	settleTimeout := fs.Duration("settle-timeout", scenario.DefaultChurnSettle, "wait at most this long for the gauge to return after churn")
	seed := fs.Uint64("seed", 1, "lifetime random seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cf.metricsURL != "" && cf.metricsGauge == "" {
		cf.metricsGauge = "ssegw_streams_open"
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.maxDur)
	defer cancel()
	rep, err := scenario.Churn(ctx, scenario.ChurnConfig{Common: common, Rate: *rate, Duration: *dur,
		MinLife: *minLife, MaxLife: *maxLife, SampleEvery: *every, SettleTimeout: *settleTimeout, Seed: *seed})
	if err == scenario.ErrBadChurn {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if rep != nil {
		if perr := printReport(sio.out, cf.json, rep); err == nil {
			err = perr
		}
	}
	return err
}

// checkURLs refuses non-loopback http URLs without --allow-remote.
func checkURLs(allowRemote bool, urls ...string) error {
	for _, u := range urls {
		if !allowRemote && !loopbackURL(u) {
			return fmt.Errorf("%w: %s must be an http URL on loopback without --allow-remote", errUsage, u)
		}
	}
	return nil
}
