package loop

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"ssegw/callback"
	"ssegw/history"
)

// Counters are process-wide (one gateway per process; tests compare deltas).
var (
	connsAccepted = metrics.NewCounter(`ssegw_connections_accepted_total`)
	connsClosed   = metrics.NewCounter(`ssegw_connections_closed_total`)
	streamsOpened = metrics.NewCounter(`ssegw_streams_opened_total`)
	slowConsumers = metrics.NewCounter(`ssegw_slow_consumer_closes_total`)
	writeTimeouts = metrics.NewCounter(`ssegw_write_timeout_closes_total`)
	badRequests   = metrics.NewCounter(`ssegw_bad_requests_total`)
	headTimeouts  = metrics.NewCounter(`ssegw_head_timeouts_total`)
	publishes     = metrics.NewCounter(`ssegw_publishes_total`)
	fanoutSize    = metrics.NewPrometheusHistogramExt(`ssegw_publish_fanout_size`, fanoutBuckets)
	stepLag       = metrics.NewPrometheusHistogramExt(`ssegw_loop_step_lag_seconds`, stepLagBuckets)
	stepDuration  = metrics.NewPrometheusHistogramExt(`ssegw_loop_step_duration_seconds`, stepDurationBuckets)

	connectOutcomes = [...]*metrics.Counter{
		callback.Accepted:     metrics.NewCounter(`ssegw_connects_total{outcome="accepted"}`),
		callback.Rejected:     metrics.NewCounter(`ssegw_connects_total{outcome="rejected"}`),
		callback.BackendError: metrics.NewCounter(`ssegw_connects_total{outcome="backend_error"}`),
		callback.Timeout:      metrics.NewCounter(`ssegw_connects_total{outcome="timeout"}`),
		callback.Unavailable:  metrics.NewCounter(`ssegw_connects_total{outcome="unavailable"}`),
		callback.ServerError:  metrics.NewCounter(`ssegw_connects_total{outcome="server_error"}`),
	}
	// connectFailureAnswers counts failed connects (timeout, unavailable,
	// server_error) by how the client was answered (CONNECT_FAILURE).
	connectFailureAnswers = [...]*metrics.Counter{
		answerRetry:  metrics.NewCounter(`ssegw_connect_failures_answered_total{answer="retry"}`),
		answerStatus: metrics.NewCounter(`ssegw_connect_failures_answered_total{answer="status"}`),
	}
	disconnects = [...]*metrics.Counter{
		ReasonNone:         metrics.NewCounter(`ssegw_disconnects_total{reason="none"}`),
		ReasonClientClosed: metrics.NewCounter(`ssegw_disconnects_total{reason="client_closed"}`),
		ReasonServerClosed: metrics.NewCounter(`ssegw_disconnects_total{reason="server_closed"}`),
		ReasonError:        metrics.NewCounter(`ssegw_disconnects_total{reason="error"}`),
	}
	shed = [...]*metrics.Counter{
		shedShuttingDown: metrics.NewCounter(`ssegw_shed_total{cause="shutting_down"}`),
		shedTooMany:      metrics.NewCounter(`ssegw_shed_total{cause="too_many_connections"}`),
		shedOverloaded:   metrics.NewCounter(`ssegw_shed_total{cause="overloaded"}`),
	}
)

func shedCount(cause int) { shed[cause].Inc() }

// How a failed connect was answered.
const (
	answerRetry = iota
	answerStatus
)

// loopCounters are the per-write counters. Each loop has its own, so the hot
// path never bounces a shared cache line between loops; /metrics sums them.
// Only the owning loop writes; the atomics make the reads from /metrics safe.
type loopCounters struct {
	events, bytes, writes, heartbeats, heartbeatsSkipped atomic.Uint64
	connectsAhead                                        atomic.Uint64 // connect results applied ahead of a fan-out in progress
}

