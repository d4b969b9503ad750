package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"ssegw/bench/backend"
	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
	"ssegw/bench/stats"
)

const (
	// DefaultStormRate is the storm's connect rate: high enough that the
	// client's in-flight bound (loadclient.MaxInFlight), not pacing, limits it.
	DefaultStormRate = 100_000
	// DefaultStormTimeout bounds one storm phase (all N ready).
	DefaultStormTimeout = 60 * time.Second
	// groupFirst and groupAgain count first attempts and re-opens of shed
	// streams apart (loadclient groups).
	groupFirst, groupAgain = 0, 1
)

// StormConfig configures the storm scenario: N streams opened as fast as the
// rate allows, time until all are ready; then (Reconnect) all close at once
// and reconnect. Streams shed with a retry field are re-opened after their
// retry delay, as a browser's EventSource does (loadclient.Config.ReopenShed).
type StormConfig struct {
	Common
	Reconnect      bool
	PhaseTimeout   time.Duration
	BackendURL     string        // optional bench backend: its /stats are reported, PUT /latency sets BackendLatency
	BackendLatency time.Duration // <0: leave the backend's latency as it is
	BackendPID     int           // optional backend process: its CPU per phase is reported apart from the server's
}

// StormPhase is one storm: the first connect or the reconnect.
type StormPhase struct {
	Name          string  `json:"name"`
	Streams       int     `json:"streams"`
	Seconds       float64 `json:"seconds_to_all_ready"`
	StreamsPerSec float64 `json:"streams_per_second"`
	Ready         int64   `json:"ready"`
	AllReady      bool    `json:"all_ready"`
	Shed          int64   `json:"shed"`      // answers with a retry field and no ready
	Reopened      int64   `json:"reopened"`  // shed streams opened again
	CameBack      int64   `json:"came_back"` // of those, ready
	Failed        int64   `json:"failed"`
	OtherClosed   int64   `json:"other_closed"` // ended by the server without ready or retry
	// CPU over the phase (its start to all ready) from /proc: the server
	// (Common.ServerPID with its descendants) and the backend
	// (BackendPID) apart, each also per stream set up (Ready), in µs; -1
	// when the process was not sampled. The reconnect phase's figures also
	// carry the N disconnects (and their callbacks) of the close before it.
	ServerCPU             float64 `json:"server_cpu_seconds"`
	ServerCPUPerStreamUS  float64 `json:"server_cpu_us_per_stream"`
	BackendCPU            float64 `json:"backend_cpu_seconds"`
	BackendCPUPerStreamUS float64 `json:"backend_cpu_us_per_stream"`
	// ReadyHist is the phase's ready latency (connect start to ready, the
	// re-opens of shed streams included), for distribution charts: the
	// clients' histograms after the phase minus before it.
	ReadyHist stats.Snapshot `json:"ready_latency_histogram_ns"`
}

// UnmarshalJSON reads a phase saved before its CPU was sampled (the
// fields absent) as not sampled (-1), not as 0 s.
func (p *StormPhase) UnmarshalJSON(b []byte) error {
	type plain StormPhase // without this method
	v := plain{ServerCPU: -1, ServerCPUPerStreamUS: -1, BackendCPU: -1, BackendCPUPerStreamUS: -1}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = StormPhase(v)
	return nil
}

// StormReport is the outcome of a storm run.
type StormReport struct {
	Scenario      string              `json:"scenario"`
	Target        string              `json:"target"`
	Procs         int                 `json:"client_procs"`
	Rate          float64             `json:"connect_rate"`
	Phases        []StormPhase        `json:"phases"`
	ReadyLatency  Latency             `json:"ready_latency"` // connect start to ready, every phase
	OpenLatency   Latency             `json:"open_latency"`
	Backend       *backend.Stats      `json:"backend,omitempty"`
	ServerShed    float64             `json:"server_shed_total"` // the gateway's ssegw_shed_total{cause="overloaded"} delta, -1: unknown
	ServerCPU     float64             `json:"server_cpu_seconds"`
	Clients       loadclient.Counters `json:"clients"`
	ClientsReopen loadclient.Counters `json:"clients_reopened"`
	ClientCPU     float64             `json:"client_cpu_seconds"`
}

// ShedOverloadedMetric is the gateway's counter of connects shed because
// pending connects reached MAX_PENDING_CONNECTS.
const ShedOverloadedMetric = `ssegw_shed_total{cause="overloaded"}`

