package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"ssegw/bench/fleet"
	"ssegw/bench/loadclient"
	"ssegw/bench/sseparse"
	"ssegw/bench/stats"
)

const (
	// DefaultPublishBody publishes the timestamp as the event data to "bench".
	DefaultPublishBody = `{"channel":"bench","event":{"data":"{{.Data}}"}}`
	// publishTimeout bounds one publish request.
	publishTimeout = 30 * time.Second
	// maxPublishReply bounds the publish answer read.
	maxPublishReply = 1 << 20
	// DefaultDrain bounds the wait for the last deliveries after the last publish.
	DefaultDrain = 10 * time.Second
	// MaxPublishes bounds one run's publishes whatever rate and duration say.
	MaxPublishes = 1_000_000
	// LateDedicated opens the late streams in a client process of their own,
	// on their own source address (the default with late streams): a process
	// reading 15,000 streams of fan-out would delay their timestamps.
	LateDedicated = "dedicated"
	// LateShared spreads the late streams over the processes that hold the
	// fan-out's streams (the tool's behaviour before the dedicated worker).
	LateShared = "shared"
	// lateGroup is the fleet group of the late streams.
	lateGroup = 1
)

var (
	// ErrRemotePublish refuses a non-loopback publish URL without AllowRemote.
	ErrRemotePublish = errors.New("scenario: publish URL is not a loopback address (use --allow-remote)")
	// ErrBadPublishRate reports a rate or duration that gives no publishes.
	ErrBadPublishRate = errors.New("scenario: publish rate and duration must be positive")
	// ErrBadPublishURL reports a publish URL that is not http(s).
	ErrBadPublishURL = errors.New("scenario: bad publish URL")
	// ErrPublishStatus reports a publish answered with a non-2xx status.
	ErrPublishStatus = errors.New("scenario: publish failed")
	// ErrBadLateWorker reports a LateWorker that is neither LateDedicated nor LateShared.
	ErrBadLateWorker = errors.New("scenario: late worker must be \"dedicated\" or \"shared\"")
)

// FanoutConfig configures the fanout scenario.
type FanoutConfig struct {
	Common
	PublishURL     string   // e.g. http://127.0.0.1:3001/internal/publish
	PublishBody    string   // text/template; {{.Data}} is the timestamped data, {{.Seq}} the publish number
	PublishHeaders []string // extra "Name: value" lines (e.g. Authorization)
	PublishRate    float64  // publishes per second
	Duration       time.Duration
	PayloadBytes   int    // pad the data to at least this many bytes
	LateStreams    int    // streams opened while the fan-out runs (accept latency)
	LateWorker     string // LateDedicated ("": the default) or LateShared
	Drain          time.Duration
}

// FanoutReport is the outcome of a fanout run.
type FanoutReport struct {
	Scenario            string              `json:"scenario"`
	Target              string              `json:"target"`
	Procs               int                 `json:"client_procs"`
	Streams             int64               `json:"streams"`
	Publishes           int                 `json:"publishes"`
	PublishErrors       int                 `json:"publish_errors"`
	ServerConnections   int64               `json:"server_reported_connections"`
	Expected            int64               `json:"expected_deliveries"`
	Delivered           int64               `json:"delivered"` // to the N streams
	DeliveredLate       int64               `json:"delivered_late"`
	Seconds             float64             `json:"seconds"`
	ServerCPU           float64             `json:"server_cpu_seconds"`
	DeliveriesPerCPUSec float64             `json:"deliveries_per_cpu_second"`
	Latency             Latency             `json:"latency"`
	LatencyHist         stats.Snapshot      `json:"latency_histogram_ns"` // for distribution charts
	LateOpen            Latency             `json:"late_open_latency"`
	LateReady           Latency             `json:"late_ready_latency"`
	Clients             loadclient.Counters `json:"clients"`
	LateClients         loadclient.Counters `json:"late_clients"`
	LateWorker          *LateWorkerReport   `json:"late_worker,omitempty"` // nil: late streams on the shared processes
	ClientCPU           float64             `json:"client_cpu_seconds"`    // all client processes, whole run
}

// LateWorkerReport describes the dedicated late-stream process.
type LateWorkerReport struct {
	PID      int                                       `json:"pid"`
	Source   string                                    `json:"source_address"`
	Counters [loadclient.MaxGroups]loadclient.Counters `json:"counters"` // its own streams, per group
}

type publisher struct {
	url     string
	tmpl    *template.Template
	headers []string
	pad     int
	client  *http.Client
}

