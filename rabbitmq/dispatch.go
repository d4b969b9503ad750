package rabbitmq

import (
	"bytes"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/loop"
	"ssegw/sse"
)

// delivery is what a forwarder hands the dispatcher.
type delivery struct {
	c    *consumer
	tag  uint64
	body []byte
}

// forward is a consumer's forwarder goroutine. amqp091-go gives every
// consumer a Go channel of its own, fed by a goroutine of its own; receiving
// from thousands of them takes a goroutine each (reflect.Select over them was
// measured 5-15x slower and allocates a Delivery per case per call, see the
// package doc), so this one only moves each delivery into the dispatcher's
// single queue. It ends when the library closes the channel (the consumer was
// cancelled, by us or by the broker, or its AMQP channel closed), and tells
// the lane, which finds out which it was.
//
// There is one per stream, so its stack is kept at Go's 2 KiB minimum: an
// amqp.Delivery is 296 bytes, and receiving one into a local plus the select
// put the frames past what 2 KiB holds, so every forwarder's stack grew to 4
// KiB. The delivery is received into the consumer's scratch (heap) by a
// small function, and the select is a function of its own.
// TestConsumerCost (-tags stress) measures it per consumer.
func (t *Transport) forward(c *consumer, deliveries <-chan amqp.Delivery) {
	d := &c.scratch
	for receive(deliveries, d) {
		if !t.toDispatcher(delivery{c: c, tag: d.DeliveryTag, body: d.Body}) {
			return // Stop has closed the connection; the library ends too
		}
		d.Body = nil
	}
	c.l.put(laneOp{kind: opEnded, c: c})
}

// receive takes the next delivery into d; false when the channel is closed.
//
//go:noinline
func receive(in <-chan amqp.Delivery, d *amqp.Delivery) (ok bool) {
	*d, ok = <-in
	return ok
}

// toDispatcher counts a delivery and queues it for the dispatcher; false
// once Stop ended it.
//
//go:noinline
func (t *Transport) toDispatcher(d delivery) bool {
	t.m.deliveries.Inc()
	select {
	case t.dispatchQ <- d:
		return true
	case <-t.quit:
		return false
	}
}

// dispatch is the dispatcher goroutine: it turns each delivery into a frame
// and hands it to the gateway, in the order the forwarders queued them (so
// per consumer in the broker's order).
func (t *Transport) dispatch() {
	defer t.bg.Done()
	var fc frameCache
	defer fc.release()
	for {
		select {
		case d := <-t.dispatchQ:
			t.deliver(d, &fc)
		case <-t.quit:
			return
		}
		for more := true; more; {
			select {
			case d := <-t.dispatchQ:
				t.deliver(d, &fc)
			default:
				more = false
			}
		}
		fc.release() // between bursts, the frame's buffer goes back to its pool
	}
}

// deliver hands one delivery to the gateway, or settles it here.
func (t *Transport) deliver(d delivery, fc *frameCache) {
	c := d.c
	if t.draining.Load() || c.ch.IsClosed() {
		// Left unacked: the broker requeues it when its channel closes (at
		// Stop; or it already has, the channel having failed).
		return
	}
	if c.s.closed.Load() {
		c.l.put(laneOp{kind: opSettle, c: c, tag: d.tag, how: settleRequeueClosed})
		return
	}
	fr, fresh, err := fc.get(d.body, t.opts.Format)
	if err != nil {
		if fresh {
			t.log.Warn("rabbitmq: malformed message dropped", "queue", c.s.queue, "err", err)
		}
		c.l.put(laneOp{kind: opSettle, c: c, tag: d.tag, how: settleDrop})
		return
	}
	t.inFlight.Add(1)
	tag := d.tag
	t.gw.Deliver(c.s.token, fr, func(written bool) {
		how := settleAck
		if !written {
			how = settleRequeueUnwritten
		}
		c.l.put(laneOp{kind: opSettle, c: c, tag: tag, how: how})
		if t.inFlight.Add(-1) == 0 && t.draining.Load() {
			select {
			case t.settledSig <- struct{}{}:
			default:
			}
		}
	})
}

// frameCache keeps the last body's frame (or parse error): one publish fanned
// out by the broker reaches this gateway as one delivery per stream, back to
// back, all with the same body, so it is parsed and encoded once and the
// frame shared (frames are reference-counted for that).
type frameCache struct {
	body  []byte
	fr    *loop.Frame
	err   error
	valid bool
}

// get returns a frame for body with one reference for the caller, or the
// body's parse error; fresh is false when it came from the cache.
func (fc *frameCache) get(body []byte, f sse.Format) (fr *loop.Frame, fresh bool, err error) {
	if fc.valid && bytes.Equal(body, fc.body) {
		if fc.err != nil {
			return nil, false, fc.err
		}
		fc.fr.Retain(1)
		return fc.fr, false, nil
	}
	fc.release()
	fc.body = append(fc.body[:0], body...)
	fc.valid = true
	ev, err := parseBody(body)
	if err != nil {
		fc.err = err
		return nil, true, err
	}
	fc.fr = loop.NewFrame(&ev, f)
	fc.fr.Retain(1)
	return fc.fr, true, nil
}

// release drops the cache's reference.
func (fc *frameCache) release() {
	if fc.fr != nil {
		fc.fr.Release()
	}
	fc.fr, fc.err, fc.valid = nil, nil, false
	if cap(fc.body) > maxBody/16 {
		fc.body = nil // do not keep a large body's copy between bursts
	}
}
