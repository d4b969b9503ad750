package rabbitmq

import (
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// lane is one of a session's lane goroutines with its two AMQP channels: decl
// for the declares and binds of its streams' queues, cons for their
// consumers, the consumers' acks and nacks, and their cancels. Only the lane
// goroutine touches them (amqp091-go's channels are not safe for concurrent
// use, and one caller at a time also keeps RPC replies in order).
type lane struct {
	t    *Transport
	sess *session
	idx  int
	ops  inbox[laneOp]

	decl       *amqp.Channel
	cons       *amqp.Channel
	consClosed chan *amqp.Error // cons.NotifyClose; nil while cons is nil
	consumers  map[string]*consumer
	window     ackWindow   // of cons
	holdTimer  *time.Timer // the ack tick: armed while acks wait
	holdArmed  bool
	heldTicks  int // ticks in a row that ended with acks held behind a gap

	batch   []laneOp
	pending []laneOp // ops other than settles, oldest first
	held    []uint64
}

// consumer is one AMQP consumer: a stream's queue consumed on a lane's cons
// channel. active belongs to the lane goroutine.
type consumer struct {
	s      *stream
	l      *lane
	ch     *amqp.Channel
	tag    string
	active bool
	// scratch is where the forwarder receives each delivery (its goroutine
	// only): on the heap, not in the forwarder's frame (dispatch.go).
	scratch amqp.Delivery
}

type opKind uint8

const (
	opSetup     opKind = iota // s, again: declare, bind, consume, tell ready
	opCancel                  // c: the stream ended
	opSettle                  // c, tag, how: a delivery's outcome
	opCancelAll               // wg: Stop
	opFlush                   // wg: Stop: send every waiting ack
	opEnded                   // c: its delivery channel was closed
)

type settleKind uint8

const (
	settleAck              settleKind = iota // written
	settleDrop                               // malformed: nack, no requeue
	settleRequeueClosed                      // the stream had ended: nack, requeue
	settleRequeueUnwritten                   // the gateway did not write it: nack, requeue
)

// laneOp is one thing for a lane to do.
type laneOp struct {
	kind  opKind
	s     *stream
	again bool
	c     *consumer
	tag   uint64
	how   settleKind
	wg    *sync.WaitGroup
}

// errStreamClosed: the stream ended during its setup (the manager ignores the
// result; it is never shown to the gateway).
var errStreamClosed = errors.New("rabbitmq: stream closed during setup")

func newLane(t *Transport, sess *session, idx int) *lane {
	l := &lane{t: t, sess: sess, idx: idx, consumers: make(map[string]*consumer)}
	l.ops.init()
	return l
}

// put queues an op; after the session ended it is dropped (its deliveries
// were requeued by the broker with the connection).
func (l *lane) put(op laneOp) {
	if !l.ops.put(op) && op.wg != nil {
		op.wg.Done()
	}
}

// openChannels opens the declare and consume channels.
func (l *lane) openChannels() error {
	if err := l.openDecl(); err != nil {
		return err
	}
	return l.openCons()
}

func (l *lane) openDecl() error {
	ch, err := l.sess.conn.Channel()
	if err != nil {
		return err
	}
	l.decl = ch
	return nil
}

func (l *lane) openCons() error {
	ch, err := l.sess.conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		_ = ch.Close()
		return err
	}
	l.cons, l.consClosed = ch, ch.NotifyClose(make(chan *amqp.Error, 1))
	l.window.reset()
	return nil
}

func (l *lane) run() {
	defer l.sess.wg.Done()
	defer l.exit()
	l.holdTimer = time.NewTimer(ackHold)
	l.holdTimer.Stop()
	for {
		if len(l.pending) == 0 {
			select { // nothing to do: wait
			case <-l.ops.wake:
			case err := <-l.consClosed:
				if !l.consLost(err) {
					return
				}
			case <-l.holdTimer.C:
				l.holdArmed = false
				l.ackTick()
			case <-l.sess.quit:
				return
			}
		} else {
			select { // an RPC is due: only look
			case err := <-l.consClosed:
				if !l.consLost(err) {
					return
				}
			case <-l.holdTimer.C:
				l.holdArmed = false
				l.ackTick()
			case <-l.sess.quit:
				return
			default:
			}
		}
		l.intake()
		l.runOne()
		if l.window.pending() && !l.holdArmed {
			l.holdTimer.Reset(ackHold)
			l.holdArmed = true
		}
	}
}

// consLost handles the consume channel's closing; false means the whole
// connection is going (the manager handles that, the lane ends).
func (l *lane) consLost(err *amqp.Error) bool {
	if l.sess.conn.IsClosed() {
		return false
	}
	l.resetCons(err)
	return true
}

// exit forgets the lane's consumers (they end with the session) and releases
// whoever waits on an op that will not run.
func (l *lane) exit() {
	l.t.consumers.Add(-int64(len(l.consumers)))
	for tag, c := range l.consumers {
		c.active = false
		delete(l.consumers, tag)
	}
	l.holdTimer.Stop()
	for _, op := range append(l.pending, l.ops.closeTake()...) {
		if op.wg != nil {
			op.wg.Done()
		}
	}
	l.pending = nil
}

