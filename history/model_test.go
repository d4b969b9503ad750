package history

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"ssegw/frame"
)

// The model: every message ever appended, in a flat list, with the rules of
// the package doc applied by brute force (scans, no rings, no heap). Run
// against the History op by op, it checks the kept messages, the byte and
// channel counts, every Read's answer, and — independently of how the
// History proves completeness — that a Read never claims completeness when a
// bound channel really dropped something after the position, and that a
// whole replay (Read after Read, with appends and drops in between) delivers
// every message of its channels after its start exactly once.

var modelChannels = []string{"a", "b", "c", "", "room-1", "d.e"}

type modelMsg struct {
	seq   uint64
	ch    int
	at    uint32
	cost  int64
	close bool
	kept  bool
	fr    *frame.Frame
}

type model struct {
	t        *testing.T
	h        *History
	r        *Reader
	size     int
	ttl      int64
	maxBytes int64

	seq    uint64
	lastAt uint32
	msgs   []*modelMsg
	exists []bool
	floor  []uint64 // per channel, while it exists
	bucket map[uint32]uint64
	used   int64
	frames []*frame.Frame

	replay *modelReplay
}

// modelReplay is a replay in progress: Reads from next until Done.
type modelReplay struct {
	start, next Position
	chans       []int
	names       []string
	got         []uint64
}

func newModel(t *testing.T, size int, ttl time.Duration, maxBytes int64) *model {
	h, err := New(Options{Size: size, TTL: ttl, MaxBytes: maxBytes, Epoch: 12345})
	if err != nil {
		t.Fatal(err)
	}
	n := len(modelChannels)
	return &model{t: t, h: h, r: h.NewReader(), size: size, ttl: int64(ttl), maxBytes: maxBytes,
		exists: make([]bool, n), floor: make([]uint64, n), bucket: map[uint32]uint64{}}
}

func (m *model) keptOf(c int) []*modelMsg {
	var out []*modelMsg
	for _, x := range m.msgs {
		if x.kept && x.ch == c {
			out = append(out, x)
		}
	}
	return out
}

func (m *model) oldestKept() *modelMsg {
	for _, x := range m.msgs {
		if x.kept {
			return x
		}
	}
	return nil
}

func (m *model) keptCount() int {
	n := 0
	for _, x := range m.msgs {
		if x.kept {
			n++
		}
	}
	return n
}

func (m *model) channelCost(c int) int64 { return channelBytes + int64(len(modelChannels[c])) }

// drop removes x; free says whether an emptied channel is forgotten (not
// while Append makes room in the channel it is about to append to).
func (m *model) drop(x *modelMsg, free bool) {
	x.kept = false
	m.used -= x.cost
	m.floor[x.ch] = max(m.floor[x.ch], x.seq)
	if free && len(m.keptOf(x.ch)) == 0 {
		b := m.h.bucket(modelChannels[x.ch])
		m.bucket[b] = max(m.bucket[b], m.floor[x.ch])
		m.exists[x.ch] = false
		m.used -= m.channelCost(x.ch)
	}
}

func (m *model) expired(x *modelMsg, now int64) bool {
	return m.ttl > 0 && int64(x.at)*int64(time.Second)+m.ttl <= now
}

func (m *model) expire(now int64, limit int) {
	for n := 0; limit <= 0 || n < limit; n++ {
		x := m.oldestKept()
		if x == nil || !m.expired(x, now) {
			return
		}
		m.drop(x, true)
	}
}

func (m *model) append(c, payload int, closeFlag bool, now int64) {
	fr := frame.NewRaw([]byte(fmt.Sprintf("data: %d %s\n\n", m.seq+1, strings.Repeat("x", payload))))
	m.frames = append(m.frames, fr)

	at := uint32(0)
	if now > 0 {
		at = uint32((now + int64(time.Second) - 1) / int64(time.Second))
	}
	at = max(at, m.lastAt)
	m.lastAt = at
	m.expire(now, maxExpirePerAppend)
	if !m.exists[c] {
		m.exists[c] = true
		m.floor[c] = m.bucket[m.h.bucket(modelChannels[c])]
		m.used += m.channelCost(c)
	}
	m.seq++
	if k := m.keptOf(c); len(k) == m.size {
		m.drop(k[0], false)
	}
	x := &modelMsg{seq: m.seq, ch: c, at: at, cost: int64(fr.Size()) + entryBytes, close: closeFlag, kept: true, fr: fr}
	m.msgs = append(m.msgs, x)
	m.used += x.cost
	for m.used > m.maxBytes && m.keptCount() > 0 {
		m.drop(m.oldestKept(), true)
	}

	a := m.h.Begin()
	if next := a.Next(); next != (Position{12345, m.seq}) {
		m.t.Fatalf("Next = %v, want seq %d", next, m.seq)
	}
	pos := a.Append(modelChannels[c], fr, closeFlag, now)
	a.End()
	fr.Release()
	if pos != (Position{12345, m.seq}) {
		m.t.Fatalf("Append gave %v, want seq %d", pos, m.seq)
	}
	m.check()
}

