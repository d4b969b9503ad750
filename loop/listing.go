package loop

import (
	"context"
	"errors"
	"time"

	"ssegw/sse"
)

// Who is connected (CONTRACT.md section 6.4): the loops hand out their
// streams in bounded steps. A listing walks each loop's connection slab by
// slot index, one op per step, so a stream that lives through the whole
// listing is listed exactly once (its slot does not move), and the loops
// never spend more than listScan slots or listLines lines on it per step.
// Streams opened or ended during the listing may or may not appear.

// Bounds of one listing op.
const (
	// listScan bounds the slab slots one op looks at: scanning is a few ns a
	// slot, so 4096 slots keep an op well under a millisecond.
	listScan = 4096
	// listLines bounds the lines (or channel names) one op produces: about
	// 150 bytes each, so one op's output stays near 64 KB and is written to
	// the backend before the next op is posted (memory does not grow with
	// the number of streams).
	listLines = 512
)

// listReq is one listing in progress on one loop.
type listReq struct {
	channel  string   // only streams bound to it ("" with all false: every stream)
	filter   bool     // channel is set
	channels bool     // collect binding names instead of stream lines
	cursor   int      // next slab slot
	done     bool     // the slab was walked to its end
	buf      []byte   // NDJSON lines (streams)
	names    []string // one binding name per bound stream (channels)
}

// StreamQuery selects the streams of a listing.
type StreamQuery struct {
	Channel string // with Filter: only the streams bound to this channel
	Filter  bool
	Cluster bool // every gateway of the cluster (package cluster); alone: ErrNotClustered
}

// ErrNotClustered answers a cluster-wide listing on a gateway that runs alone.
var ErrNotClustered = errors.New("loop: scope=cluster needs cluster mode (NATS_URL)")

// ListStreams writes one NDJSON line per stream of this gateway to emit, in
// chunks (each a whole number of lines, at most listLines), loop by loop;
// with q.Filter, only the streams bound to q.Channel. It stops at emit's
// first error or when ctx ends. A gateway alone has no missing peers.
func (s *Server) ListStreams(ctx context.Context, q StreamQuery, emit func([]byte) error) (missing []uint16, err error) {
	if q.Cluster {
		return nil, ErrNotClustered
	}
	return nil, s.list(ctx, &listReq{channel: q.Channel, filter: q.Filter}, func(r *listReq) error {
		if len(r.buf) == 0 {
			return nil
		}
		return emit(r.buf)
	})
}

// ChannelCounts returns, for every channel with streams on this gateway, how
// many streams are bound to it.
func (s *Server) ChannelCounts(ctx context.Context, cluster bool) (counts map[string]int64, missing []uint16, err error) {
	if cluster {
		return nil, nil, ErrNotClustered
	}
	counts = map[string]int64{}
	err = s.list(ctx, &listReq{channels: true}, func(r *listReq) error {
		for _, n := range r.names {
			counts[n]++
		}
		return nil
	})
	return counts, nil, err
}

// list runs a listing over every loop, one bounded op at a time.
func (s *Server) list(ctx context.Context, r *listReq, each func(*listReq) error) error {
	for _, ls := range s.allLoops() {
		r.cursor, r.done = 0, false
		for !r.done {
			r.buf, r.names = r.buf[:0], r.names[:0]
			if err := ls.run(ctx, op{kind: opList, list: r}); err != nil {
				return err
			}
			if err := each(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// run posts one op to the loop and waits until it was applied.
func (ls *loopState) run(ctx context.Context, o op) error {
	w := &waiter{done: make(chan struct{})}
	w.n.Store(1)
	o.w = w
	ls.post(o)
	t := time.NewTimer(commandWait)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		return ErrLoopsBusy
	case <-ctx.Done():
		select { // the op holds the request: let the loop finish with it (one bounded step)
		case <-w.done:
		case <-t.C:
		}
		return ctx.Err()
	}
}

// listStep is one listing op on the loop.
func (ls *loopState) listStep(o *op) {
	r := o.list
	defer o.w.finish()
	var only *subList
	if r.filter {
		if only = ls.channels[r.channel]; only == nil {
			r.done = true
			return
		}
	}
	end := min(r.cursor+listScan, len(ls.conns))
	lines := 0
	for ; r.cursor < end && lines < listLines; r.cursor++ {
		cs := ls.conns[r.cursor]
		if cs == nil || !cs.has(fRegistered) || (cs.state != stPending && cs.state != stStream) {
			continue
		}
		if only != nil && !cs.boundTo(only) {
			continue
		}
		if r.channels {
			for _, ref := range cs.subs {
				r.names = append(r.names, ref.list.name)
			}
			lines += len(cs.subs)
			continue
		}
		r.buf = ls.appendStreamLine(r.buf, cs)
		lines++
	}
	r.done = r.cursor >= len(ls.conns)
}

// appendStreamLine writes one /internal/streams line.
func (ls *loopState) appendStreamLine(b []byte, cs *conn) []byte {
	b = append(b, `{"token":"`...)
	b = cs.token.appendTo(b)
	b = append(b, `","url":`...)
	b = sse.AppendJSONString(b, string(ls.heads.Target(cs.head))) // "" with DISCONNECT_REQUEST=none
	b = append(b, `,"state":"`...)
	if cs.state == stPending || cs.has(fSetup) {
		b = append(b, "pending"...)
	} else {
		b = append(b, "ready"...)
	}
	b = append(b, `","bindings":[`...)
	for i, ref := range cs.subs {
		if i > 0 {
			b = append(b, ',')
		}
		b = sse.AppendJSONString(b, ref.list.name)
	}
	b = append(b, `],"opened_at":"`...)
	b = ls.srv.epoch.Add(time.Duration(cs.opened)).UTC().AppendFormat(b, openedAtLayout)
	return append(b, "\"}\n"...)
}

// openedAtLayout is RFC 3339 with milliseconds, in UTC.
const openedAtLayout = "2006-01-02T15:04:05.000Z07:00"
