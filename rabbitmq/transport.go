package rabbitmq

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/loop"
	"ssegw/sse"
)

// Limits and timings. None is a user knob.
const (
	// prefetch is the basic.qos prefetch count of every consumer (per
	// consumer, not per channel): at most this many of a stream's messages
	// are unacked at once. It bounds what one stream's queue can have in this
	// process (10 bodies of at most maxBody) while a burst still flows
	// without a broker round trip per message (an ack follows the write by a
	// loop step, microseconds to a millisecond), and it is the Node service's
	// value, so two streams sharing a queue split it round-robin as there.
	prefetch = 10
	// lanes is the number of lane goroutines, each with two AMQP channels of
	// its own: one for declares and binds, one that carries its streams'
	// consumers (and their acks). A failed declare closes only its declare
	// channel (reopened for the next stream); a failed consume closes that
	// lane's consume channel, whose other consumers are re-established at
	// once (1/lanes of the streams, each told ready again). Setup RPCs run
	// one at a time per lane, so lanes is also the setups in flight, which
	// sets how fast thousands of queues are declared after a reconnect:
	// measured against a local broker at 5,000 streams, 2 lanes set up 363
	// streams/s, 4: 523, 8: 595, 16: 735, 32: 855 (BENCHMARKS.md); 16 takes
	// most of that for 33 channels (RabbitMQ's channel_max is 2047) and
	// still gathers ~20 acks per frame in a fan-out.
	lanes = 16
	// reconnectMin and reconnectMax bound the backoff between connection
	// attempts (the Node service's 1 s doubling to 30 s, reset after a
	// success); each wait is drawn from [d/2, d], so gateways that lost a
	// broker together do not come back together.
	reconnectMin = time.Second
	reconnectMax = 30 * time.Second
	// dialTimeout bounds one TCP connect plus the TLS and AMQP handshakes.
	dialTimeout = 10 * time.Second
	// heartbeat is the AMQP heartbeat asked for (the URL's heartbeat=
	// wins): a broker that vanished without closing the TCP connection is
	// noticed within about two intervals.
	heartbeat = 10 * time.Second
	// dispatchQueue is the depth of the queue from the per-consumer
	// forwarders to the dispatcher. A full queue holds the forwarders back
	// (never drops): what can wait is bounded by prefetch per consumer.
	dispatchQueue = 4096
	// closeWait bounds the connection.close handshake at Stop (a broker that
	// does not answer is not waited for longer).
	closeWait = 5 * time.Second
	// ackHold is the lane's ack tick: written deliveries are acked at most
	// this long after the write, gathered into basic.ack(multiple) frames
	// (see ackWindow and lane.ackTick).
	ackHold = 5 * time.Millisecond
)

// Errors of the transport.
var (
	// ErrUnavailable: Open was called while the broker is not connected. The
	// gateway answers the stream as a connect failure with code
	// RABBITMQ_UNAVAILABLE (CONTRACT.md 10, CONNECT_FAILURE).
	ErrUnavailable = errors.New("rabbitmq: broker unavailable")
	// ErrStopped: Open was called after Stop.
	ErrStopped = errors.New("rabbitmq: transport stopped")
	// ErrNoURL: New without a URL.
	ErrNoURL = errors.New("rabbitmq: RABBITMQ_URL is empty")
	// ErrBadTTL: New with a queue TTL RabbitMQ does not accept.
	ErrBadTTL = errors.New("rabbitmq: queue TTL must be between 1 and 4294967295 ms")
	// ErrBadName: a queue name or binding key longer than 255 bytes or not
	// UTF-8 (StreamFailed).
	ErrBadName = errors.New("rabbitmq: invalid AMQP name")
	// ErrSetup: the broker refused the stream's queue declare, bind or
	// consume (StreamFailed; it wraps the broker's error).
	ErrSetup = errors.New("rabbitmq: queue setup failed")
	// ErrConsumerCancelled: the broker cancelled the stream's consumer (its
	// queue was deleted); the stream ends with error, as in Node
	// (StreamFailed).
	ErrConsumerCancelled = errors.New("rabbitmq: the broker cancelled the stream's consumer")
	// ErrBrokerLost: the broker connection was lost before the stream's
	// queue was consuming, so it never got ready (StreamFailed, as the Node
	// service fails a stream whose setup is interrupted). Streams that were
	// ready wait for the reconnect instead and get ready again.
	ErrBrokerLost = errors.New("rabbitmq: broker connection lost during the stream's queue setup")
)

// Token is a stream's identity: the event loops' 16-byte token. It is an
// alias, so package loop implements Gateway without importing this package
// (which imports loop for its frames).
type Token = [16]byte