// check compares everything observable without a Read.
func (m *model) check() {
	m.t.Helper()
	s := m.h.Stats()
	nch := 0
	for c := range modelChannels {
		if m.exists[c] {
			nch++
		}
	}
	if s.Head.Seq != m.seq || s.Messages != int64(m.keptCount()) || s.Bytes != m.used || s.Channels != int64(nch) {
		m.t.Fatalf("stats %+v, model: head %d, %d kept, %d bytes, %d channels", s, m.seq, m.keptCount(), m.used, nch)
	}
	if m.used > m.maxBytes {
		m.t.Fatalf("model over its byte bound: %d > %d", m.used, m.maxBytes)
	}
	m.checkHeap()
	for c, name := range modelChannels {
		ch := m.h.chans[name]
		if (ch != nil) != m.exists[c] {
			m.t.Fatalf("channel %q: exists %v, model %v", name, ch != nil, m.exists[c])
		}
		if ch == nil {
			continue
		}
		k := m.keptOf(c)
		if ch.n != len(k) || ch.floor != m.floor[c] || len(ch.ring) > m.size {
			m.t.Fatalf("channel %q: %d kept, floor %d, ring %d; model %d kept, floor %d", name, ch.n, ch.floor, len(ch.ring), len(k), m.floor[c])
		}
		for i, x := range k {
			if e := ch.at(i); e.seq != x.seq || e.fr != x.fr || e.close != x.close {
				m.t.Fatalf("channel %q entry %d: seq %d, model %d", name, i, e.seq, x.seq)
			}
		}
	}
}

// checkHeap checks the lazy heap's invariants (heap.go): one item per
// channel with history, keys in heap order, no key above its channel's
// oldest kept position.
func (m *model) checkHeap() {
	m.t.Helper()
	hp := m.h.heap
	if len(hp) != len(m.h.chans) {
		m.t.Fatalf("heap holds %d channels, map %d", len(hp), len(m.h.chans))
	}
	seen := map[*channel]bool{}
	for i, it := range hp {
		if i > 0 && hp[(i-1)/2].key > it.key {
			m.t.Fatalf("heap order broken at %d", i)
		}
		if it.ch.n == 0 || it.key > it.ch.front().seq || seen[it.ch] || m.h.chans[it.ch.name] != it.ch {
			m.t.Fatalf("heap item %d: key %d, channel %q with %d kept", i, it.key, it.ch.name, it.ch.n)
		}
		seen[it.ch] = true
	}
}

// expected is the model's answer to a Read.
func (m *model) expected(after Position, chans []int, limit int) ([]*modelMsg, Position, Status) {
	if after.Epoch != 12345 || after.Seq > m.seq {
		return nil, after, Unknown
	}
	for _, c := range chans {
		f := m.bucket[m.h.bucket(modelChannels[c])]
		if m.exists[c] {
			f = m.floor[c]
		}
		if f > after.Seq {
			return nil, after, Truncated
		}
	}
	var all []*modelMsg
	for _, x := range m.msgs {
		if x.kept && x.seq > after.Seq && slices.Contains(chans, x.ch) {
			all = append(all, x)
		}
	}
	if len(all) > limit {
		return all[:limit], Position{12345, all[limit-1].seq}, More
	}
	return all, Position{12345, m.seq}, Done
}

// read runs one Read and checks it against the model.
func (m *model) read(after Position, chans []int, limit int) ([]Entry, Position, Status) {
	m.t.Helper()
	names := make([]string, len(chans))
	for i, c := range chans {
		names[i] = modelChannels[c]
	}
	got, next, st := m.r.Read(after, names, limit)
	want, wnext, wst := m.expected(after, chans, limit)
	if st != wst || next != wnext || len(got) != len(want) {
		m.t.Fatalf("Read(%v, %q, %d) = %d entries, %v, %v; model %d, %v, %v", after, names, limit, len(got), next, st, len(want), wnext, wst)
	}
	for i := range got {
		if got[i].Seq != want[i].seq || got[i].Frame != want[i].fr || got[i].Close != want[i].close {
			m.t.Fatalf("Read entry %d: seq %d, model %d", i, got[i].Seq, want[i].seq)
		}
	}
	// Soundness, whatever the floors say: no claim of completeness when a
	// bound channel really dropped a message after the position.
	if st == More || st == Done {
		for _, x := range m.msgs {
			if !x.kept && x.seq > after.Seq && slices.Contains(chans, x.ch) {
				m.t.Fatalf("Read(%v, %q) claimed completeness, but message %d of %q was dropped", after, names, x.seq, modelChannels[x.ch])
			}
		}
	}
	for _, e := range got {
		e.Frame.Release()
	}
	return got, next, st
}

