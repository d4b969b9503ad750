package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// stream is one stream given by Open. token, queue and keys never change;
// closed is set by the manager when the gateway closed it; the rest belongs to
// the manager goroutine.
type stream struct {
	token  Token
	queue  string
	keys   []string
	closed atomic.Bool

	lane  int       // index of its lane, the same in every session
	ready bool      // told StreamReady at least once
	cons  *consumer // its consumer in the current session, nil when none
}

// session is one AMQP connection and the lanes on it. When the connection
// ends, the session ends with it; a reconnect makes a new one.
type session struct {
	gen    uint64
	conn   *amqp.Connection
	closed chan *amqp.Error // conn.NotifyClose
	lanes  []*lane
	quit   chan struct{} // closed when the session ends: its lanes exit
	wg     sync.WaitGroup
}

type eventKind uint8

const (
	evOpen      eventKind = iota // s: a new stream
	evClose                      // token: the gateway ended it
	evSetup                      // gen, s, c or err: a lane finished a setup
	evLaneLost                   // gen, victims: a lane's consume channel failed
	evCancelled                  // gen, c: the broker cancelled a consumer
)

// event is one thing for the manager to handle.
type event struct {
	kind    eventKind
	gen     uint64
	token   Token
	s       *stream
	c       *consumer
	err     error
	victims []*consumer
}

// dialResult is what a connection attempt produced.
type dialResult struct {
	sess *session
	err  error
}

// manage is the manager goroutine: it owns the stream table and the
// connection's lifecycle (connect with backoff, lose, reconnect, stop).
func (t *Transport) manage() {
	defer close(t.done)
	m := &manager{t: t, streams: make(map[Token]*stream)}
	m.run()
}

type manager struct {
	t        *Transport
	streams  map[Token]*stream
	sess     *session
	gen      uint64
	attempt  int  // failed attempts since the last success
	everUp   bool // a session was up before (the next one is a reconnect)
	nextLane int
	batch    []event
}

func (m *manager) run() {
	t := m.t
	dialCtx, cancelDial := context.WithCancel(context.Background())
	defer cancelDial()
	dialed := make(chan dialResult, 1)
	dialing := false
	timer := time.NewTimer(0) // the first attempt at once
	defer timer.Stop()
	for {
		var lost chan *amqp.Error
		if m.sess != nil {
			lost = m.sess.closed
		}
		select {
		case <-t.events.wake:
			m.handleEvents()
		case <-timer.C:
			dialing = true
			m.gen++
			go func(gen uint64) { dialed <- t.connect(dialCtx, gen) }(m.gen)
		case r := <-dialed:
			dialing = false
			m.connected(r, timer)
		case err := <-lost:
			m.lost(err)
			m.attempt = 1
			timer.Reset(backoff(m.attempt))
		case req := <-t.stopReq:
			cancelDial()
			if dialing {
				if r := <-dialed; r.sess != nil {
					m.sess = r.sess
					m.startLanes()
				}
			}
			m.stop(req.ctx)
			return
		}
	}
}

// connected takes a connection attempt's result.
func (m *manager) connected(r dialResult, timer *time.Timer) {
	t := m.t
	if r.err != nil {
		t.m.connectFailures.Inc()
		m.attempt++
		d := backoff(m.attempt)
		t.log.Warn("rabbitmq: cannot connect to the broker", "err", r.err, "retry_in", d.Round(time.Millisecond))
		timer.Reset(d)
		return
	}
	m.sess, m.attempt = r.sess, 0
	if m.everUp {
		t.m.reconnects.Inc()
	}
	m.everUp = true
	m.startLanes()
	t.connected.Store(true)
	t.log.Info("rabbitmq: connected", "exchange", t.exchange, "streams_to_reestablish", len(m.streams))
	for _, s := range m.streams { // the streams that were ready before the loss
		m.setup(s)
	}
}

func (m *manager) startLanes() {
	for _, l := range m.sess.lanes {
		m.sess.wg.Add(1)
		go l.run()
	}
}

// backoff is the wait before connection attempt n (1-based) after a failure.
func backoff(n int) time.Duration {
	d := reconnectMin
	for i := 1; i < n && d < reconnectMax; i++ {
		d *= 2
	}
	d = min(d, reconnectMax)
	return d/2 + rand.N(d/2+1)
}

// handleEvents applies what is queued, in order.
func (m *manager) handleEvents() {
	m.batch = m.t.events.take(m.batch)
	for i := range m.batch {
		m.handle(&m.batch[i])
	}
}

func (m *manager) handle(e *event) {
	t := m.t
	switch e.kind {
	case evOpen:
		s := e.s
		if m.sess == nil || t.draining.Load() {
			// Open saw the broker up; it went down (or Stop began) since.
			t.gw.StreamFailed(s.token, ErrBrokerLost)
			t.m.setupFailures.Inc()
			return
		}
		if _, dup := m.streams[s.token]; dup {
			t.log.Warn("rabbitmq: Open for a token already open; ignored")
			return
		}
		s.lane = m.nextLane
		m.nextLane = (m.nextLane + 1) % lanes
		m.streams[s.token] = s
		m.setup(s)
	case evClose:
		s := m.streams[e.token]
		if s == nil {
			return
		}
		delete(m.streams, e.token)
		s.closed.Store(true)
		if s.cons != nil {
			s.cons.l.put(laneOp{kind: opCancel, c: s.cons})
		}
	case evSetup:
		m.setupDone(e)
	case evCancelled:
		s := e.c.s
		if m.sess == nil || e.gen != m.sess.gen || m.streams[s.token] != s || s.cons != e.c {
			return
		}
		delete(m.streams, s.token)
		s.closed.Store(true)
		t.log.Warn("rabbitmq: the broker cancelled a stream's consumer; ending the stream", "queue", s.queue)
		t.gw.StreamFailed(s.token, fmt.Errorf("%w: queue %s", ErrConsumerCancelled, s.queue))
	case evLaneLost:
		if m.sess == nil || e.gen != m.sess.gen {
			return
		}
		t.m.channelResets.Inc()
		for _, c := range e.victims {
			s := c.s
			if m.streams[s.token] == s && s.cons == c {
				s.cons = nil
				m.setup(s)
			}
		}
	}
}