// Gateway is what the transport calls back about the streams it was given by
// Open. The event loops implement it (phase 2). Every method is called on one
// of this package's goroutines, never on the goroutine that called Open or
// Close; none may block (hand the work to the owning loop's inbox). A call may
// come for a stream the gateway has already ended (Close races with the
// transport's own goroutines): ignore it, and answer a Deliver with
// done(false).
type Gateway interface {
	// StreamReady: the stream's queue is declared, bound to every key and
	// consumed; write `ready`. again is false the first time and true when
	// the consumer was re-established (after a broker reconnect, or after the
	// AMQP channel that carried it failed): write `ready` again. Called on a
	// lane goroutine. For a token it comes before every Deliver of the
	// consumer it announces.
	StreamReady(t Token, again bool)
	// StreamFailed: the stream's queue could not be set up, or re-established
	// after a reconnect, or the broker cancelled its consumer; end the stream
	// with disconnect reason `error`. err wraps ErrSetup, ErrBadName,
	// ErrBrokerLost or ErrConsumerCancelled. Called on the manager
	// goroutine; the transport forgets the token (no Close is needed, one is
	// harmless).
	StreamFailed(t Token, err error)
	// Deliver: write frame to the stream. For one stream, calls come in the
	// queue's order, on the dispatcher goroutine. The gateway owns one
	// reference to frame and Releases it when written or dropped. Then it
	// calls done exactly once, from any goroutine, without blocking:
	// done(true) once the frame is queued on the connection (the message is
	// acked), done(false) when it was not written because the stream is gone
	// or going (the message is requeued for the next consumer of the queue,
	// e.g. a client returning with the same request_id within the TTL).
	Deliver(t Token, frame *loop.Frame, done func(written bool))
}

// Options configure a Transport.
type Options struct {
	URL        string     // RABBITMQ_URL
	QueueTTL   int64      // RABBITMQ_QUEUE_TTL_MS: x-expires of every queue, in ms
	EnvPrefix  string     // RABBITMQ_ENV_PREFIX
	AutoDelete bool       // RABBITMQ_ENV_AUTO_DELETE
	Format     sse.Format // EVENT_FORMAT: how a message becomes a frame, as a send does
	Name       string     // connection_name shown by the broker (optional)
	Logger     *slog.Logger
}

// Transport is one gateway's AMQP connection and everything on it.
type Transport struct {
	opts     Options
	log      *slog.Logger
	gw       Gateway
	exchange string
	qargs    amqp.Table

	started   atomic.Bool
	stopped   atomic.Bool
	connected atomic.Bool
	draining  atomic.Bool // Stop: deliveries are no longer handed to the gateway

	events     inbox[event]  // to the manager
	dispatchQ  chan delivery // forwarders to the dispatcher
	tags       atomic.Uint64 // consumer tag sequence
	consumers  atomic.Int64  // active consumers (gauge)
	inFlight   atomic.Int64  // handed to the gateway, not yet settled
	settledSig chan struct{} // cap 1: inFlight reached 0 while draining
	stopReq    chan stopRequest
	quit       chan struct{} // closed at the very end of Stop: forwarders and dispatcher exit
	done       chan struct{} // closed when Stop has finished
	stopOnce   sync.Once
	bg         sync.WaitGroup // dispatcher

	metrics *metrics.Set
	m       counters
}

// counters are the Transport's metrics (a set per Transport, so several
// gateways in one test process keep their own).
type counters struct {
	deliveries, acks, ackFrames, reconnects, connectFailures, setupFailures, channelResets *metrics.Counter
	nackMalformed, nackClosed, nackUnwritten                                               *metrics.Counter
}

type stopRequest struct {
	ctx context.Context
}

