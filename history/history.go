package history

import (
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"ssegw/frame"
)

// Limits of the data structure itself (not user knobs).
const (
	// maxExpirePerAppend bounds the messages one Append drops for age, so a
	// mass expiry (everything published in one burst growing old at once)
	// is spread over the following calls instead of holding the lock for
	// all of it; Expire drains the rest in bounded steps.
	maxExpirePerAppend = 64
	// floorBuckets is the number of drop floors kept for channels that have
	// no history left (package doc, "Proving completeness"): a fixed 32 KiB
	// instead of one floor per channel ever seen.
	floorBuckets = 4096
	// minRing is the first capacity of a channel's ring (rings double up to
	// Options.Size and halve when a quarter full).
	minRing = 4
)

// Memory charged against Options.MaxBytes besides each frame's own Size.
const (
	// entryBytes is one kept message's index entry.
	entryBytes = int64(unsafe.Sizeof(entry{}))
	// channelBytes is one channel with history: its struct, its map slot and
	// heap slot (estimated at 48 bytes), plus its name's length.
	channelBytes = int64(unsafe.Sizeof(channel{})) + 48
)

// Errors of New.
var (
	ErrBadSize     = errors.New("history: size (messages per channel) must be at least 1")
	ErrBadMaxBytes = errors.New("history: max bytes must be at least 1")
	ErrBadTTL      = errors.New("history: ttl must not be negative")
	ErrBadEpoch    = errors.New("history: epoch out of range")
)

// Options configure a History (CONTRACT.md section 9).
type Options struct {
	Size     int           // HISTORY_SIZE: messages kept per channel, >= 1
	TTL      time.Duration // HISTORY_TTL_SECONDS; 0: no age bound
	MaxBytes int64         // HISTORY_MAX_BYTES: memory of all kept messages
	Epoch    uint64        // 0: drawn at random (NewEpoch); tests pin it
}

// Drop reasons, for Stats.
const (
	DropSize  = iota // the channel held Size messages
	DropAge          // older than TTL
	DropBytes        // the gateway's kept messages exceeded MaxBytes
	dropReasons
)

// History is one gateway's in-memory history (package doc).
type History struct {
	order sync.Mutex   // Begin..End: position order = posting order
	mu    sync.RWMutex // the data below: Lock to change, RLock to read

	epoch    uint64
	size     int
	ttl      int64 // ns; 0: off
	maxBytes int64

	seq    uint64 // last position given
	lastAt uint32 // latest entry time (entries' times never go back)
	chans  map[string]*channel
	heap   []heapItem // channels with history, min-heap by their oldest position (heap.go)
	floors [floorBuckets]uint64
	seed   maphash.Seed
	used   int64 // bytes charged
	kept   int64 // messages kept

	stats stats
}

// stats are copies of counters written under mu, read without it.
type stats struct {
	head, messages, bytes, channels atomic.Int64
	dropped                         [dropReasons]atomic.Uint64
}

// entry is one kept message: its position, its frame (one reference held by
// the history), its time in whole seconds (rounded up) and the publish's
// close flag. 24 bytes.
type entry struct {
	seq   uint64
	fr    *frame.Frame
	at    uint32
	close bool
}

// channel is one channel's kept messages, oldest first, in a ring.
type channel struct {
	name   string
	ring   []entry
	head   int
	n      int
	floor  uint64 // highest position ever dropped from it (or inherited)
	bucket uint32 // index in History.floors
}

// New makes an empty history.
func New(o Options) (*History, error) {
	switch {
	case o.Size < 1:
		return nil, ErrBadSize
	case o.MaxBytes < 1:
		return nil, ErrBadMaxBytes
	case o.TTL < 0:
		return nil, ErrBadTTL
	case o.Epoch >= MaxEpoch:
		return nil, ErrBadEpoch
	}
	if o.Epoch == 0 {
		o.Epoch = NewEpoch()
	}
	return &History{
		epoch:    o.Epoch,
		size:     o.Size,
		ttl:      int64(o.TTL),
		maxBytes: o.MaxBytes,
		chans:    map[string]*channel{},
		seed:     maphash.MakeSeed(),
	}, nil
}

// Epoch is this history's epoch.
func (h *History) Epoch() uint64 { return h.epoch }

// Head is the position of the latest appended message (Seq 0 before the
// first): GET /internal/position. Safe from any goroutine, lock-free.
func (h *History) Head() Position {
	return Position{Epoch: h.epoch, Seq: uint64(h.stats.head.Load())}
}

// Stats is a snapshot of the history's size and drops.
type Stats struct {
	Head     Position
	Messages int64 // kept
	Bytes    int64 // charged against MaxBytes
	Channels int64 // with history
	Dropped  [dropReasons]uint64
}

// Stats reads the counters without taking the lock (for metrics).
func (h *History) Stats() Stats {
	s := Stats{
		Head:     h.Head(),
		Messages: h.stats.messages.Load(),
		Bytes:    h.stats.bytes.Load(),
		Channels: h.stats.channels.Load(),
	}
	for i := range s.Dropped {
		s.Dropped[i] = h.stats.dropped[i].Load()
	}
	return s
}

// Appender is held between Begin and End; see Begin.
type Appender struct{ h *History }

// Begin starts appending: it takes the history's order lock, which only
// appenders take, so the caller may assign positions (Append) and post the
// frames to the event loops before End, and the loops receive them in
// position order. Readers are not held up by it (they wait only for the
// microseconds of each Append). Never call Begin on a loop goroutine, and do
// nothing between Begin and End that waits for a loop.
func (h *History) Begin() Appender {
	h.order.Lock()
	return Appender{h}
}

