package scenario

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"ssegw/bench/loadclient"
	"ssegw/bench/stats"
)

// HoldConfig configures the hold scenario.
type HoldConfig struct {
	Common
	Steps    []int         // stream counts to snapshot at; default 0, N/3, N
	Duration time.Duration // how long to hold all N streams
}

// Slope is the server's RSS growth per stream between two snapshots.
type Slope struct {
	From           int64   `json:"from_streams"`
	To             int64   `json:"to_streams"`
	BytesPerStream float64 `json:"bytes_per_stream"`
}

// HoldReport is the outcome of a hold run.
type HoldReport struct {
	Scenario       string              `json:"scenario"`
	Target         string              `json:"target"`
	Procs          int                 `json:"client_procs"`
	Streams        int                 `json:"streams"`
	Snapshots      []ServerSample      `json:"snapshots"`
	Slopes         []Slope             `json:"slopes"`
	HoldSeconds    float64             `json:"hold_seconds"`
	ServerCPU      float64             `json:"server_cpu_seconds"`
	ServerCPUPct   float64             `json:"server_cpu_pct_of_core"`
	HeartbeatsHeld int64               `json:"heartbeats_during_hold"`
	HeartbeatGap   Latency             `json:"heartbeat_gap"`
	OpenLatency    Latency             `json:"open_latency"`
	Clients        loadclient.Counters `json:"clients"`
	ClientCPU      float64             `json:"client_cpu_seconds"` // all client processes, whole run
}

// Hold runs the hold scenario.
func Hold(ctx context.Context, cfg HoldConfig) (*HoldReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	steps := holdSteps(cfg.Steps, cfg.Streams)
	r, err := start(ctx, &cfg.Common, "hold")
	if err != nil {
		return nil, err
	}
	rep := &HoldReport{Scenario: "hold", Target: cfg.Client.Target.String(), Procs: r.fleet.Procs(), Streams: cfg.Streams}
	err = r.holdSteps(ctx, steps, rep)
	if err == nil {
		err = r.hold(ctx, cfg.Duration, rep)
	}
	res, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	if err != nil {
		return rep, err
	}
	g := res.Groups[0]
	rep.Clients = g.Counters
	rep.ClientCPU = res.CPUSeconds
	rep.HeartbeatGap = toLatency(g.HeartbeatGap)
	rep.OpenLatency = toLatency(g.Open)
	rep.Slopes = slopes(rep.Snapshots)
	return rep, nil
}

// holdSteps normalises the snapshot steps: sorted, within 1..N, ending at N.
func holdSteps(steps []int, n int) []int {
	if len(steps) == 0 {
		steps = []int{0, n / 3, n}
	}
	out := []int{}
	for _, s := range steps {
		if s >= 0 && s <= n {
			out = append(out, s)
		}
	}
	out = append(out, n)
	slices.Sort(out)
	return slices.Compact(out)
}

// holdSteps opens streams step by step and snapshots the server at each.
func (r *run) holdSteps(ctx context.Context, steps []int, rep *HoldReport) error {
	for _, k := range steps {
		r.setStatus(fmt.Sprintf("step %d", k))
		if _, err := r.openTo(ctx, k); err != nil {
			return err
		}
		if err := SleepCtx(ctx, r.c.Settle); err != nil {
			return err
		}
		cs, err := r.fleet.Counters()
		if err != nil {
			return err
		}
		rep.Snapshots = append(rep.Snapshots, r.c.sampleServer(ctx, cs[0].Active))
	}
	return nil
}

// hold keeps the streams for d and measures the server's CPU and heartbeats.
func (r *run) hold(ctx context.Context, d time.Duration, rep *HoldReport) error {
	r.setStatus("holding")
	before, err := r.fleet.Counters()
	if err != nil {
		return err
	}
	s0 := r.c.sampleServer(ctx, before[0].Active)
	t0 := time.Now()
	if err := SleepCtx(ctx, d); err != nil {
		return err
	}
	after, err := r.fleet.Counters()
	if err != nil {
		return err
	}
	s1 := r.c.sampleServer(ctx, after[0].Active)
	rep.HoldSeconds = time.Since(t0).Seconds()
	rep.ServerCPU = s1.CPUSeconds - s0.CPUSeconds
	if rep.HoldSeconds > 0 {
		rep.ServerCPUPct = 100 * rep.ServerCPU / rep.HoldSeconds
	}
	rep.HeartbeatsHeld = after[0].Heartbeats - before[0].Heartbeats
	return nil
}

// slopes is the RSS growth per stream between consecutive snapshots, and over
// the whole range when there are more than two.
func slopes(ss []ServerSample) []Slope {
	var out []Slope
	add := func(a, b ServerSample) {
		if b.Streams > a.Streams && a.RSSBytes > 0 {
			out = append(out, Slope{From: a.Streams, To: b.Streams,
				BytesPerStream: float64(b.RSSBytes-a.RSSBytes) / float64(b.Streams-a.Streams)})
		}
	}
	for i := 1; i < len(ss); i++ {
		add(ss[i-1], ss[i])
	}
	if len(ss) > 2 {
		add(ss[0], ss[len(ss)-1])
	}
	return out
}

func toLatency(s stats.Snapshot) Latency {
	h, err := stats.FromSnapshot(s)
	if err != nil {
		return Latency{}
	}
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	return Latency{Count: h.Count(), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)),
		P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Mean: h.Mean() / 1e6}
}

// WriteTable prints the summary table.
func (h *HoldReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "hold: target %s, %d streams, %d client process(es)\n", h.Target, h.Streams, h.Procs)
	fmt.Fprintf(w, "  %-10s %12s %10s %8s\n", "streams", "server RSS", "CPU s", "threads")
	for _, s := range h.Snapshots {
		fmt.Fprintf(w, "  %-10d %12s %10.2f %8d\n", s.Streams, mib(s.RSSBytes), s.CPUSeconds, s.Threads)
	}
	for _, s := range h.Slopes {
		fmt.Fprintf(w, "  RSS slope %d -> %d streams: %.0f B/stream\n", s.From, s.To, s.BytesPerStream)
	}
	fmt.Fprintf(w, "  hold %.1fs: server CPU %.2fs (%.1f%% of a core), heartbeats seen %d\n",
		h.HoldSeconds, h.ServerCPU, h.ServerCPUPct, h.HeartbeatsHeld)
	fmt.Fprintf(w, "  heartbeat gap ms: %s\n", h.HeartbeatGap)
	fmt.Fprintf(w, "  open latency ms:  %s\n", h.OpenLatency)
	writeCounters(w, h.Clients, h.ClientCPU)
}

func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50=%.1f p90=%.1f p99=%.1f max=%.1f mean=%.1f", l.Count, l.P50, l.P90, l.P99, l.Max, l.Mean)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func writeCounters(w io.Writer, c loadclient.Counters, cpu float64) {
	fmt.Fprintf(w, "  clients: requested %d opened %d failed %d (connect %d, timeout %d, status %d, protocol %d) server-closed %d\n",
		c.Requested, c.Opened, c.Failed, c.ConnectErr, c.Timeouts, c.BadStatus, c.ProtocolErr, c.ServerClosed)
	fmt.Fprintf(w, "  clients: events %d ready %d heartbeats %d bytes %d, client CPU %.2fs\n",
		c.Events, c.Ready, c.Heartbeats, c.Bytes, cpu)
}