// Storm runs the storm scenario.
func Storm(ctx context.Context, cfg StormConfig) (*StormReport, error) {
	if cfg.Client.Rate == 0 {
		cfg.Client.Rate = DefaultStormRate
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.PhaseTimeout == 0 {
		cfg.PhaseTimeout = DefaultStormTimeout
	}
	if cfg.BackendURL != "" {
		if err := checkURL(cfg.BackendURL, cfg.Client.AllowRemote); err != nil {
			return nil, err
		}
		if cfg.BackendLatency >= 0 {
			if err := setBackendLatency(ctx, cfg.BackendURL, cfg.BackendLatency); err != nil {
				return nil, err
			}
		}
	}
	common := cfg.Common
	common.Client.ReopenShed, common.Client.ReopenGroup = true, groupAgain
	r, err := start(ctx, &common, "storm")
	if err != nil {
		return nil, err
	}
	rep := &StormReport{Scenario: "storm", Target: cfg.Client.Target.String(), Procs: r.fleet.Procs(),
		Rate: cfg.Client.Rate, ServerShed: -1}
	err = r.storm(ctx, &cfg, rep)
	res, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	if err != nil {
		return rep, err
	}
	ready, _ := mergeGroups(res.Groups[groupFirst].Ready, res.Groups[groupAgain].Ready)
	open, _ := mergeGroups(res.Groups[groupFirst].Open, res.Groups[groupAgain].Open)
	rep.ReadyLatency, rep.OpenLatency = ready, open
	rep.Clients = res.Groups[groupFirst].Counters
	rep.ClientsReopen = res.Groups[groupAgain].Counters
	rep.ClientCPU = res.CPUSeconds
	if cfg.BackendURL != "" {
		if st, err := BackendStats(ctx, cfg.BackendURL); err == nil {
			rep.Backend = &st
		}
	}
	return rep, nil
}

func setBackendLatency(ctx context.Context, base string, d time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/latency", strings.NewReader(d.String()))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("scenario: PUT %s/latency: status %d", base, resp.StatusCode)
	}
	return nil
}

func (r *run) storm(ctx context.Context, cfg *StormConfig, rep *StormReport) error {
	s0 := r.c.sampleServer(ctx, 0)
	shed0, shedErr := r.c.scrape(ctx, ShedOverloadedMetric)
	ph, err := r.stormPhase(ctx, cfg, "connect")
	rep.Phases = append(rep.Phases, ph)
	if err != nil {
		return err
	}
	if cfg.Reconnect {
		if err := SleepCtx(ctx, cfg.Settle); err != nil {
			return err
		}
		// All N close at once (the gateway sees N disconnects) and reconnect.
		for _, g := range []int{groupFirst, groupAgain} {
			if err := r.fleet.CloseGroup(g); err != nil {
				return err
			}
		}
		ph, err = r.stormPhase(ctx, cfg, "reconnect")
		rep.Phases = append(rep.Phases, ph)
		if err != nil {
			return err
		}
	}
	s1 := r.c.sampleServer(ctx, 0)
	rep.ServerCPU = s1.CPUSeconds - s0.CPUSeconds
	if shed1, err := r.c.scrape(ctx, ShedOverloadedMetric); err == nil && shedErr == nil {
		rep.ServerShed = shed1 - shed0
	}
	return nil
}

// stormPhase opens N streams at once and waits until all N are ready (shed
// ones come back after their retry delay) or failed, or the phase timeout.
func (r *run) stormPhase(ctx context.Context, cfg *StormConfig, name string) (StormPhase, error) {
	ph := StormPhase{Name: name, Streams: cfg.Streams, ServerCPU: -1, ServerCPUPerStreamUS: -1, BackendCPU: -1,
		BackendCPUPerStreamUS: -1}
	base, err := r.fleet.Counters()
	if err != nil {
		return ph, err
	}
	r.setStatus(name)
	hist0, err := r.readyHist()
	if err != nil {
		return ph, err
	}
	cpu0 := readCPU(r.c.ServerPID, cfg.BackendPID)
	t0 := time.Now()
	if err := r.fleet.Open(groupFirst, cfg.Streams); err != nil {
		return ph, err
	}
	var last [loadclient.MaxGroups]loadclient.Counters
	err = waitUntil(ctx, cfg.PhaseTimeout, func() (bool, error) {
		cs, err := r.fleet.Counters()
		if err != nil {
			return false, err
		}
		last = cs
		// Settled: ready, or failed for good; ending there keeps a phase
		// with failures from timing its phase timeout instead of the
		// server. A failed connect is for good unless the clients reconnect
		// every stream (ReconnectAll, as rolling does): then it comes back
		// and counts when it is ready.
		settled := cs[groupFirst].Ready - base[groupFirst].Ready + cs[groupAgain].Ready - base[groupAgain].Ready
		if !r.c.Client.ReconnectAll {
			settled += cs[groupFirst].Failed - base[groupFirst].Failed + cs[groupAgain].Failed - base[groupAgain].Failed
		}
		return settled >= int64(cfg.Streams), nil
	})
	ph.Seconds = time.Since(t0).Seconds()
	cpu1 := readCPU(r.c.ServerPID, cfg.BackendPID)
	if hist1, herr := r.readyHist(); herr == nil {
		ph.ReadyHist, herr = stats.Sub(hist1, hist0)
		if err == nil {
			err = herr
		}
	} else if err == nil {
		err = herr
	}
	d := func(g int, f func(loadclient.Counters) int64) int64 { return f(last[g]) - f(base[g]) }
	ready := func(c loadclient.Counters) int64 { return c.Ready }
	shed := func(c loadclient.Counters) int64 { return c.Shed }
	failed := func(c loadclient.Counters) int64 { return c.Failed }
	closed := func(c loadclient.Counters) int64 { return c.ServerClosed - c.Shed }
	ph.Ready = d(groupFirst, ready) + d(groupAgain, ready)
	ph.CameBack = d(groupAgain, ready)
	ph.Reopened = d(groupAgain, func(c loadclient.Counters) int64 { return c.Reopened })
	ph.Shed = d(groupFirst, shed) + d(groupAgain, shed)
	ph.Failed = d(groupFirst, failed) + d(groupAgain, failed)
	ph.OtherClosed = d(groupFirst, closed) + d(groupAgain, closed)
	ph.AllReady = ph.Ready >= int64(cfg.Streams)
	if ph.Seconds > 0 {
		ph.StreamsPerSec = float64(ph.Ready) / ph.Seconds
	}
	ph.ServerCPU, ph.ServerCPUPerStreamUS = cpuPerStream(cpu0[0], cpu1[0], ph.Ready)
	ph.BackendCPU, ph.BackendCPUPerStreamUS = cpuPerStream(cpu0[1], cpu1[1], ph.Ready)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // reported: AllReady false
	}
	return ph, err
}

