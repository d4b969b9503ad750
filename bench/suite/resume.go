package suite

// The resume storm in the suite (issue 14; DESIGN.md section 5: "resume:
// 15k streams dropped at once, reconnecting with Last-Event-ID under 10
// publishes/s: 0 lost, 0 duplicated; storm >= 0.8x the storm without
// history"). It runs scenario.Resume after every other scenario, as
// `ssegw-bench resume` does: two fresh gateway processes one after the other
// (without history, then with it), each with its own N streams, against the
// suite's bench backend. Its gateways keep their default heartbeat, like
// `make bench-resume`'s, so the suite's figures compare with the section
// "Resume (issue 14)" of BENCHMARKS.md.

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"ssegw/bench/scenario"
)

// The resume storm's timings in the suite. At 15,000 streams one gateway's
// run is about 30 s (connect 3-5 s, settle, warmup, storm 3-7 s, tail,
// drain, settle), so both add about a minute to the suite; the phases
// themselves are bounded (connect and storm by scenario.DefaultStormTimeout,
// the last deliveries by scenario.DefaultDrain), so a stuck run ends in
// about 2.5 minutes per gateway at worst.
const (
	// DefaultResumeWarmup is the publishing before the drop: the
	// scenario's own 5 s fills the history with tens of events (10/s
	// asked, 3-6/s achieved at 15,000 subscribers), so every resume replays
	// from a history that holds more than the gap.
	DefaultResumeWarmup = scenario.DefaultResumeWarmup
	// DefaultResumeTail is the publishing after every stream is back: 5 s
	// of live events after the replays check the handoff from replay to
	// live (no gap, no repeat) on every stream.
	DefaultResumeTail = scenario.DefaultResumeTail
	// DefaultResumePublishRate is DESIGN.md's "under 10 publishes/s".
	DefaultResumePublishRate = scenario.DefaultResumeRate
)

// ResumeSettings configures the suite's resume storm (zero values: the defaults above).
type ResumeSettings struct {
	Warmup, Tail time.Duration
	// Away keeps the dropped streams away this long before they reconnect
	// (0, the default: at once; at 15,000 streams the storm itself takes
	// seconds, so the streams miss events anyway; tiny runs need a gap).
	Away        time.Duration
	PublishRate float64
}

// resume runs the resume storm against two fresh gateways, with the
// suite's streams and client processes, and the suite's bench backend (of
// the suite's gateway gw) as their callback.
func (s *suiteRun) resume(ctx context.Context, gw target, backendURL string) error {
	cfg, rs := s.cfg, s.cfg.Resume
	warmup, tail := cmpDur(rs.Warmup, DefaultResumeWarmup), cmpDur(rs.Tail, DefaultResumeTail)
	rate := rs.PublishRate
	if rate <= 0 {
		rate = DefaultResumePublishRate
	}
	n := cfg.Streams
	// The resume gateways share the backend: the streams of the scenarios
	// before must be gone from it and from the suite's gateway.
	s.quiesce(ctx, gw, backendURL)
	s.logf("gateway: resume storm %d streams, fresh gateways without and with history", n)
	c := s.common(target{}, n, nil)
	c.Client.Rate = scenario.DefaultStormRate
	rep, err := scenario.Resume(ctx, scenario.ResumeConfig{Common: c, GatewayExe: cfg.GatewayExe,
		CallbackURL: backendURL + "/cb", PublishRate: rate, Warmup: warmup, Tail: tail, Away: rs.Away,
		HistoryEnv: scenario.HistoryEnv(scenario.DefaultHistorySize, scenario.DefaultHistoryTTL, scenario.DefaultHistoryMaxBytes)})
	s.res.Resume = rep
	if err != nil {
		return fmt.Errorf("gateway resume: %w", err)
	}
	s.res.Commands = append(s.res.Commands, fmt.Sprintf(
		"ssegw-bench resume --gateway %s --streams %d --procs %d --publish-rate %g --warmup %v --tail %v --away %v   # fresh gateways without and with history; stand-alone it starts its own backend",
		cfg.GatewayExe, n, cfg.Procs, rate, warmup, tail, rs.Away))
	if with := resumeRun(rep, "history"); with != nil {
		// Every event a resumed stream got before its ready is a replayed
		// one, and every resume is in the storm (the first connect sends no
		// Last-Event-ID).
		s.check("resume: events before ready on resumed streams (clients) vs replayed over the storm (gateway /metrics)",
			float64(with.Tracked.Replayed), with.ServerReplayed, float64(with.Tracked.Replayed) == with.ServerReplayed)
	}
	return nil
}

func cmpDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// resumeRun is the run against the gateway named server ("history" or
// "no history"); nil if there is none.
func resumeRun(rep *scenario.ResumeReport, server string) *scenario.ResumeRun {
	if rep == nil {
		return nil
	}
	for i := range rep.Runs {
		if rep.Runs[i].Server == server {
			return &rep.Runs[i]
		}
	}
	return nil
}

// resumeRows writes the resume storm's rows of the headline table: gateway
// column only; "—" and "not measured" without a resume result (a suite.json
// from before the suite ran it).
func resumeRows(b *strings.Builder, res *Results) {
	row := func(name, target, gateway, verdict string) {
		fmt.Fprintf(b, "| %s | %s | %s | — | — | — | — | %s |\n", name, target, gateway, verdict)
	}
	with, without := resumeRun(res.Resume, "history"), resumeRun(res.Resume, "no history")
	lost, ratioCell, replayed, rss := "—", "—", "—", "—"
	lostV, ratioV, infoV := verdict(false, false), verdict(false, false), verdict(false, false)
	if with != nil {
		t := with.Tracked
		lost = fmt.Sprintf("%d / %d", t.Lost, t.Duplicated)
		lostV = verdict(t.Lost == 0 && t.Duplicated == 0, true)
		replayed = fmt.Sprintf("%s/s (%s events)", commas(int64(math.Round(with.ReplayedPerSec))), commas(int64(with.ServerReplayed)))
		infoV = "—"
	}
	if with != nil && without != nil && without.Reconnect.StreamsPerSec > 0 {
		r := with.Reconnect.StreamsPerSec / without.Reconnect.StreamsPerSec
		ratioCell = fmt.Sprintf("%.2f× (%s / %s streams/s)", r, commas(int64(with.Reconnect.StreamsPerSec)),
			commas(int64(without.Reconnect.StreamsPerSec)))
		ratioV = verdict(r >= 0.8, true)
		rss = fmt.Sprintf("%+.2f MiB (kept events: %s)", float64(with.RSSEnd-without.RSSEnd)/(1<<20), bytesLabel(with.HistoryBytes))
	}
	row("resume: N streams dropped at once, back with `Last-Event-ID` under publishing: events lost / duplicated (with history)",
		"0 / 0", lost, lostV)
	row("resume storm streams per second, with history / without (a fresh gateway each)", "≥ 0.8×", ratioCell, ratioV)
	row("resume storm: replayed events per second (with history)", "— (reported)", replayed, infoV)
	row("history RSS: gateway RSS with history − without, N streams open after the storm", "— (reported)", rss, infoV)
}

// resumeDetails writes the resume storm's per-gateway table (nothing without a resume result).
func resumeDetails(b *strings.Builder, res *Results) {
	rep := res.Resume
	if rep == nil || len(rep.Runs) == 0 {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var hist []string
	if with := resumeRun(rep, "history"); with != nil {
		for _, e := range with.Env {
			if strings.HasPrefix(e, "HISTORY_") {
				hist = append(hist, e)
			}
		}
	}
	w("\n### Resume storm (fresh gateways, callback to the bench backend)\n\n")
	w("%s streams (%d client processes) against a fresh gateway without history, then one with `%s` (default heartbeat, as `make bench-resume`). "+
		"Publishing asked %s/s; after %s s every stream is dropped at once and comes back with its Last-Event-ID (timed until all are ready again); %s s more publishing; "+
		"then a wait until every stream saw the last publish. Runs of the full scenario and their spread: \"Resume (issue 14)\" below.\n\n",
		commas(int64(rep.Streams)), rep.Procs, strings.Join(hist, " "), trimFloat(rep.PublishRate), trimFloat(rep.Warmup.Seconds()), trimFloat(rep.Tail.Seconds()))
	w("| gateway | connect streams/s | storm: all ready in | storm streams/s | publishes (achieved/s) | lost / duplicated / resync | resumed connections | replayed events (gateway) | replayed/s | server CPU | RSS connected → end | kept (`ssegw_history_bytes`) | exit |\n")
	w("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Runs {
		t := r.Tracked
		w("| %s | %s | %.2f s | %s | %d (%.1f/s) | %d / %d / %d | %s | %s | %s | %.1f s | %.1f → %.1f MiB | %s | %s |\n",
			r.Server, commas(int64(r.Connect.StreamsPerSec)), r.Reconnect.Seconds, commas(int64(r.Reconnect.StreamsPerSec)),
			t.Published, r.PublishRate, t.Lost, t.Duplicated, t.Resyncs, commas(t.Resumed), commas(int64(r.ServerReplayed)),
			commas(int64(math.Round(r.ReplayedPerSec))), r.ServerCPU, float64(r.RSSConnected)/(1<<20), float64(r.RSSEnd)/(1<<20),
			bytesLabel(r.HistoryBytes), r.GatewayExit)
	}
}
