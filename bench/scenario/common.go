// Package scenario runs the bench scenarios against any SSE server:
//
//   - Hold opens N idle streams in steps, snapshots the server's RSS at each
//     step (slope in bytes per stream), then holds them and reports the
//     heartbeat cadence the clients saw and the server's CPU meanwhile.
//   - Fanout opens N streams, publishes timestamped events through an HTTP
//     control endpoint at a rate, and reports delivery latency, deliveries
//     per server CPU-second, and the accept latency of streams opened while
//     the fan-out runs. Those late streams are opened by a dedicated client
//     process by default, so their timestamps never wait behind a process
//     busy reading the fan-out.
//   - Unicast, Storm and Churn: see their files.
//   - Resume and RollingRestart (resume.go, rolling.go; issue 14) start the
//     gateways they measure themselves (package gwproc): a storm of streams
//     coming back with Last-Event-ID against a gateway without and one with
//     history, and a cluster of gateways restarted in turn; every stream is
//     checked for lost, duplicated and resync events by publish sequence.
//   - RabbitFanout holds N streams on a gateway in RabbitMQ mode, each with
//     its own queue, publishes to the topic exchange with amqp091-go (the
//     broker fans out), and reports deliveries per publish and latency, the
//     gateway's and the broker's memory with and without the queues, against
//     the same streams (and the same publishes via /internal/publish) on a
//     gateway without AMQP.
//
// Ownership: a scenario runs on the caller's goroutine and owns its fleet of
// client processes (and, for Resume and RollingRestart, the gateway
// processes it starts and its publisher goroutine, stopped before it
// returns); an optional progress goroutine only reads counters. Every
// wait has a deadline; every loop is bounded in count and time.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"ssegw/bench/fleet"
	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
)

const (
	// pollInterval is how often waits re-check their condition.
	pollInterval = 20 * time.Millisecond
	// progressInterval is how often the live progress line is redrawn.
	progressInterval = time.Second
	// openSlack is added to the expected connect time of a step before it is
	// declared stuck.
	openSlack = 30 * time.Second
	// DefaultSettle lets the server's memory and the kernel settle before a snapshot.
	DefaultSettle = 2 * time.Second
	// DefaultRate is the default connect rate (per second, all processes).
	DefaultRate = 2000
)

var (
	// ErrOpenStuck reports streams that neither opened nor failed in time.
	ErrOpenStuck = errors.New("scenario: streams did not settle in time")
	// ErrNoStreams reports a scenario asked to run with no streams.
	ErrNoStreams = errors.New("scenario: need at least one stream")
)

// Common are the options every scenario shares.
type Common struct {
	Client       loadclient.Config // target, path, headers, timeouts, pollers, rate
	Streams      int
	Procs        int          // client processes; 0: automatic from Streams
	Spawn        *fleet.Spawn // how to start child processes (nil: this executable)
	ServerPID    int          // server process to sample from /proc, with its descendants (procstat.ReadTree); 0: none
	MetricsURL   string       // optional Prometheus page of the server
	MetricsGauge string       // gauge to read from it at each snapshot
	Settle       time.Duration
	Progress     io.Writer        // live progress line (stderr); nil: none
	dedicated    *fleet.Dedicated // one more worker holding one group alone (fanout's late streams)
}

func (c *Common) defaults() error {
	if c.Streams <= 0 {
		return ErrNoStreams
	}
	if c.Client.Rate == 0 {
		c.Client.Rate = DefaultRate
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	return nil
}

// ServerSample is one reading of the server.
type ServerSample struct {
	Streams    int64   `json:"streams"` // streams open at the client side
	RSSBytes   int64   `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Threads    int     `json:"threads"`
	Gauge      float64 `json:"gauge,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// sampleServer reads the server's /proc and optional gauge.
func (c *Common) sampleServer(ctx context.Context, streams int64) ServerSample {
	s := ServerSample{Streams: streams}
	if c.ServerPID > 0 {
		p, err := procstat.ReadTree(c.ServerPID) // nginx's master and workers as one server
		if err != nil {
			s.Error = err.Error()
		}
		s.RSSBytes, s.CPUSeconds, s.Threads = p.RSSBytes, p.CPUSeconds, p.Threads
	}
	if c.MetricsURL != "" && c.MetricsGauge != "" {
		v, err := procstat.ScrapeGauge(ctx, c.MetricsURL, c.MetricsGauge)
		if err != nil && s.Error == "" {
			s.Error = err.Error()
		}
		s.Gauge = v
	}
	return s
}

// run holds what a running scenario shares with its progress goroutine.
type run struct {
	c      *Common
	name   string
	fleet  *fleet.Fleet
	mu     sync.Mutex
	status string // extra text for the progress line
	stop   chan struct{}
	done   chan struct{}
}

func start(ctx context.Context, c *Common, name string) (*run, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	f, err := fleet.StartWith(c.Client, c.Streams, c.Procs, c.Spawn, c.dedicated)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, name: name, fleet: f, stop: make(chan struct{}), done: make(chan struct{})}
	go r.progress()
	return r, nil
}

func (r *run) setStatus(s string) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// progress redraws one stderr line every progressInterval until stopped.
func (r *run) progress() {
	defer close(r.done)
	if r.c.Progress == nil {
		<-r.stop
		return
	}
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			fmt.Fprintln(r.c.Progress)
			return
		case <-t.C:
			cs, err := r.fleet.Counters()
			if err != nil {
				continue
			}
			r.mu.Lock()
			st := r.status
			r.mu.Unlock()
			g0, g1 := cs[0], cs[1]
			fmt.Fprintf(r.c.Progress, "\r[%s] open %d/%d failed %d closed %d events %d hb %d late %d/%d %s   ",
				r.name, g0.Active, g0.Requested, g0.Failed, g0.ServerClosed, g0.Events+g1.Events,
				g0.Heartbeats+g1.Heartbeats, g1.Opened, g1.Requested, st)
		}
	}
}

// finish stops progress and the fleet, returning the merged result.
func (r *run) finish() (loadclient.Result, error) {
	close(r.stop)
	<-r.done
	cerr := r.fleet.Close()
	res, err := r.fleet.Result()
	if err == nil {
		err = cerr
	}
	return res, err
}

// openTo asks for streams of group 0 until target are requested, then waits
// until all of them opened or failed.
func (r *run) openTo(ctx context.Context, target int) (loadclient.Counters, error) {
	cs, err := r.fleet.Counters()
	if err != nil {
		return loadclient.Counters{}, err
	}
	if more := int64(target) - cs[0].Requested; more > 0 {
		if err := r.fleet.Open(0, int(more)); err != nil {
			return cs[0], err
		}
	}
	budget := openSlack + r.c.Client.HandshakeTimeout + r.c.Client.ConnectTimeout
	if r.c.Client.Rate > 0 {
		budget += time.Duration(float64(target) / r.c.Client.Rate * float64(time.Second))
	}
	var last loadclient.Counters
	err = waitUntil(ctx, budget, func() (bool, error) {
		cs, err := r.fleet.Counters()
		last = cs[0]
		return err == nil && last.Settled() >= int64(target), err
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %d of %d settled", ErrOpenStuck, last.Settled(), target)
	}
	return last, err
}

// waitUntil polls cond until true, an error, ctx's end or the budget.
func waitUntil(ctx context.Context, budget time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(budget)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		if err := SleepCtx(ctx, pollInterval); err != nil {
			return err
		}
	}
}

// SleepCtx waits d or until ctx ends (the bench's pacing, not a test sleep).
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// IsLoopbackURL reports whether a URL's host[:port] is a loopback address
// or "localhost".
func IsLoopbackURL(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
