package jetstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ssegw/history"
)

// Msg is one replayed message.
type Msg struct {
	Seq     uint64 // its position in the store's epoch
	Channel string // the bound channel it was published to
	Data    []byte // the SSE message as published (no id line)
	Close   bool   // the publish ended its streams after the event
}

// Replay reads one stream's missed messages, in bounded steps (package
// doc). It belongs to one goroutine; its calls talk to the broker, so never
// make them on a loop.
type Replay struct {
	s        *Store
	epoch    uint64
	cursor   uint64            // position delivered through
	last     map[string]uint64 // subject -> its last delivered position (or the start)
	channels map[string]string // subject -> channel
	cons     jetstream.Consumer
	pending  uint64 // messages of the channels after the cursor, as the broker last said
	done     bool
	out      []Msg
}

// Replay proves that every message of the channels after `after` is still
// kept and returns a Replay that reads them. Status:
//
//   - More: there is something to read: call Next until it says Done.
//   - Done: nothing after the position (nil Replay).
//   - Truncated: a channel dropped a message after the position (nil Replay).
//   - Unknown: the position is of another epoch (the stream was recreated,
//     or never was this one) or ahead of the stream (nil Replay).
//
// An error (wrapping ErrUnavailable) means the broker did not answer within
// ctx: nothing can be proven. It costs one direct get per channel (up to
// proofParallel at once), a stream info, a direct get per channel that has
// nothing after the position while the stream's front passed it, and the
// creation of one consumer when there is something to read.
func (s *Store) Replay(ctx context.Context, after history.Position, channels []string) (*Replay, history.Status, error) {
	if after.Epoch != s.Epoch() {
		if _, err := s.info(ctx); err != nil {
			return nil, 0, err
		}
		if after.Epoch != s.Epoch() {
			return nil, history.Unknown, nil
		}
	}
	bySubj := map[string]string{}
	var subjects []string
	for _, ch := range channels {
		subj := HistorySubject(s.o.Prefix, ch)
		if _, dup := bySubj[subj]; !dup {
			bySubj[subj] = ch
			subjects = append(subjects, subj)
		}
	}
	// First: each subject's oldest message after the position. Then the
	// stream's state, read after them (the front only moves on).
	firsts, err := s.firstsAfter(ctx, subjects, after.Seq)
	if err != nil {
		return nil, 0, err
	}
	info, err := s.info(ctx)
	if err != nil {
		return nil, 0, err
	}
	if epochOf(info) != after.Epoch || after.Seq > info.State.LastSeq {
		return nil, history.Unknown, nil
	}
	start := uint64(0)
	for i, subj := range subjects {
		f := firsts[i]
		if f.bad || f.prev > after.Seq {
			return nil, history.Truncated, nil
		}
		if f.seq != 0 {
			if start == 0 || f.seq < start {
				start = f.seq
			}
			continue
		}
		if ok, err := s.nothingLost(ctx, info, subj, after.Seq); err != nil || !ok {
			return nil, history.Truncated, err
		}
	}
	if start == 0 {
		return nil, history.Done, nil
	}
	cfg := jetstream.ConsumerConfig{
		Description:       "ssegw replay",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerIdle,
		MemoryStorage:     true,
		Replicas:          1,
	}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects // nats-server 2.10 or later
	}
	cons, err := s.stream.Load().CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: replay consumer: %v", ErrUnavailable, err)
	}
	r := &Replay{s: s, epoch: after.Epoch, cursor: after.Seq, last: map[string]uint64{}, channels: bySubj, cons: cons,
		pending: cons.CachedInfo().NumPending}
	for _, subj := range subjects {
		r.last[subj] = after.Seq
	}
	return r, history.More, nil
}

// first is a subject's oldest message after a position: seq 0 if none.
type first struct {
	seq, prev uint64
	bad       bool // no valid HeaderPrev: completeness cannot be proven
}

// firstsAfter asks for every subject's oldest message after seq.
func (s *Store) firstsAfter(ctx context.Context, subjects []string, seq uint64) ([]first, error) {
	out := make([]first, len(subjects))
	errs := make([]error, len(subjects))
	sem := make(chan struct{}, proofParallel)
	var wg sync.WaitGroup
	st := s.stream.Load()
	for i, subj := range subjects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := st.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(subj))
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
			case err != nil:
				errs[i] = fmt.Errorf("%w: first message of %s after %d: %v", ErrUnavailable, subj, seq, err)
			default:
				prev, ok := prevOf(m.Header)
				out[i] = first{seq: m.Sequence, prev: prev, bad: !ok}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// nothingLost decides for a subject with no message after seq whether it