// sumLoops adds one counter over every loop.
func (s *Server) sumLoops(field func(*loopCounters) *atomic.Uint64) float64 {
	var n uint64
	for _, ls := range s.allLoops() {
		n += field(&ls.counters).Load()
	}
	return float64(n)
}

// WriteMetrics writes every metric in Prometheus text format: the gateway's
// counters, this server's gauges, and process and Go runtime metrics.
func (s *Server) WriteMetrics(w io.Writer) {
	s.gaugesOnce.Do(s.makeGauges)
	metrics.WritePrometheus(w, true)
	s.gauges.WritePrometheus(w)
}

func (s *Server) makeGauges() {
	set := metrics.NewSet()
	set.NewGauge(`ssegw_streams_open`, func() float64 { return float64(s.streams.Load()) })
	set.NewGauge(`ssegw_sockets_open`, func() float64 { return float64(s.sockets.Load()) })
	set.NewGauge(`ssegw_pending_connects`, func() float64 { return float64(s.pendingN.Load()) })
	set.NewGauge(`ssegw_registered_tokens`, func() float64 { return float64(s.registered.Load()) })
	set.NewGauge(`ssegw_wheel_timers`, func() float64 { return float64(s.TimersLive()) })
	set.NewGauge(`ssegw_max_connections`, func() float64 { return float64(s.opts.MaxConnections) })
	set.NewGauge(`ssegw_events_written_total`, func() float64 { return s.sumLoops(func(c *loopCounters) *atomic.Uint64 { return &c.events }) })
	set.NewGauge(`ssegw_bytes_written_total`, func() float64 { return s.sumLoops(func(c *loopCounters) *atomic.Uint64 { return &c.bytes }) })
	set.NewGauge(`ssegw_write_calls_total`, func() float64 { return s.sumLoops(func(c *loopCounters) *atomic.Uint64 { return &c.writes }) })
	set.NewGauge(`ssegw_heartbeats_total`, func() float64 { return s.sumLoops(func(c *loopCounters) *atomic.Uint64 { return &c.heartbeats }) })
	set.NewGauge(`ssegw_heartbeats_skipped_total`, func() float64 {
		return s.sumLoops(func(c *loopCounters) *atomic.Uint64 { return &c.heartbeatsSkipped })
	})
	set.NewGauge(`ssegw_connects_ahead_of_fanout_total`, func() float64 {
		return s.sumLoops(func(c *loopCounters) *atomic.Uint64 { return &c.connectsAhead })
	})
	set.NewGauge(`ssegw_draining`, func() float64 {
		if s.stopping.Load() {
			return 1
		}
		return 0
	})
	if h := s.opts.History; h != nil {
		set.NewGauge(`ssegw_history_messages`, func() float64 { return float64(h.Stats().Messages) })
		set.NewGauge(`ssegw_history_bytes`, func() float64 { return float64(h.Stats().Bytes) })
		set.NewGauge(`ssegw_history_channels`, func() float64 { return float64(h.Stats().Channels) })
		for reason, name := range []string{history.DropSize: "size", history.DropAge: "age", history.DropBytes: "bytes"} {
			set.NewGauge(`ssegw_history_dropped_total{reason="`+name+`"}`, func() float64 { return float64(h.Stats().Dropped[reason]) })
		}
	}
	s.gauges = set
}

// slowLogEvery rate-limits the slow-consumer warning: one line per interval,
// with the count of the ones not logged.
const slowLogEvery = time.Second

type rateLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed atomic.Int64
}

func (r *rateLimiter) allow() (bool, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < slowLogEvery {
		r.suppressed.Add(1)
		return false, 0
	}
	r.last = time.Now()
	return true, r.suppressed.Swap(0)
}

func (s *Server) logSlow(cs *conn, pending int) {
	if ok, skipped := s.slowLog.allow(); ok {
		s.log.Warn("closing slow consumer", "token", cs.token.String(), "unsent_bytes", pending,
			"limit", s.opts.WriteBufferLimit, "similar_not_logged", skipped)
	}
}
