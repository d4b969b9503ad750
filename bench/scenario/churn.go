package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// MaxChurnLive bounds the churn's concurrent streams: churn runs in this
	// process (a goroutine per stream; it holds hundreds, not thousands) and
	// one process may hold at most 20,000 open files.
	MaxChurnLive = 10_000
	// MaxChurnOpens bounds one run's opens whatever rate and duration say.
	MaxChurnOpens = 1_000_000
	// DefaultChurnSample is how often the server is sampled during churn.
	DefaultChurnSample = time.Second
	// churnReadBuf is a churn stream's read buffer (it only looks for "ready").
	churnReadBuf = 4 << 10
	// DefaultChurnSettle bounds the wait, after churn stops, for the server's
	// open-stream gauge to return to its start value.
	DefaultChurnSettle = 30 * time.Second
	// maxChurnSamples bounds the samples kept (one per DefaultChurnSample for
	// over two hours).
	maxChurnSamples = 10_000
)

// ErrBadChurn reports unusable churn options.
var ErrBadChurn = errors.New("scenario: churn needs a positive rate, duration and 0 < min-life <= max-life")

// ChurnConfig configures the churn scenario. Common.Streams is unused; the
// live count follows from Rate and the lifetimes.
type ChurnConfig struct {
	Common
	Rate             float64 // opens per second
	Duration         time.Duration
	MinLife, MaxLife time.Duration // each stream lives a uniform random time in [MinLife, MaxLife]
	SampleEvery      time.Duration
	SettleTimeout    time.Duration
	Seed             uint64
}

// ChurnSample is one reading of the server during churn.
type ChurnSample struct {
	Seconds  float64 `json:"t_seconds"`
	Live     int64   `json:"client_live"`
	RSSBytes int64   `json:"rss_bytes"`
	Gauge    float64 `json:"gauge"`
}

