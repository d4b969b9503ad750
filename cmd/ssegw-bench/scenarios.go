package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

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
	ctx, cancel := context.WithTimeout(ctx, cf.maxDur)
	defer cancel()
	rep, err := scenario.Hold(ctx, scenario.HoldConfig{Common: common, Steps: steps, Duration: *dur})
	if rep != nil {
		if perr := printReport(sio.out, cf.json, rep); err == nil {
			err = perr
		}
	}
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
	drain := fs.Duration("drain", scenario.DefaultDrain, "wait at most this long for deliveries after the last publish")
	if err := parse(fs, args); err != nil {
		return err
	}
	common, err := cf.common(sio.err)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.maxDur)
	defer cancel()
	rep, err := scenario.Fanout(ctx, scenario.FanoutConfig{Common: common, PublishURL: *url, PublishBody: *body,
		PublishHeaders: pubHeaders, PublishRate: *rate, Duration: *dur, PayloadBytes: *pad, LateStreams: *late,
		Drain: *drain})
	if rep != nil {
		if perr := printReport(sio.out, cf.json, rep); err == nil {
			err = perr
		}
	}
	if err == nil && rep.Delivered < rep.Expected {
		fmt.Fprintf(sio.err, "warning: %d of %d deliveries missing\n", rep.Expected-rep.Delivered, rep.Expected)
	}
	return err
}