func newPublisher(cfg *FanoutConfig) (*publisher, error) {
	u, err := url.Parse(cfg.PublishURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: %q", ErrBadPublishURL, cfg.PublishURL)
	}
	if !cfg.Client.AllowRemote && !IsLoopbackURL(u.Host) {
		return nil, ErrRemotePublish
	}
	body := cfg.PublishBody
	if body == "" {
		body = DefaultPublishBody
	}
	t, err := template.New("publish").Option("missingkey=error").Parse(body)
	if err != nil {
		return nil, err
	}
	return &publisher{url: cfg.PublishURL, tmpl: t, headers: cfg.PublishHeaders, pad: cfg.PayloadBytes,
		client: &http.Client{Timeout: publishTimeout}}, nil
}

// publish sends one timestamped event and returns the connections the
// server says it reached (-1 if it does not say).
func (p *publisher) publish(ctx context.Context, seq int) (int64, error) {
	data := sseparse.AppendTimestamp(nil, time.Now().UnixNano())
	if len(data) < p.pad {
		data = append(append(data, ' '), strings.Repeat("x", p.pad-len(data)-1)...)
	}
	var body bytes.Buffer
	if err := p.tmpl.Execute(&body, struct {
		Data string
		Seq  int
	}{string(data), seq}); err != nil {
		return -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, &body)
	if err != nil {
		return -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range p.headers {
		if k, v, ok := strings.Cut(h, ":"); ok {
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxPublishReply))
	if resp.StatusCode/100 != 2 {
		return -1, fmt.Errorf("%w: status %d: %s", ErrPublishStatus, resp.StatusCode, bytes.TrimSpace(b))
	}
	var rep struct {
		Connections *int64 `json:"connections"`
	}
	if json.Unmarshal(b, &rep) == nil && rep.Connections != nil {
		return *rep.Connections, nil
	}
	return -1, nil
}

// Fanout runs the fanout scenario.
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	n := int(math.Round(cfg.PublishRate * cfg.Duration.Seconds()))
	if cfg.PublishRate <= 0 || n < 1 {
		return nil, ErrBadPublishRate
	}
	n = min(n, MaxPublishes)
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	pub, err := newPublisher(&cfg)
	if err != nil {
		return nil, err
	}
	common, err := fanoutFleet(&cfg)
	if err != nil {
		return nil, err
	}
	r, err := start(ctx, &common, "fanout")
	if err != nil {
		return nil, err
	}
	rep := &FanoutReport{Scenario: "fanout", Target: cfg.Client.Target.String(), Procs: r.fleet.Procs()}
	err = r.fanout(ctx, &cfg, pub, n, rep)
	if err == nil {
		rep.LateWorker, err = r.lateWorker(common.dedicated)
	}
	res, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	if err != nil {
		return rep, err
	}
	rep.Latency = toLatency(res.Groups[0].Latency)
	rep.LatencyHist = res.Groups[0].Latency
	rep.LateOpen = toLatency(res.Groups[1].Open)
	rep.LateReady = toLatency(res.Groups[1].Ready)
	rep.Clients = res.Groups[0].Counters
	rep.LateClients = res.Groups[1].Counters
	rep.ClientCPU = res.CPUSeconds
	return rep, nil
}

// fanoutFleet sizes the fleet: with a dedicated late worker (the default when
// there are late streams) the shared processes hold the N streams and the
// late ones go to one more process on the last source address; shared, the
// fleet is sized for both.
func fanoutFleet(cfg *FanoutConfig) (Common, error) {
	common := cfg.Common
	switch cfg.LateWorker {
	case "", LateDedicated:
	case LateShared:
		common.Streams = cfg.Streams + cfg.LateStreams
		return common, nil
	default:
		return common, ErrBadLateWorker
	}
	if cfg.LateStreams <= 0 {
		return common, nil
	}
	shared, own, err := fleet.SplitSources(common.Client)
	if err != nil {
		return common, err
	}
	common.Client = shared
	common.dedicated = &fleet.Dedicated{Group: lateGroup, Config: own}
	return common, nil
}

// lateWorker reports the dedicated late-stream process (nil without one).
func (r *run) lateWorker(ded *fleet.Dedicated) (*LateWorkerReport, error) {
	i := r.fleet.DedicatedWorker()
	if ded == nil || i < 0 {
		return nil, nil
	}
	pid, err := r.fleet.WorkerPID(i)
	if err != nil {
		return nil, err
	}
	cs, err := r.fleet.WorkerCounters(i)
	if err != nil {
		return nil, err
	}
	return &LateWorkerReport{PID: pid, Source: ded.Config.SourceFirst.String(), Counters: cs}, nil
}

