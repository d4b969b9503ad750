package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"ssegw/bench/scenario"
	"ssegw/bench/suite"
)

// suiteFlags are the flags of the suite and peers subcommands.
type suiteFlags struct {
	cfg         suite.Config
	quiet, json bool
}

func (f *suiteFlags) register(fs *flag.FlagSet, gateway bool) {
	c := &f.cfg
	exe, _ := os.Executable()
	fs.StringVar(&c.Out, "out", "BENCHMARKS.md", "file whose generated block is regenerated")
	fs.StringVar(&c.ResultsDir, "results-dir", "bench/results", "directory for the SVG charts and the raw JSON reports")
	fs.StringVar(&c.BenchExe, "bench", exe, "the ssegw-bench binary (servers and client worker processes)")
	if gateway {
		fs.StringVar(&c.GatewayExe, "gateway", "bin/ssegw", "the gateway binary")
		fs.DurationVar(&c.UnicastTime, "unicast-duration", 10*time.Second, "how long unicast sends")
		fs.IntVar(&c.BatchSize, "batch-size", 1000, "unicast commands per /internal/batch request")
		fs.IntVar(&c.Senders, "senders", 4, "concurrent unicast batch senders")
		fs.DurationVar(&c.ChurnDuration, "churn-duration", 10*time.Second, "how long churn runs")
		fs.Float64Var(&c.ChurnRate, "churn-rate", 200, "churn opens per second")
		fs.DurationVar(&c.BackendLatency, "backend-latency", 0, "connect callback delay of the bench backend during the storm")
		r := &c.Resume
		fs.DurationVar(&r.Warmup, "resume-warmup", suite.DefaultResumeWarmup, "resume storm: publishing before every stream is dropped")
		fs.DurationVar(&r.Tail, "resume-tail", suite.DefaultResumeTail, "resume storm: publishing after every stream is back")
		fs.DurationVar(&r.Away, "resume-away", 0, "resume storm: keep the dropped streams away this long before they reconnect")
		fs.Float64Var(&r.PublishRate, "resume-publish-rate", suite.DefaultResumePublishRate, "resume storm: publishes per second")
	}
	fs.IntVar(&c.Streams, "streams", suite.DefaultStreams, "streams per scenario")
	fs.IntVar(&c.Procs, "procs", 0, fmt.Sprintf("client processes (0: %d, fewer for tiny runs)", suite.DefaultProcs))
	fs.Float64Var(&c.Rate, "rate", suite.DefaultRate, "connect rate of hold, fanout and unicast (per second)")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "pause before each server snapshot")
	fs.DurationVar(&c.Heartbeat, "heartbeat", suite.DefaultHeartbeat, "heartbeat interval of every server (whole seconds for the gateway)")
	fs.DurationVar(&c.HoldDuration, "hold-duration", 10*time.Second, "how long hold keeps all streams")
	fs.DurationVar(&c.FanoutDuration, "fanout-duration", 10*time.Second, "how long fanout publishes (1/s)")
	fs.IntVar(&c.LateStreams, "late-streams", 0, "streams opened during fan-out (0: streams/150)")
	fs.DurationVar(&c.MaxDuration, "max-duration", suite.DefaultMaxDuration, "hard bound on the whole run")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&f.json, "json", false, "print the raw results as JSON on stdout")
}

func (f *suiteFlags) finish(name string, args []string, sio stdio) {
	f.cfg.Command = "ssegw-bench " + name + " " + strings.Join(args, " ")
	if !f.quiet {
		f.cfg.Progress = sio.err
	}
}

func runSuite(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("suite", sio.err)
	var f suiteFlags
	f.register(fs, true)
	render := fs.String("render", "", "regenerate the block and charts from this suite.json of an earlier run instead of measuring")
	if err := parse(fs, args); err != nil {
		return err
	}
	f.finish("suite", args, sio)
	var res *suite.Results
	var err error
	if *render != "" {
		res, err = suite.Render(f.cfg, *render)
	} else {
		res, err = suite.Run(ctx, f.cfg)
	}
	if res != nil && f.json {
		if perr := printJSON(sio.out, res); err == nil {
			err = perr
		}
	}
	if err == nil && !f.json {
		fmt.Fprintf(sio.out, "suite: %.0f s; %s regenerated, charts in %s\n", res.Seconds, f.cfg.Out, f.cfg.ResultsDir)
	}
	return err
}