// New checks the options and builds a Transport; it connects at Start.
func New(o Options) (*Transport, error) {
	if o.URL == "" {
		return nil, ErrNoURL
	}
	if _, err := amqp.ParseURI(o.URL); err != nil {
		return nil, err
	}
	if o.QueueTTL < 1 || o.QueueTTL > 1<<32-1 {
		return nil, ErrBadTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Name == "" {
		o.Name = "ssegw"
	}
	t := &Transport{
		opts:       o,
		log:        o.Logger,
		exchange:   ExchangeName(o.EnvPrefix),
		qargs:      queueArgs(o.QueueTTL),
		dispatchQ:  make(chan delivery, dispatchQueue),
		settledSig: make(chan struct{}, 1),
		stopReq:    make(chan stopRequest, 1),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		metrics:    metrics.NewSet(),
	}
	if err := checkName("exchange name", t.exchange); err != nil {
		return nil, err
	}
	t.events.init()
	s := t.metrics
	t.m = counters{
		deliveries:      s.NewCounter(`ssegw_rabbitmq_deliveries_total`),
		acks:            s.NewCounter(`ssegw_rabbitmq_acks_total`),
		ackFrames:       s.NewCounter(`ssegw_rabbitmq_ack_frames_total`),
		reconnects:      s.NewCounter(`ssegw_rabbitmq_reconnects_total`),
		connectFailures: s.NewCounter(`ssegw_rabbitmq_connect_failures_total`),
		setupFailures:   s.NewCounter(`ssegw_rabbitmq_setup_failures_total`),
		channelResets:   s.NewCounter(`ssegw_rabbitmq_channel_resets_total`),
		nackMalformed:   s.NewCounter(`ssegw_rabbitmq_nacks_total{cause="malformed"}`),
		nackClosed:      s.NewCounter(`ssegw_rabbitmq_nacks_total{cause="stream_closed"}`),
		nackUnwritten:   s.NewCounter(`ssegw_rabbitmq_nacks_total{cause="not_written"}`),
	}
	s.NewGauge(`ssegw_rabbitmq_connected`, func() float64 {
		if t.connected.Load() {
			return 1
		}
		return 0
	})
	s.NewGauge(`ssegw_rabbitmq_consumers`, func() float64 { return float64(t.consumers.Load()) })
	s.NewGauge(`ssegw_rabbitmq_deliveries_in_flight`, func() float64 { return float64(t.inFlight.Load()) })
	return t, nil
}

// Start attaches the gateway and starts connecting in the background (the
// broker being down does not stop the gateway from starting: /readyz says so,
// and Open answers ErrUnavailable until it is up). Call it once.
func (t *Transport) Start(gw Gateway) {
	if t.started.Swap(true) {
		return
	}
	t.gw = gw
	t.bg.Add(1)
	go t.dispatch()
	go t.manage()
}

// Open hands the transport a stream accepted with a string request_id and
// non-empty bindings: its queue sse.conn.<requestID> is declared, bound to
// each binding in order and consumed, and then the Gateway is told
// StreamReady (or StreamFailed). It only enqueues (safe on an event loop) and
// answers at once: ErrUnavailable while the broker is not connected (answer
// the stream as a connect failure, RABBITMQ_UNAVAILABLE), ErrStopped after
// Stop. The transport keeps bindings; do not modify it afterwards. One Open
// per token.
func (t *Transport) Open(tok Token, requestID string, bindings []string) error {
	if t.stopped.Load() {
		return ErrStopped
	}
	if !t.connected.Load() {
		return ErrUnavailable
	}
	s := &stream{token: tok, queue: QueueName(requestID), keys: bindings}
	t.events.put(event{kind: evOpen, s: s})
	return nil
}

// Close tells the transport the stream has ended: its consumer is cancelled
// (the queue is kept, so the TTL can replay it; messages in flight to the
// stream are requeued). It only enqueues; an unknown token is ignored.
func (t *Transport) Close(tok Token) {
	t.events.put(event{kind: evClose, token: tok})
}

// Connected reports whether the broker connection is up.
func (t *Transport) Connected() bool { return t.connected.Load() }

// ReadyReasons is loop.Options.ReadyExtra: the broker connection.
func (t *Transport) ReadyReasons() []string {
	if t.connected.Load() {
		return nil
	}
	return []string{"RabbitMQ not connected"}
}

// Exchange is the name of the exchange the streams' queues are bound to.
func (t *Transport) Exchange() string { return t.exchange }

// WriteMetrics writes the transport's metrics in Prometheus text format.
func (t *Transport) WriteMetrics(w io.Writer) { t.metrics.WritePrometheus(w) }

// Stop ends the transport: no more deliveries are handed to the gateway,
// every consumer is cancelled, the deliveries already handed over are waited
// for (until ctx ends) so that the written ones are acked and the others
// requeued, then the connection is closed (the broker requeues whatever is
// still unacked: nothing that was not written is ever acked). Call it after
// the loops have drained their streams (their Close calls cancel consumers
// one by one); the Gateway is not told about streams still open. It returns
// ctx.Err() if ctx ended first (the shutdown then completes in the
// background).
func (t *Transport) Stop(ctx context.Context) error {
	t.stopped.Store(true)
	if !t.started.Load() {
		return nil
	}
	t.stopOnce.Do(func() { t.stopReq <- stopRequest{ctx: ctx} })
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newTag is a consumer tag unique on the connection. Tokens are not used: the
// broker's operators would see them, and a token addresses a stream.
func (t *Transport) newTag() string {
	return "ssegw-" + strconv.FormatUint(t.tags.Add(1), 10)
}
