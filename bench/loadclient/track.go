package loadclient

import (
	"bytes"
	"time"

	"ssegw/bench/sseparse"
)

// Resume tracking (Config.Track). A slot is one resuming client — what a
// browser tab's EventSource keeps across its connections: the last event id
// it received and, for the bench, the highest publish sequence it saw. A
// connection takes the slot that waited longest (slots are interchangeable:
// each carries its own id and sequence) and sends the slot's id as
// Last-Event-ID; when the connection ends the slot is free again. Slots
// belong to their poller goroutine, like streams.
//
// Every publish of a tracking scenario carries its sequence in the data as
// "s=<n>" (n from 1, one per publish, in publish order; see Sequence). A
// slot expects 1 first, so a stream opened before the first publish must
// see every sequence once: one below what it expects is a duplicate, a jump
// is a gap counted as lost. SeqSum sums each slot's highest sequence, so
// once publishing stopped at n, Slots*n - SeqSum is what has not arrived
// yet (lost, when nothing is in flight any more).

// slot is one resuming client (poller goroutine only).
type slot struct {
	lastID []byte // the last event id received ("": none yet)
	next   int64  // the sequence expected next
	retry  int64  // the last retry hint received, in ms (-1: none)
}

// takeSlot is the free slot that waited longest, or a new one counted in group g.
func (p *poller) takeSlot(g int) *slot {
	if p.freeHead < len(p.free) {
		sl := p.free[p.freeHead]
		p.free[p.freeHead] = nil
		p.freeHead++
		if p.freeHead == len(p.free) {
			p.free, p.freeHead = p.free[:0], 0
		}
		return sl
	}
	p.live[g].slots.Add(1)
	return &slot{next: 1, retry: -1}
}

// releaseSlot frees s's slot (if any).
func (p *poller) releaseSlot(s *stream) {
	if s.slot == nil {
		return
	}
	if p.freeHead > 0 && p.freeHead >= len(p.free)/2 { // compact: the queue never outgrows the slots
		n := copy(p.free, p.free[p.freeHead:])
		clear(p.free[n:])
		p.free, p.freeHead = p.free[:n], 0
	}
	p.free = append(p.free, s.slot)
	s.slot = nil
}

// lastEventIDHeader is the header a resuming stream sends.
const lastEventIDHeader = "Last-Event-ID: "

// withLastEventID is req (a whole head ending in an empty line) with a
// Last-Event-ID header before its end.
func withLastEventID(req, id []byte) []byte {
	body, ok := bytes.CutSuffix(req, []byte("\r\n\r\n"))
	if !ok {
		return req
	}
	out := make([]byte, 0, len(req)+len(lastEventIDHeader)+len(id)+2)
	out = append(out, body...)
	out = append(out, "\r\n"+lastEventIDHeader...)
	out = append(out, id...)
	return append(out, "\r\n\r\n"...)
}

// trackStart gives a new stream of group g its slot and, when the slot has
// an id, its Last-Event-ID.
func (p *poller) trackStart(s *stream, g int) {
	s.slot = p.takeSlot(g)
	if len(s.slot.lastID) > 0 {
		s.req = withLastEventID(s.req, s.slot.lastID)
		s.resumed = true
		p.live[g].resumed.Add(1)
	}
}

// resyncEvent is the event a gateway sends when it cannot resume a stream.
var resyncEvent = []byte("resync")

// track checks one event (not "ready") against the stream's slot.
func (s *stream) track(ev *sseparse.Event, live *liveCounters) {
	sl := s.slot
	if string(ev.Type) == string(resyncEvent) {
		live.resyncs.Add(1)
		return
	}
	if s.resumed && !s.ready {
		live.replayed.Add(1)
	}
	seq, ok := Sequence(ev.Data)
	if !ok {
		return
	}
	if seq < sl.next {
		live.duplicated.Add(1)
		return
	}
	if seq > sl.next {
		live.lost.Add(seq - sl.next)
	}
	live.seqSum.Add(seq - (sl.next - 1))
	sl.next = seq + 1
}

// Sequence reads the publish sequence "s=<decimal>" from event data: at the
// start or after a space (as in "t=<nanos> s=<n>").
func Sequence(data []byte) (int64, bool) {
	for i := 0; i+2 < len(data); i++ {
		if data[i] != 's' || data[i+1] != '=' || (i > 0 && data[i-1] != ' ') {
			continue
		}
		var n int64
		j := i + 2
		for ; j < len(data) && data[j] >= '0' && data[j] <= '9' && j-i < 20; j++ {
			n = n*10 + int64(data[j]-'0')
		}
		if j > i+2 {
			return n, true
		}
	}
	return 0, false
}

// reconnectDelay is how long a stream that ended waits before it is opened
// again: the retry hint of its connection (ms, -1: none), else its slot's
// last one, else DefaultReconnectDelay; at most RetryCap.
func (p *poller) reconnectDelay(hint int64, sl *slot) time.Duration {
	if hint < 0 && sl != nil {
		hint = sl.retry
	}
	d := DefaultReconnectDelay
	if hint >= 0 {
		d = time.Duration(hint) * time.Millisecond
	}
	return min(d, p.cfg.RetryCap)
}