// intake takes what is queued: settles are applied at once (cheap: an ack
// only marks the window, the tick sends it), the rest joins pending. It runs
// between any two RPCs, so a long run of setups (thousands after a
// reconnect) never holds acks back.
func (l *lane) intake() {
	l.batch = l.ops.take(l.batch)
	for i := range l.batch {
		if op := &l.batch[i]; op.kind == opSettle {
			l.settle(op)
		} else {
			l.pending = append(l.pending, *op)
		}
	}
}

// runOne runs the oldest pending op.
func (l *lane) runOne() {
	if len(l.pending) == 0 {
		return
	}
	op := l.pending[0]
	l.pending[0] = laneOp{}
	l.pending = l.pending[1:]
	if len(l.pending) == 0 {
		l.pending = nil // let a long run's array go
	}
	switch op.kind {
	case opSetup:
		l.setup(op.s, op.again)
	case opCancel:
		l.cancel(op.c)
	case opCancelAll:
		for _, c := range l.consumers {
			l.cancel(c)
		}
		op.wg.Done()
	case opFlush:
		l.flushAll()
		op.wg.Done()
	case opEnded:
		l.ended(op.c)
	}
}

// ---- setup ------------------------------------------------------------------

// setup declares, binds and consumes a stream's queue, tells the gateway it is
// ready and starts its forwarder, then reports to the manager.
func (l *lane) setup(s *stream, again bool) {
	if s.closed.Load() {
		l.report(event{kind: evSetup, s: s, err: errStreamClosed})
		return
	}
	if err := checkNames(s); err != nil {
		l.report(event{kind: evSetup, s: s, err: err})
		return
	}
	l.flushMultiple() // the RPCs below take a round trip each
	if err := l.declare(s); err != nil {
		l.report(event{kind: evSetup, s: s, err: err})
		return
	}
	c, deliveries, err := l.consume(s)
	if err != nil {
		l.report(event{kind: evSetup, s: s, err: err})
		return
	}
	// The forwarder always runs: amqp091-go's per-consumer goroutine would
	// otherwise block on its first delivery for good.
	go l.t.forward(c, deliveries)
	if s.closed.Load() {
		l.cancel(c) // what was delivered meanwhile is requeued
		l.report(event{kind: evSetup, s: s, err: errStreamClosed})
		return
	}
	l.t.gw.StreamReady(s.token, again)
	l.report(event{kind: evSetup, s: s, c: c})
}

// checkNames rejects, before anything is sent, names that would make
// amqp091-go close the whole connection (see maxName).
func checkNames(s *stream) error {
	if err := checkName("queue name", s.queue); err != nil {
		return err
	}
	for _, k := range s.keys {
		if err := checkName("binding key", k); err != nil {
			return err
		}
	}
	return nil
}

// declare declares the exchange (no wait: it is there unless an auto-delete
// exchange lost its last binding), the queue, and its bindings in order (all
// but the last without waiting: a failure closes the channel, and the last,
// synchronous, bind reports it).
func (l *lane) declare(s *stream) error {
	if l.decl == nil || l.decl.IsClosed() {
		if err := l.openDecl(); err != nil {
			return fmt.Errorf("%w: open a channel: %w", ErrSetup, err)
		}
	}
	ch, ex := l.decl, l.t.exchange
	if err := l.t.declareExchange(ch, true); err != nil {
		return fmt.Errorf("%w: declare exchange %s: %w", ErrSetup, ex, err)
	}
	if _, err := ch.QueueDeclare(s.queue, true, false, false, false, l.t.qargs); err != nil {
		return fmt.Errorf("%w: declare queue %s: %w", ErrSetup, s.queue, err)
	}
	for i, k := range s.keys {
		if err := ch.QueueBind(s.queue, k, ex, i < len(s.keys)-1, nil); err != nil {
			return fmt.Errorf("%w: bind queue %s to %s with %q: %w", ErrSetup, s.queue, ex, k, err)
		}
	}
	return nil
}

// consume starts the stream's consumer: manual acks, not exclusive, a tag of
// ours (the library needs it before the broker's answer, since a delivery can
// come first).
func (l *lane) consume(s *stream) (*consumer, <-chan amqp.Delivery, error) {
	if l.cons == nil || l.cons.IsClosed() {
		if err := l.openCons(); err != nil {
			return nil, nil, fmt.Errorf("%w: open a channel: %w", ErrSetup, err)
		}
	}
	tag := l.t.newTag()
	deliveries, err := l.cons.Consume(s.queue, tag, false, false, false, false, nil)
	if err != nil {
		if !l.sess.conn.IsClosed() {
			// A failed consume closes the channel, and every consumer on it.
			l.resetCons(err)
		}
		return nil, nil, fmt.Errorf("%w: consume %s: %w", ErrSetup, s.queue, err)
	}
	c := &consumer{s: s, l: l, ch: l.cons, tag: tag, active: true}
	l.consumers[tag] = c
	l.t.consumers.Add(1)
	return c, deliveries, nil
}