// readyHist is the clients' ready latency so far, both groups (first
// opens and re-opens of shed streams) merged.
func (r *run) readyHist() (stats.Snapshot, error) {
	res, err := r.fleet.Result()
	if err != nil {
		return stats.Snapshot{}, err
	}
	return stats.MergeSnapshots(res.Groups[groupFirst].Ready, res.Groups[groupAgain].Ready)
}

// readCPU reads the CPU seconds of the server (with its descendants) and of
// the backend; -1 for a process not given or not readable.
func readCPU(serverPID, backendPID int) [2]float64 {
	out := [2]float64{-1, -1}
	for i, pid := range []int{serverPID, backendPID} {
		if pid <= 0 {
			continue
		}
		if s, err := procstat.ReadTree(pid); err == nil {
			out[i] = s.CPUSeconds
		}
	}
	return out
}

// cpuPerStream is the CPU between two readings, and per stream in µs; -1, -1
// when either reading is missing (or no stream was set up, for the second).
func cpuPerStream(before, after float64, streams int64) (seconds, usPerStream float64) {
	if before < 0 || after < 0 {
		return -1, -1
	}
	seconds = after - before
	if streams <= 0 {
		return seconds, -1
	}
	return seconds, seconds * 1e6 / float64(streams)
}

// WriteTable prints the summary table.
func (s *StormReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "storm: target %s, %d client process(es), connect rate %.0f/s\n", s.Target, s.Procs, s.Rate)
	for _, p := range s.Phases {
		fmt.Fprintf(w, "  %-9s %d streams: %d ready in %.2fs = %.0f streams/s (all ready %v)\n",
			p.Name, p.Streams, p.Ready, p.Seconds, p.StreamsPerSec, p.AllReady)
		fmt.Fprintf(w, "            shed with retry %d, re-opened %d, came back %d; failed %d, other closes %d\n",
			p.Shed, p.Reopened, p.CameBack, p.Failed, p.OtherClosed)
		if p.ServerCPU >= 0 {
			fmt.Fprintf(w, "            server CPU %.2fs = %.1f µs per stream set up\n", p.ServerCPU, p.ServerCPUPerStreamUS)
		}
		if p.BackendCPU >= 0 {
			fmt.Fprintf(w, "            backend CPU %.2fs = %.1f µs per stream set up (not in the server's)\n", p.BackendCPU, p.BackendCPUPerStreamUS)
		}
	}
	fmt.Fprintf(w, "  ready latency ms: %s\n", s.ReadyLatency)
	fmt.Fprintf(w, "  open latency ms:  %s\n", s.OpenLatency)
	if s.ServerShed >= 0 {
		fmt.Fprintf(w, "  gateway counted %.0f overloaded sheds\n", s.ServerShed)
	}
	if s.Backend != nil {
		fmt.Fprintf(w, "  backend: connects %d accepted %d disconnects %d open %d (latency %s)\n",
			s.Backend.Connects, s.Backend.Accepted, s.Backend.Disconnects, s.Backend.Open, s.Backend.ConnectLatency)
	}
	fmt.Fprintf(w, "  server CPU %.2fs\n", s.ServerCPU)
	writeCounters(w, s.Clients, s.ClientCPU)
}