// had one that was dropped: not if the stream dropped nothing after seq
// from its front (the size bound never drops a subject's newest), nor if
// the subject still holds a message at or before seq (then nothing of it
// came later). Otherwise it cannot be told (false).
func (s *Store) nothingLost(ctx context.Context, info *jetstream.StreamInfo, subj string, seq uint64) (bool, error) {
	if seq+1 >= firstSeq(info) {
		return true, nil
	}
	last, err := s.stream.Load().GetLastMsgForSubject(ctx, subj)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: last message of %s: %v", ErrUnavailable, subj, err)
	}
	return last.Sequence <= seq, nil
}

func prevOf(h nats.Header) (uint64, bool) {
	v := h.Get(HeaderPrev)
	if v == "" {
		return 0, false
	}
	p, err := strconv.ParseUint(v, 10, 64)
	return p, err == nil
}

// Next returns up to limit (at least 1) more messages in position order and
// the position delivered through:
//
//   - More: read again.
//   - Done: caught up with the stream (the last one returned had nothing
//     after it on these channels when the broker sent it). Messages after
//     the returned position arrive live, provided the gateway subscribed to
//     the channels' live subjects before Replay was called; live messages at
//     or below it were returned by this replay or are on other channels.
//   - Truncated: a message after the previous position was dropped before
//     it was read (a link of its channel's chain is missing, or the front of
//     the stream passed the position and a channel cannot show it lost
//     nothing); nothing is returned.
//   - Unknown: the stream was recreated meanwhile; nothing is returned.
//
// It fetches only messages the broker counted as pending, so it does not
// wait for new ones; ctx bounds the fetch (give it a deadline: a message
// dropped between the count and the fetch makes the fetch wait for it
// until ctx ends, and then Next reports ErrUnavailable if nothing came).
// The returned slice is valid until the next call. One fetch and one stream
// info per call.
func (r *Replay) Next(ctx context.Context, limit int) ([]Msg, history.Position, history.Status, error) {
	through := history.Position{Epoch: r.epoch, Seq: r.cursor}
	if r.done {
		return nil, through, history.Done, nil
	}
	clear(r.out)
	r.out = r.out[:0]
	before := r.cursor
	if n := min(uint64(max(limit, 1)), r.pending); n > 0 {
		batch, err := r.cons.Fetch(int(n), jetstream.FetchContext(ctx))
		if err != nil {
			return nil, through, 0, fmt.Errorf("%w: replay fetch: %v", ErrUnavailable, err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return nil, through, 0, fmt.Errorf("jetstore: replay message without metadata: %w", err)
			}
			subj, seq := m.Subject(), meta.Sequence.Stream
			prev, ok := prevOf(m.Headers())
			if last, bound := r.last[subj]; !bound || !ok || prev > last || seq <= r.cursor {
				return nil, through, history.Truncated, nil
			}
			r.last[subj], r.cursor, r.pending = seq, seq, meta.NumPending
			r.out = append(r.out, Msg{Seq: seq, Channel: r.channels[subj], Data: m.Data(), Close: m.Headers().Get(HeaderClose) == "1"})
		}
		if len(r.out) == 0 {
			err := batch.Error()
			if err == nil {
				err = ctx.Err()
			}
			return nil, through, 0, fmt.Errorf("%w: replay fetch returned nothing: %v", ErrUnavailable, err)
		}
	}
	st, err := r.frontCheck(ctx, before)
	if err != nil || st != history.More {
		return nil, through, st, err
	}
	if r.pending == 0 {
		r.done = true
		st = history.Done
	}
	return r.out, history.Position{Epoch: r.epoch, Seq: r.cursor}, st, nil
}

// frontCheck looks for messages dropped from the front of the stream after
// `before` that this batch may have missed (the chain shows drops only for
// channels that have a later message): if the front passed `before`, every
// channel whose last delivered position the front passed must show it lost
// nothing (nothingLost). More if all is well.
func (r *Replay) frontCheck(ctx context.Context, before uint64) (history.Status, error) {
	info, err := r.s.info(ctx)
	if err != nil {
		return 0, err
	}
	if epochOf(info) != r.epoch {
		return history.Unknown, nil
	}
	if before+1 >= firstSeq(info) {
		return history.More, nil
	}
	subjects := make([]string, 0, len(r.last))
	for subj := range r.last {
		subjects = append(subjects, subj)
	}
	slices.Sort(subjects)
	for _, subj := range subjects {
		ok, err := r.s.nothingLost(ctx, info, subj, r.last[subj])
		if err != nil {
			return 0, err
		}
		if !ok {
			return history.Truncated, nil
		}
	}
	return history.More, nil
}

// Close deletes the replay's consumer (the broker would after
// consumerIdle). Safe to call more than once.
func (r *Replay) Close(ctx context.Context) error {
	if r == nil || r.cons == nil {
		return nil
	}
	name := r.cons.CachedInfo().Name
	r.cons = nil
	r.done = true
	return r.s.stream.Load().DeleteConsumer(ctx, name)
}
