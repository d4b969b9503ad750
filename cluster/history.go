package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"ssegw/frame"
	"ssegw/history"
	"ssegw/jetstore"
	"ssegw/loop"
	"ssegw/sse"
)

// History in cluster mode (CONTRACT.md section 9): with HISTORY_SIZE > 0 the
// cluster's history is one JetStream stream (package jetstore), so positions
// are the same on every gateway, a stream drained from one gateway resumes
// on another, and the history outlives every gateway.
//
//   - Publishing. A publish with an event goes to the store (one broker
//     round trip; the store chains it to its channel's previous message),
//     which keeps it and republishes it, with its sequence — the position —
//     in a header, to the channel's live subject PREFIX.ch.<channel>. Every
//     gateway, this one included (the copy comes from the broker, so NoEcho
//     does not hide it), delivers it from there, in the broker's order, the
//     id line put in front from the header. Do waits (at most applyWait)
//     until this gateway's dispatcher has applied its own copy, so the
//     answer counts this gateway's streams reached and a later command of
//     the same request reaches a local stream after it. A backend's own
//     publish straight to PREFIX.ch.<channel> has no position and is not
//     kept.
//   - Resuming. A stream that resumes is replayed by one of replayWorkers
//     goroutines: it waits until this gateway subscribes to the stream's
//     channels (jetstore's rule 1: then every message after the position is
//     either replayed or delivered live), proves completeness and reads
//     through the store in chunks, each handed to the stream's loop with
//     loop.Server.ReplayChunk (which waits until it is written: the next
//     chunk is read only then). The loop holds the stream's live frames
//     meanwhile and, once the replay says how far it got, drops those it
//     replayed.
//   - Readiness. The store is opened at start, or in the background while
//     the broker is away; its health is checked every historyCheckEvery:
//     /readyz says "JetStream not available" until it answers.
//
// Ordering with history on: within one control request, a publish and the
// commands after it reach this gateway's streams in order; on other
// gateways a publish (through the store) and a forwarded send (through
// their node subject) travel different paths and may cross.

// Limits of cluster history. None is a user knob.
const (
	// replayWorkers bounds the replays in flight at once (each a few broker
	// round trips per chunk); the others wait in the queue.
	replayWorkers = 8
	// maxPendingReplays bounds the queued replays: a reconnect storm of a
	// whole gateway (100k streams) fits; beyond, a stream is ended with a
	// retry hint (it comes back with the same position).
	maxPendingReplays = 1 << 17
	// replayChunkSize bounds the messages read from the store and handed to
	// the loop at once: about a tenth of a loop step's writes.
	replayChunkSize = 64
	// replayTimeout bounds one replay's broker calls.
	replayTimeout = 30 * time.Second
	// subscribeWait bounds the wait for this gateway's subscriptions to a
	// resuming stream's channels (the manager makes them in microseconds).
	subscribeWait = 5 * time.Second
	// publishTimeout bounds a kept publish (the store retries conflicts
	// with other gateways within it).
	publishTimeout = 5 * time.Second
	// applyWait bounds how long a kept publish waits for this gateway to
	// apply its own republished copy.
	applyWait = 2 * time.Second
	// appliedRecent is how many applied positions are remembered for a
	// publisher whose copy arrived before its answer did.
	appliedRecent = 4096
	// historyCheckEvery is how often the store's health is checked (and the
	// store opened, while it is not).
	historyCheckEvery = 2 * time.Second
	// openTimeout bounds one attempt to open the store.
	openTimeout = 5 * time.Second
)

// HistoryOptions turn on the cluster's history (HISTORY_* settings).
type HistoryOptions struct {
	Size     int
	TTL      time.Duration
	MaxBytes int64
	Format   sse.Format // EVENT_FORMAT: how a kept publish's event is encoded
}

// ErrHistoryUnavailable: the cluster's history (JetStream) did not answer.
var ErrHistoryUnavailable = loop.ErrHistoryUnavailable

// clusterHistory is the open store and its state.
type clusterHistory struct {
	store *jetstore.Store
}

// replayJob is one stream's replay waiting for a worker.
type replayJob struct {
	tok      [16]byte
	after    history.Position
	channels []string
}

// startHistory opens the store (or keeps trying in the background) and
// starts the replay workers. An incompatible broker stops the start.
func (c *Cluster) startHistory() error {
	c.replayQ = make(chan replayJob, maxPendingReplays)
	c.applied.init()
	if c.nc.IsConnected() {
		if err := c.openStore(); errors.Is(err, jetstore.ErrBrokerOld) {
			return err
		}
	}
	c.done.Add(1 + replayWorkers)
	go c.keepHistory()
	for range replayWorkers {
		go c.replayWorker()
	}
	return nil
}

func (c *Cluster) openStore() error {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	h := c.opts.History
	st, err := jetstore.Open(ctx, c.nc, jetstore.Options{Prefix: c.opts.Prefix, Size: h.Size, TTL: h.TTL, MaxBytes: h.MaxBytes})
	if err != nil {
		c.histErr.Store(&errBox{err})
		c.log.Warn("cluster: history store not open", "err", err)
		return err
	}
	c.hist.Store(&clusterHistory{store: st})
	c.histErr.Store(&errBox{})
	c.log.Info("cluster: history in JetStream", "stream", st.Stream(), "epoch", st.Epoch())
	return nil
}

type errBox struct{ err error }