func runPeers(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("peers", sio.err)
	var f suiteFlags
	f.register(fs, false)
	fs.StringVar(&f.cfg.GatewayExe, "gateway", "bin/ssegw", "the gateway binary (measured beside nginx+nchan)")
	saturated := fs.Float64("saturated-rate", suite.DefaultSaturatedRate, "publishes per second of the saturated fan-out")
	workers := fs.Int("workers", 0, "nginx workers of the per-core configurations (0: the machine's cores)")
	tuned := fs.Bool("nchan-tuned", true, "also run nchan's best configuration: the per-core workers with listen backlog=4096 and multi_accept on")
	pipelined := fs.Bool("gateway-pipelined", true, fmt.Sprintf("also run the storm against a fresh gateway with callbacks pipelined (CALLBACK_CONCURRENCY=%d, CALLBACK_PIPELINE=%d)",
		suite.PipelinedConcurrency, suite.PipelinedDepth))
	nginx := fs.String("nginx", suite.DefaultNginx, "the nginx binary")
	module := fs.String("nchan-module", suite.DefaultNchanModule, "the nchan dynamic module")
	render := fs.String("render", "", "regenerate the peers block and charts from this peers.json of an earlier run instead of measuring")
	if err := parse(fs, args); err != nil {
		return err
	}
	f.finish("peers", args, sio)
	var res *suite.PeersResults
	var err error
	if *render != "" {
		res, err = suite.RenderPeers(f.cfg, *render)
	} else {
		res, err = suite.Peers(ctx, suite.PeersConfig{Config: f.cfg, Nginx: *nginx, Module: *module, SaturatedRate: *saturated,
			Workers: *workers, NoTuned: !*tuned, NoGatewayPipelined: !*pipelined})
	}
	if res != nil && f.json {
		if perr := printJSON(sio.out, res); err == nil {
			err = perr
		}
	}
	if err == nil && !f.json {
		fmt.Fprintf(sio.out, "peers: %.0f s; %s peers block regenerated\n", res.Seconds, f.cfg.Out)
	}
	return err
}

func runRabbitFanout(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("rabbit-fanout", sio.err)
	var c suite.RabbitConfig
	exe, _ := os.Executable()
	fs.StringVar(&c.BenchExe, "bench", exe, "the ssegw-bench binary (backend and client worker processes)")
	fs.StringVar(&c.GatewayExe, "gateway", "bin/ssegw", "the gateway binary")
	fs.IntVar(&c.Streams, "streams", suite.DefaultStreams, "streams, each with its own queue")
	fs.IntVar(&c.Procs, "procs", 0, fmt.Sprintf("client processes (0: %d, fewer for tiny runs)", suite.DefaultProcs))
	fs.Float64Var(&c.Rate, "rate", suite.DefaultRate, "connect rate (per second)")
	fs.IntVar(&c.Publishes, "publishes", scenario.DefaultRabbitPublishes, "messages published to the exchange")
	fs.Float64Var(&c.PublishRate, "publish-rate", 1, "publishes per second (a publish whose deliveries are not all in by then delays the next)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", suite.DefaultRabbitHeartbeat, "both gateways' heartbeat interval (whole seconds)")
	fs.DurationVar(&c.Settle, "settle", scenario.DefaultSettle, "pause before each memory snapshot")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", 0, "bound on waiting for all streams' ready (0: streams/150 s + 30 s)")
	fs.DurationVar(&c.Drain, "drain", scenario.DefaultDrain, "bound on waiting for one publish's deliveries")
	fs.DurationVar(&c.BrokerIdle, "broker-idle", 15*time.Second, "sample the broker's memory again this long after the last publish (0: not)")
	fs.DurationVar(&c.MaxDuration, "max-duration", suite.DefaultRabbitMaxDuration, "hard bound on the whole run")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	render := fs.String("render", "", "print the table of an earlier run's --json output and draw its chart instead of measuring")
	resultsDir := fs.String("results-dir", "bench/results", "directory --render draws the latency chart into")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *render != "" {
		raw, err := os.ReadFile(*render)
		if err != nil {
			return err
		}
		var res suite.RabbitResults
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("%s: %w", *render, err)
		}
		if err := printReport(sio.out, *asJSON, &res); err != nil {
			return err
		}
		return drawChart(sio, *resultsDir, suite.RabbitChart, suite.RabbitLatencyCDF(&res), *render)
	}
	c.Command = "ssegw-bench rabbit-fanout " + strings.Join(args, " ")
	if !*quiet {
		c.Progress = sio.err
	}
	res, err := suite.Rabbit(ctx, c)
	if res != nil {
		if perr := printReport(sio.out, *asJSON, res); err == nil {
			err = perr
		}
	}
	if err == nil && res.Report != nil && res.Report.Delivered < res.Report.Expected {
		fmt.Fprintf(sio.err, "warning: %d of %d deliveries missing\n",
			res.Report.Expected-res.Report.Delivered, res.Report.Expected)
	}
	return err
}

// drawChart writes a --render chart into dir and says where on stderr; a
// result without the chart's data (a run from before it was recorded) gets
// no chart, and a note.
func drawChart(sio stdio, dir, file string, c suite.Chart, from string) error {
	path, err := suite.WriteChartFile(dir, file, c)
	switch {
	case err != nil:
		return err
	case path == "":
		fmt.Fprintf(sio.err, "%s holds no data for %s: not drawn\n", from, file)
	default:
		fmt.Fprintf(sio.err, "chart: %s\n", path)
	}
	return nil
}