// step continues (or starts) the replay in progress.
func (m *model) step(limit int) {
	rp := m.replay
	got, next, st := m.read(rp.next, rp.chans, limit)
	for _, e := range got {
		rp.got = append(rp.got, e.Seq)
	}
	switch st {
	case More:
		rp.next = next
	case Done:
		// Everything of its channels in (start, next] arrived, once, in order.
		var want []uint64
		for _, x := range m.msgs {
			if x.seq > rp.start.Seq && x.seq <= next.Seq && slices.Contains(rp.chans, x.ch) {
				want = append(want, x.seq)
			}
		}
		if !slices.Equal(rp.got, want) {
			m.t.Fatalf("replay of %q from %v through %v delivered %v, want %v", rp.names, rp.start, next, rp.got, want)
		}
		m.replay = nil
	default:
		m.replay = nil
	}
}

// finish drops everything and checks that no frame reference leaked.
func (m *model) finish() {
	m.h.Expire(1<<62, 0)
	if m.ttl == 0 {
		for m.h.Stats().Messages > 0 { // no age bound: push everything out by bytes
			a := m.h.Begin()
			fr := frame.NewRaw(make([]byte, m.maxBytes))
			a.Append("flush", fr, false, 0)
			a.End()
			fr.Release()
		}
	}
	if s := m.h.Stats(); s.Messages != 0 || s.Bytes != 0 || s.Channels != 0 || len(m.h.chans) != 0 {
		m.t.Fatalf("after dropping everything: %+v, %d channels in the map", s, len(m.h.chans))
	}
	for _, fr := range m.frames {
		if fr.Refs() != 0 {
			m.t.Fatalf("a frame still holds %d references", fr.Refs())
		}
	}
}

// runModel interprets data as options and a sequence of operations.
func runModel(t *testing.T, data []byte) {
	byteAt := func(i int) int {
		if i < len(data) {
			return int(data[i])
		}
		return 0
	}
	size := 1 + byteAt(0)%6
	ttl := time.Duration(byteAt(1)%5) * time.Second
	maxBytes := int64(300 + 40*byteAt(2))
	m := newModel(t, size, ttl, maxBytes)
	now := int64(0)
	for i := 3; i+3 < len(data); i += 4 {
		op, a, b, c := data[i], int(data[i+1]), int(data[i+2]), int(data[i+3])
		switch op % 10 {
		case 0, 1, 2, 3: // append
			now += int64(c%4) * int64(300*time.Millisecond)
			m.append(a%len(modelChannels), b%96, c&0x80 != 0, now)
		case 4: // a time jump
			now += int64(a%8) * int64(time.Second)
		case 5: // expire
			m.expire(now, b%4)
			m.h.Expire(now, b%4)
			m.check()
		case 6, 7: // one Read from a position around the kept range
			after := Position{12345, m.recent(a)}
			if b%16 == 0 {
				after.Epoch = 999
			}
			m.read(after, channelSet(b), 1+c%5)
		case 8, 9: // a replay step (starting one if none is in progress)
			if m.replay == nil {
				chans := channelSet(b)
				rp := &modelReplay{start: Position{12345, min(m.recent(a), m.seq)}, chans: chans}
				rp.next = rp.start
				for _, ch := range chans {
					rp.names = append(rp.names, modelChannels[ch])
				}
				m.replay = rp
			}
			m.step(1 + c%3)
		}
	}
	m.finish()
}

// recent picks a position by a: mostly among the last 32, sometimes anywhere
// up to two past the head (the future).
func (m *model) recent(a int) uint64 {
	if a&0x80 != 0 {
		return uint64(a) % (m.seq + 3)
	}
	return m.seq - min(uint64(a%32), m.seq)
}

// channelSet picks channels by the bits of b (at least one; sometimes a
// channel twice, which must count once).
func channelSet(b int) []int {
	var out []int
	for c := range modelChannels {
		if b&(1<<c) != 0 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = append(out, b%len(modelChannels))
	}
	if b&0x40 != 0 {
		out = append(out, out[0])
	}
	return out
}

func randomOps(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestModelRandomized(t *testing.T) {
	runs, size := 2000, 1200
	if testing.Short() || raceEnabled {
		runs = 200
	}
	for seed := range uint64(runs) {
		data := randomOps(seed, size)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, data) })
		if t.Failed() {
			return
		}
	}
}

func FuzzModel(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(randomOps(seed, 400))
	}
	f.Fuzz(func(t *testing.T, data []byte) { runModel(t, data) })
}