// keepHistory opens the store if it is not, and checks its health.
func (c *Cluster) keepHistory() {
	defer c.done.Done()
	t := time.NewTicker(historyCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		h := c.hist.Load()
		if h == nil {
			_ = c.openStore()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		err := h.store.Ready(ctx)
		cancel()
		c.histErr.Store(&errBox{err})
	}
}

// historyReasons is the history's /readyz reason.
func (c *Cluster) historyReasons() []string {
	if c.opts.History == nil {
		return nil
	}
	if e := c.histErr.Load(); c.hist.Load() == nil || (e != nil && e.err != nil) {
		return []string{"JetStream not available"}
	}
	return nil
}

// publishKept publishes a command's event through the store and waits for
// this gateway's copy to be applied.
func (c *Cluster) publishKept(cmd *loop.Command, res *loop.CmdResult) error {
	h := c.hist.Load()
	if h == nil {
		return fmt.Errorf("%w: the store is not open", ErrHistoryUnavailable)
	}
	msg := sse.AppendEvent(nil, cmd.Event, c.opts.History.Format)
	subscribed := c.chans.isSubscribed(cmd.Channel)
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	pos, err := h.store.Publish(ctx, cmd.Channel, msg, cmd.Close)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHistoryUnavailable, err)
	}
	c.m.brokerPublishes.Inc()
	res.Pos, res.HasPos = pos, true
	if subscribed {
		if n, ok := c.applied.wait(pos.Seq, applyWait); ok {
			res.AddConnections(n)
		}
	}
	return nil
}

// livePosition reads a republished message's position and puts its id line
// in front of its data (the frame every stream gets).
func (c *Cluster) livePosition(m *nats.Msg) (seq uint64, data []byte, ok bool) {
	h := c.hist.Load()
	if h == nil {
		return 0, m.Data, false
	}
	seq, ok = h.store.LiveSeq(m)
	if !ok {
		return 0, m.Data, false
	}
	data = h.store.Position(seq).AppendIDField(make([]byte, 0, 40+len(m.Data)))
	return seq, append(data, m.Data...), true
}

// Replay is loop.Resumer: it queues a stream's replay for a worker; false
// when the queue is full (the loop ends the stream with a retry hint).
func (c *Cluster) Replay(t [16]byte, after history.Position, channels []string) bool {
	select {
	case c.replayQ <- replayJob{tok: t, after: after, channels: channels}:
		return true
	default:
		return false
	}
}

func (c *Cluster) replayWorker() {
	defer c.done.Done()
	for {
		select {
		case <-c.quit:
			return
		case j := <-c.replayQ:
			c.runReplay(j)
		}
	}
}

// runReplay replays one stream through its loop.
func (c *Cluster) runReplay(j replayJob) {
	lb := c.local.Load()
	h := c.hist.Load()
	if lb == nil {
		return
	}
	fail := func() { lb.ReplayChunk(j.tok, nil, loop.ReplayFailed, 0) }
	if h == nil || !c.chans.waitSubscribed(j.channels, subscribeWait, c.quit) {
		fail()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	r, st, err := h.store.Replay(ctx, j.after, j.channels)
	if err != nil {
		fail()
		return
	}
	if st != history.More {
		lb.ReplayChunk(j.tok, nil, replayStatus(st), j.after.Seq)
		return
	}
	defer r.Close(context.Background())
	for {
		msgs, through, st, err := r.Next(ctx, replayChunkSize)
		if err != nil {
			fail()
			return
		}
		frames := make([]loop.ReplayFrame, len(msgs))
		for i, m := range msgs {
			b := h.store.Position(m.Seq).AppendIDField(make([]byte, 0, 40+len(m.Data)))
			frames[i] = loop.ReplayFrame{Frame: frame.NewRaw(append(b, m.Data...)), Close: m.Close}
		}
		if !lb.ReplayChunk(j.tok, frames, replayStatus(st), through.Seq) || st != history.More {
			return
		}
	}
}

func replayStatus(st history.Status) loop.ReplayStatus {
	switch st {
	case history.More:
		return loop.ReplayMore
	case history.Done:
		return loop.ReplayDone
	case history.Truncated:
		return loop.ReplayTruncated
	}
	return loop.ReplayUnknown
}

// applied remembers what positions this gateway's dispatcher has applied,
// and with how many streams reached, for publishers waiting on their own.
type applied struct {
	mu      sync.Mutex
	recent  map[uint64]int64
	order   []uint64 // ring of recent's keys
	next    int
	waiters map[uint64]chan int64
}

func (a *applied) init() {
	a.recent = map[uint64]int64{}
	a.order = make([]uint64, appliedRecent)
	a.waiters = map[uint64]chan int64{}
}

// record notes that seq was applied, reaching n streams.
func (a *applied) record(seq uint64, n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.waiters[seq]; w != nil {
		delete(a.waiters, seq)
		w <- n
		return
	}
	if old := a.order[a.next]; old != 0 {
		delete(a.recent, old)
	}
	a.order[a.next], a.next = seq, (a.next+1)%len(a.order)
	a.recent[seq] = n
}

// wait returns how many streams seq reached once it is applied, within d.
func (a *applied) wait(seq uint64, d time.Duration) (int64, bool) {
	a.mu.Lock()
	if n, ok := a.recent[seq]; ok {
		a.mu.Unlock()
		return n, true
	}
	w := make(chan int64, 1)
	a.waiters[seq] = w
	a.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case n := <-w:
		return n, true
	case <-t.C:
		a.mu.Lock()
		delete(a.waiters, seq)
		a.mu.Unlock()
		return 0, false
	}
}