// resetCons handles the loss of the consume channel while the connection is
// up (a consume that failed, or the broker closing the channel): its
// consumers are gone; the manager re-establishes their streams. A new channel
// is opened by the next consume.
func (l *lane) resetCons(cause error) {
	victims := make([]*consumer, 0, len(l.consumers))
	for tag, c := range l.consumers {
		c.active = false
		victims = append(victims, c)
		delete(l.consumers, tag)
	}
	l.t.consumers.Add(-int64(len(victims)))
	if l.cons != nil {
		_ = l.cons.Close()
	}
	l.cons, l.consClosed = nil, nil
	l.t.log.Warn("rabbitmq: consume channel closed; re-establishing its consumers", "lane", l.idx, "consumers", len(victims), "err", cause)
	if len(victims) > 0 {
		l.report(event{kind: evLaneLost, victims: victims})
	}
}

// ended handles the end of a consumer's deliveries. Still active on the live
// channel means the broker cancelled it (its queue was deleted): as in Node,
// the stream ends with error.
func (l *lane) ended(c *consumer) {
	if !c.active || !l.current(c) {
		return // cancelled by us, or gone with its channel
	}
	c.active = false
	delete(l.consumers, c.tag)
	l.t.consumers.Add(-1)
	l.report(event{kind: evCancelled, c: c})
}

func (l *lane) report(e event) {
	e.gen = l.sess.gen
	l.t.events.put(e)
}

// ---- consumers and their deliveries ------------------------------------------

// cancel cancels a consumer and waits for the broker's answer: deliveries up
// to it still reach the forwarder (which requeues them), none after it.
func (l *lane) cancel(c *consumer) {
	if !c.active {
		return
	}
	c.active = false
	delete(l.consumers, c.tag)
	l.t.consumers.Add(-1)
	if !l.current(c) {
		return
	}
	l.flushMultiple()
	if err := l.cons.Cancel(c.tag, false); err != nil {
		l.t.log.Debug("rabbitmq: cancel failed (the channel is closing)", "err", err)
	}
}

// current reports whether c's channel is this lane's live consume channel; a
// delivery from any other is void (the broker requeued it with its channel).
func (l *lane) current(c *consumer) bool {
	return l.cons != nil && c.ch == l.cons && !l.cons.IsClosed()
}

func (l *lane) settle(op *laneOp) {
	c, m := op.c, &l.t.m
	if !l.current(c) {
		return
	}
	switch op.how {
	case settleAck:
		m.acks.Inc()
		if l.window.ack(op.tag) {
			l.sendAck(op.tag, false)
		}
	case settleDrop:
		m.nackMalformed.Inc()
		l.nack(op.tag, false)
	case settleRequeueClosed, settleRequeueUnwritten:
		if op.how == settleRequeueClosed {
			m.nackClosed.Inc()
		} else {
			m.nackUnwritten.Inc()
		}
		// The stream is gone: without its consumer, the broker gives the
		// message to another consumer of the queue, or keeps it for the next
		// one, rather than straight back to this one.
		l.cancel(c)
		if l.current(c) {
			l.nack(op.tag, true)
		}
	}
}

func (l *lane) nack(tag uint64, requeue bool) {
	l.window.settled(tag)
	if err := l.cons.Nack(tag, false, requeue); err != nil {
		l.t.log.Debug("rabbitmq: nack failed (the channel is closing)", "err", err)
	}
}

func (l *lane) sendAck(tag uint64, multiple bool) {
	l.t.m.ackFrames.Inc()
	if err := l.cons.Ack(tag, multiple); err != nil {
		l.t.log.Debug("rabbitmq: ack failed (the channel is closing)", "err", err)
	}
}

// ackTick sends what the window has gathered since the last tick: the
// settled prefix with one frame; acks held behind an unsettled delivery for a
// whole tick already are sent alone, so nothing waits much over 2*ackHold.
// Acks thus leave at most ackHold after the write (a stream whose prefetch
// is full waits that long for more), and a fan-out's thousands of acks on a
// channel leave as a few frames.
func (l *lane) ackTick() {
	l.flushMultiple()
	if !l.window.pending() {
		l.heldTicks = 0
		return
	}
	if l.heldTicks++; l.heldTicks >= 2 || len(l.window.spilled) > 0 {
		l.flushAll()
		l.heldTicks = 0
	}
}

// flushMultiple acks the settled prefix of the window with one frame.
func (l *lane) flushMultiple() {
	if l.cons == nil || l.cons.IsClosed() {
		return
	}
	if tag := l.window.take(); tag > 0 {
		l.sendAck(tag, true)
	}
}

// flushAll acks everything written: the prefix at once, held acks alone.
func (l *lane) flushAll() {
	if l.cons == nil || l.cons.IsClosed() {
		return
	}
	l.flushMultiple()
	l.held = l.window.takeHeld(l.held[:0])
	for _, tag := range l.held {
		l.sendAck(tag, false)
	}
}