// ChurnReport is the outcome of a churn run.
type ChurnReport struct {
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`
	Rate     float64 `json:"rate"`
	Seconds  float64 `json:"seconds"`
	Attempts int64   `json:"attempts"`
	Skipped  int64   `json:"skipped_at_live_bound"`
	Opened   int64   `json:"opened"` // 200 event stream
	Ready    int64   `json:"ready"`
	Failed   int64   `json:"failed"`
	// LeftEarly counts streams whose lifetime ended before the answer's head
	// arrived: a client that leaves during its connect callback (a churn a
	// real fleet has), not a failure of the server.
	LeftEarly     int64         `json:"left_early"`
	ServerClosed  int64         `json:"server_closed"` // ended by the server before its lifetime
	PeakLive      int64         `json:"peak_live"`
	Start         ServerSample  `json:"start"`
	Peak          ChurnSample   `json:"peak_rss"`
	End           ServerSample  `json:"end"`
	SettleSeconds float64       `json:"settle_seconds"`
	RSSDelta      int64         `json:"rss_delta_bytes"` // end - start
	GaugeDelta    float64       `json:"gauge_delta"`
	GaugeReturned bool          `json:"gauge_returned"`
	Samples       []ChurnSample `json:"samples"`
	ServerCPU     float64       `json:"server_cpu_seconds"`
}

// Churn runs the churn scenario: streams open at Rate with random lifetimes
// for Duration, the server sampled every SampleEvery; then it waits for the
// server's gauge to return to its start value and takes the end sample.
func Churn(ctx context.Context, cfg ChurnConfig) (*ChurnReport, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.MinLife <= 0 || cfg.MaxLife < cfg.MinLife {
		return nil, ErrBadChurn
	}
	c, err := cfg.Client.Validate()
	if err != nil {
		return nil, err
	}
	cfg.Client = c
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = DefaultChurnSample
	}
	if cfg.SettleTimeout <= 0 {
		cfg.SettleTimeout = DefaultChurnSettle
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	ch := &churner{cfg: &cfg, req: cfg.Client.Request(), srcs: cfg.Client.SourceAddrs(),
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	rep := &ChurnReport{Scenario: "churn", Target: cfg.Client.Target.String(), Rate: cfg.Rate}
	rep.Start = cfg.sampleServer(ctx, 0)
	err = ch.run(ctx, rep)
	ch.wg.Wait() // every stream ends by its lifetime (bounded by MaxLife)
	rep.Attempts, rep.Skipped = ch.attempts, ch.skipped
	rep.Opened, rep.Ready, rep.Failed = ch.opened.Load(), ch.ready.Load(), ch.failed.Load()
	rep.LeftEarly = ch.leftEarly.Load()
	rep.ServerClosed, rep.PeakLive = ch.serverClosed.Load(), ch.peak.Load()
	if err != nil {
		return rep, err
	}
	// Wait for the server to drop the closed streams, then let memory settle.
	t0 := time.Now()
	var end ServerSample
	err = waitUntil(ctx, cfg.SettleTimeout, func() (bool, error) {
		end = cfg.sampleServer(ctx, 0)
		return cfg.MetricsURL == "" || end.Gauge <= rep.Start.Gauge, nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return rep, err
	}
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return rep, err
	}
	rep.End = cfg.sampleServer(ctx, 0)
	rep.SettleSeconds = time.Since(t0).Seconds()
	rep.RSSDelta = rep.End.RSSBytes - rep.Start.RSSBytes
	rep.GaugeDelta = rep.End.Gauge - rep.Start.Gauge
	rep.GaugeReturned = cfg.MetricsURL != "" && rep.GaugeDelta == 0
	rep.ServerCPU = rep.End.CPUSeconds - rep.Start.CPUSeconds
	return rep, nil
}

// churner opens and closes the streams; one goroutine per live stream.
type churner struct {
	cfg                               *ChurnConfig
	req                               []byte
	srcs                              [][4]byte
	rng                               *rand.Rand // run's goroutine only
	wg                                sync.WaitGroup
	attempts, skipped                 int64 // run's goroutine only
	live, peak, opened, ready, failed atomic.Int64
	leftEarly                         atomic.Int64
	serverClosed                      atomic.Int64
}

func (ch *churner) run(ctx context.Context, rep *ChurnReport) error {
	cfg := ch.cfg
	n := min(int64(cfg.Rate*cfg.Duration.Seconds()), MaxChurnOpens)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	nextSample := start
	for i := int64(0); i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !time.Now().Before(nextSample) {
			ch.sample(ctx, rep, start)
			nextSample = nextSample.Add(ch.cfg.SampleEvery)
		}
		if err := SleepCtx(ctx, time.Until(at)); err != nil {
			return err
		}
		ch.attempts++
		if ch.live.Load() >= MaxChurnLive {
			ch.skipped++
			continue
		}
		life := cfg.MinLife + time.Duration(ch.rng.Int64N(int64(cfg.MaxLife-cfg.MinLife)+1))
		src := ch.srcs[int(i)%len(ch.srcs)]
		ch.wg.Add(1)
		go ch.stream(src, life)
	}
	rep.Seconds = time.Since(start).Seconds()
	ch.sample(ctx, rep, start)
	return nil
}

func (ch *churner) sample(ctx context.Context, rep *ChurnReport, start time.Time) {
	if len(rep.Samples) >= maxChurnSamples {
		return
	}
	s := ch.cfg.sampleServer(ctx, ch.live.Load())
	cs := ChurnSample{Seconds: time.Since(start).Seconds(), Live: s.Streams, RSSBytes: s.RSSBytes, Gauge: s.Gauge}
	rep.Samples = append(rep.Samples, cs)
	if cs.RSSBytes > rep.Peak.RSSBytes {
		rep.Peak = cs
	}
}

// stream is one churn stream: connect, read until its lifetime ends, close.
func (ch *churner) stream(src [4]byte, life time.Duration) {
	defer ch.wg.Done()
	if l := ch.live.Add(1); l > ch.peak.Load() {
		ch.peak.Store(l) // approximate under races; a report figure only
	}
	defer ch.live.Add(-1)
	deadline := time.Now().Add(life)
	d := net.Dialer{Deadline: time.Now().Add(ch.cfg.Client.ConnectTimeout),
		LocalAddr: &net.TCPAddr{IP: net.IP(src[:])},
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
		}}
	conn, err := d.Dial("tcp4", ch.cfg.Client.Target.String())
	if err != nil {
		ch.failed.Add(1)
		return
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if _, err := conn.Write(ch.req); err != nil {
		ch.failed.Add(1)
		return
	}
	buf := make([]byte, churnReadBuf)
	var seen []byte // the head and the first bytes, until "ready" is found
	opened, ready := false, false
	for {
		n, err := conn.Read(buf)
		if n > 0 && !ready {
			seen = append(seen, buf[:n]...)
			if !opened && bytes.Contains(seen, []byte("\r\n\r\n")) {
				if !bytes.HasPrefix(seen, []byte("HTTP/1.1 200")) && !bytes.HasPrefix(seen, []byte("HTTP/1.0 200")) {
					ch.failed.Add(1)
					return
				}
				opened = true
				ch.opened.Add(1)
			}
			if opened && bytes.Contains(seen, []byte("event: ready")) {
				ready = true
				ch.ready.Add(1)
				seen = nil
			}
			if len(seen) > churnReadBuf*4 {
				seen = seen[len(seen)-churnReadBuf:]
			}
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				if !opened {
					ch.leftEarly.Add(1)
				}
			case opened:
				ch.serverClosed.Add(1)
			default:
				ch.failed.Add(1)
			}
			return
		}
	}
}

// WriteTable prints the summary table.
func (c *ChurnReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "churn: target %s, %.0f opens/s for %.1fs\n", c.Target, c.Rate, c.Seconds)
	fmt.Fprintf(w, "  attempts %d (skipped at the live bound %d): opened %d ready %d failed %d left before the answer %d server-closed %d, peak live %d\n",
		c.Attempts, c.Skipped, c.Opened, c.Ready, c.Failed, c.LeftEarly, c.ServerClosed, c.PeakLive)
	fmt.Fprintf(w, "  %-6s %12s %10s\n", "", "server RSS", "gauge")
	fmt.Fprintf(w, "  %-6s %12s %10.0f\n", "start", mib(c.Start.RSSBytes), c.Start.Gauge)
	fmt.Fprintf(w, "  %-6s %12s %10.0f  (at %.1fs, %d live)\n", "peak", mib(c.Peak.RSSBytes), c.Peak.Gauge, c.Peak.Seconds, c.Peak.Live)
	fmt.Fprintf(w, "  %-6s %12s %10.0f  (%.1fs after churn stopped)\n", "end", mib(c.End.RSSBytes), c.End.Gauge, c.SettleSeconds)
	fmt.Fprintf(w, "  RSS end-start %+.1f MiB, gauge end-start %+.0f (returned %v), server CPU %.2fs\n",
		float64(c.RSSDelta)/(1<<20), c.GaugeDelta, c.GaugeReturned, c.ServerCPU)
}