// setup asks the stream's lane to declare, bind and consume its queue.
func (m *manager) setup(s *stream) {
	m.sess.lanes[s.lane].put(laneOp{kind: opSetup, s: s, again: s.ready})
}

// setupDone takes a lane's setup result.
func (m *manager) setupDone(e *event) {
	t, s := m.t, e.s
	current := m.sess != nil && e.gen == m.sess.gen
	if m.streams[s.token] != s { // closed (or failed) meanwhile
		if e.c != nil && current {
			e.c.l.put(laneOp{kind: opCancel, c: e.c})
		}
		return
	}
	if !current {
		return // the session ended: lost() has decided about the stream
	}
	if e.err != nil {
		if errors.Is(e.err, amqp.ErrClosed) || m.sess.conn.IsClosed() {
			return // the connection is going: lost() will decide
		}
		delete(m.streams, s.token)
		s.closed.Store(true)
		t.m.setupFailures.Inc()
		t.log.Warn("rabbitmq: stream queue setup failed", "queue", s.queue, "err", e.err)
		t.gw.StreamFailed(s.token, e.err)
		return
	}
	s.cons, s.ready = e.c, true
}

// lost handles the end of the connection: the lanes are stopped (their last
// reports applied first), streams that were ready wait for the reconnect, the
// others fail.
func (m *manager) lost(err *amqp.Error) {
	t := m.t
	t.connected.Store(false)
	m.endSession()
	m.handleEvents()
	failed := 0
	for tok, s := range m.streams {
		s.cons = nil
		if !s.ready {
			delete(m.streams, tok)
			s.closed.Store(true)
			failed++
			t.m.setupFailures.Inc()
			t.gw.StreamFailed(tok, ErrBrokerLost)
		}
	}
	t.log.Warn("rabbitmq: broker connection lost", "err", errorText(err), "streams_waiting", len(m.streams), "streams_failed", failed)
}

// endSession stops the session's lanes and waits for them (a lane in an RPC
// returns at once: the library fails every call on a closed connection).
func (m *manager) endSession() {
	if m.sess == nil {
		return
	}
	close(m.sess.quit)
	for _, l := range m.sess.lanes {
		l.ops.close()
	}
	m.sess.wg.Wait()
	m.sess = nil
}

func errorText(err *amqp.Error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// stop is Stop: hand nothing more to the gateway, cancel every consumer, wait
// for what was handed over to be settled, flush the acks, close.
func (m *manager) stop(ctx context.Context) {
	t := m.t
	t.connected.Store(false)
	t.draining.Store(true)
	defer close(t.quit)
	if m.sess == nil {
		return
	}
	var wg sync.WaitGroup
	for _, l := range m.sess.lanes {
		wg.Add(1)
		l.put(laneOp{kind: opCancelAll, wg: &wg})
	}
	waitGroup(ctx, &wg)
	t.waitSettled(ctx)
	for _, l := range m.sess.lanes {
		wg.Add(1)
		l.put(laneOp{kind: opFlush, wg: &wg})
	}
	waitGroup(ctx, &wg)
	// Whatever is still unacked is requeued by the broker.
	_ = m.sess.conn.CloseDeadline(time.Now().Add(closeWait))
	m.endSession()
	t.log.Info("rabbitmq: stopped")
}

// waitSettled waits until every delivery handed to the gateway is settled, or
// ctx ends (the unsettled ones are then requeued when the connection closes).
func (t *Transport) waitSettled(ctx context.Context) {
	for t.inFlight.Load() > 0 {
		select {
		case <-t.settledSig:
		case <-ctx.Done():
			t.log.Warn("rabbitmq: stop: deliveries still unsettled; the broker requeues them", "in_flight", t.inFlight.Load())
			return
		}
	}
}

// waitGroup waits for wg or ctx.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// connect dials the broker, declares the exchange and opens the lanes'
// channels. It runs on its own goroutine, so the manager keeps handling
// Close while it waits.
func (t *Transport) connect(ctx context.Context, gen uint64) dialResult {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(t.opts.Name)
	conn, err := amqp.DialConfig(t.opts.URL, amqp.Config{
		Heartbeat:  heartbeat,
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Until the AMQP handshake is done (the library clears it).
			if err := c.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	if err != nil {
		return dialResult{err: err}
	}
	sess := &session{gen: gen, conn: conn, closed: conn.NotifyClose(make(chan *amqp.Error, 1)), quit: make(chan struct{})}
	fail := func(err error) dialResult {
		_ = conn.Close()
		return dialResult{err: err}
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	if err := t.declareExchange(ch, false); err != nil {
		return fail(err)
	}
	_ = ch.Close()
	for i := range lanes {
		l := newLane(t, sess, i)
		if err := l.openChannels(); err != nil {
			return fail(err)
		}
		sess.lanes = append(sess.lanes, l)
	}
	return dialResult{sess: sess}
}

// declareExchange declares the topic exchange as the Node service does:
// durable unless RABBITMQ_ENV_AUTO_DELETE, auto-delete if it is.
func (t *Transport) declareExchange(ch *amqp.Channel, noWait bool) error {
	return ch.ExchangeDeclare(t.exchange, exchangeKind, !t.opts.AutoDelete, t.opts.AutoDelete, false, noWait, nil)
}