// End releases the order lock taken by Begin.
func (a Appender) End() { a.h.order.Unlock() }

// Next is the position the next Append will give (to encode the frame's id
// before appending it).
func (a Appender) Next() Position { return Position{Epoch: a.h.epoch, Seq: a.h.seq + 1} }

// Append keeps fr as the next message of channel and returns its position.
// It takes its own reference to fr (the caller keeps its own). now is the
// caller's monotonic clock in nanoseconds (non-negative; a smaller now than
// an earlier Append's counts as the earlier one). Before appending it drops
// up to maxExpirePerAppend messages older than the TTL; after, the channel's
// oldest if it holds more than Size, then the gateway's oldest while the
// bytes exceed MaxBytes (the new message itself, if it alone exceeds them).
// O(log C) for C channels with history, amortised (each dropped message
// costs O(log C) once); no allocation unless the channel is new or its ring
// grows.
func (a Appender) Append(channel string, fr *frame.Frame, close bool, now int64) Position {
	h := a.h
	fr.Retain(1)
	h.mu.Lock()
	at := h.stamp(now)
	h.expire(now, maxExpirePerAppend)
	ch := h.chans[channel]
	if ch == nil {
		ch = h.newChannel(channel)
	}
	h.seq++
	seq := h.seq
	if ch.n == h.size { // the heap key goes stale (heap.go)
		h.release(ch, ch.popFront(), DropSize)
		ch.push(entry{seq: seq, fr: fr, at: at, close: close}, h.size)
	} else {
		ch.push(entry{seq: seq, fr: fr, at: at, close: close}, h.size)
		if ch.n == 1 {
			h.heapPush(ch)
		}
	}
	h.kept++
	h.used += int64(fr.Size()) + entryBytes
	for h.used > h.maxBytes && h.kept > 0 {
		h.dropOldest(DropBytes)
	}
	h.publishStats()
	h.mu.Unlock()
	return Position{Epoch: h.epoch, Seq: seq}
}

// Expire drops up to limit messages older than the TTL (all of them for
// limit <= 0) and reports whether more are due. Call it now and then (e.g.
// every second from a ticker goroutine), so memory is returned when nothing
// is appended; it holds the lock for at most limit drops. Safe from any
// goroutine except a loop that could wait on it.
func (h *History) Expire(now int64, limit int) (more bool) {
	h.mu.Lock()
	more = h.expire(now, limit)
	h.publishStats()
	h.mu.Unlock()
	return more
}

// stamp turns now into an entry time: whole seconds rounded up, never
// earlier than the previous entry's.
func (h *History) stamp(now int64) uint32 {
	s := uint32(0)
	if now > 0 {
		s = uint32((now + int64(time.Second) - 1) / int64(time.Second))
	}
	if s < h.lastAt {
		s = h.lastAt
	}
	h.lastAt = s
	return s
}

// expired reports whether an entry of time at is older than the TTL at now.
func (h *History) expired(at uint32, now int64) bool {
	return h.ttl > 0 && int64(at)*int64(time.Second)+h.ttl <= now
}

// expire drops up to limit expired messages (no bound for limit <= 0),
// oldest first, and reports whether more are due.
func (h *History) expire(now int64, limit int) bool {
	for n := 0; len(h.heap) > 0; n++ {
		ch := h.settle()
		if !h.expired(ch.front().at, now) {
			return false
		}
		if limit > 0 && n == limit {
			return true
		}
		h.dropOldest(DropAge)
	}
	return false
}

// dropOldest drops the gateway's oldest kept message (the oldest of the
// channel on top of the heap) and frees its channel if that was its last.
func (h *History) dropOldest(reason int) {
	ch := h.settle()
	h.release(ch, ch.popFront(), reason)
	if ch.n == 0 {
		h.heapPop()
		h.freeChannel(ch)
		return
	}
	h.heap[0].key = ch.front().seq
	h.siftDown(0)
}

// release accounts for a dropped entry and drops the history's reference.
func (h *History) release(ch *channel, e entry, reason int) {
	ch.floor = max(ch.floor, e.seq)
	h.kept--
	h.used -= int64(e.fr.Size()) + entryBytes
	h.stats.dropped[reason].Add(1)
	e.fr.Release()
	ch.shrink()
}

// newChannel adds an empty channel; its floor is its bucket's (what its
// earlier incarnations and the channels sharing the bucket dropped).
func (h *History) newChannel(name string) *channel {
	b := h.bucket(name)
	ch := &channel{name: strings.Clone(name), floor: h.floors[b], bucket: b}
	h.chans[ch.name] = ch
	h.used += channelBytes + int64(len(name))
	return ch
}

// freeChannel forgets an empty channel (already off the heap), folding its
// floor into its bucket.
func (h *History) freeChannel(ch *channel) {
	delete(h.chans, ch.name)
	h.floors[ch.bucket] = max(h.floors[ch.bucket], ch.floor)
	h.used -= channelBytes + int64(len(ch.name))
	ch.ring = nil
}

func (h *History) bucket(name string) uint32 {
	return uint32(maphash.String(h.seed, name) % floorBuckets)
}

// floorOf is the drop floor of a channel by name: its own while it has
// history, else its bucket's. Caller holds mu (either mode).
func (h *History) floorOf(name string) (uint64, *channel) {
	if ch := h.chans[name]; ch != nil {
		return ch.floor, ch
	}
	return h.floors[h.bucket(name)], nil
}

func (h *History) publishStats() {
	h.stats.head.Store(int64(h.seq))
	h.stats.messages.Store(h.kept)
	h.stats.bytes.Store(h.used)
	h.stats.channels.Store(int64(len(h.heap)))
}