func (r *run) fanout(ctx context.Context, cfg *FanoutConfig, pub *publisher, n int, rep *FanoutReport) error {
	r.setStatus("opening")
	if _, err := r.openTo(ctx, cfg.Streams); err != nil {
		return err
	}
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return err
	}
	before, err := r.fleet.Counters()
	if err != nil {
		return err
	}
	rep.Streams = before[0].Active
	s0 := r.c.sampleServer(ctx, before[0].Active)
	t0 := time.Now()
	if err := r.publishAll(ctx, cfg, pub, n, rep); err != nil {
		return err
	}
	rep.Expected = int64(rep.Publishes-rep.PublishErrors) * rep.Streams
	after, err := r.drain(ctx, cfg, before, rep.Expected, rep.ServerConnections)
	if err != nil {
		return err
	}
	s1 := r.c.sampleServer(ctx, after[0].Active)
	rep.Seconds = time.Since(t0).Seconds()
	rep.Delivered = after[0].Events - before[0].Events
	rep.DeliveredLate = after[1].Events - before[1].Events
	rep.ServerCPU = s1.CPUSeconds - s0.CPUSeconds
	if rep.ServerCPU > 0 {
		rep.DeliveriesPerCPUSec = float64(rep.Delivered+rep.DeliveredLate) / rep.ServerCPU
	}
	return nil
}

// publishAll sends n publishes on a fixed schedule, opening a share of the
// late streams just before each so they connect while the fan-out runs.
func (r *run) publishAll(ctx context.Context, cfg *FanoutConfig, pub *publisher, n int, rep *FanoutReport) error {
	interval := time.Duration(float64(time.Second) / cfg.PublishRate)
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := SleepCtx(ctx, time.Until(start.Add(time.Duration(i)*interval))); err != nil {
			return err
		}
		if late := cfg.LateStreams*(i+1)/n - cfg.LateStreams*i/n; late > 0 {
			if err := r.fleet.Open(lateGroup, late); err != nil {
				return err
			}
		}
		r.setStatus(fmt.Sprintf("publish %d/%d", i+1, n))
		conns, err := pub.publish(ctx, i)
		rep.Publishes++
		if err != nil {
			rep.PublishErrors++
			if rep.PublishErrors == 1 && r.c.Progress != nil {
				fmt.Fprintf(r.c.Progress, "\npublish error: %v\n", err)
			}
			continue
		}
		if conns > 0 {
			rep.ServerConnections += conns
		}
	}
	return nil
}

// drain waits until the expected deliveries arrived (and as many in all as
// the server said it reached), and the late streams settled, or cfg.Drain
// passed (missing deliveries are then reported).
func (r *run) drain(ctx context.Context, cfg *FanoutConfig, before [loadclient.MaxGroups]loadclient.Counters,
	expected, serverSaid int64) ([loadclient.MaxGroups]loadclient.Counters, error) {
	r.setStatus("draining")
	var last [loadclient.MaxGroups]loadclient.Counters
	err := waitUntil(ctx, cfg.Drain, func() (bool, error) {
		cs, err := r.fleet.Counters()
		last = cs
		got := cs[0].Events - before[0].Events
		all := got + cs[1].Events - before[1].Events
		return err == nil && got >= expected && all >= serverSaid &&
			cs[1].Settled() >= int64(cfg.LateStreams), err
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return last, err
}

// WriteTable prints the summary table.
func (f *FanoutReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "fanout: target %s, %d streams, %d client process(es)\n", f.Target, f.Streams, f.Procs)
	fmt.Fprintf(w, "  publishes %d (errors %d), server reported %d connections\n",
		f.Publishes, f.PublishErrors, f.ServerConnections)
	fmt.Fprintf(w, "  deliveries %d of %d expected (+%d to late streams) in %.1fs\n",
		f.Delivered, f.Expected, f.DeliveredLate, f.Seconds)
	fmt.Fprintf(w, "  delivery latency ms: %s\n", f.Latency)
	fmt.Fprintf(w, "  server CPU %.2fs: %.0f deliveries per CPU-second\n", f.ServerCPU, f.DeliveriesPerCPUSec)
	fmt.Fprintf(w, "  late streams (opened during fan-out) accept latency ms: %s\n", f.LateOpen)
	if f.LateWorker != nil {
		fmt.Fprintf(w, "  late streams opened by a dedicated client process (pid %d, source %s)\n",
			f.LateWorker.PID, f.LateWorker.Source)
	}
	if f.LateReady.Count > 0 {
		fmt.Fprintf(w, "  late streams ready latency ms: %s\n", f.LateReady)
	}
	writeCounters(w, f.Clients, f.ClientCPU)
}
