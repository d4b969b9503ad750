package jetstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ssegw/history"
)

// Publish stores msg (one SSE message without an id line; the position is
// its id) as the next message of channel and returns its position. The
// stream republishes it, with its sequence in Nats-Sequence, to the live
// subject the gateways subscribe to, so this one call both stores and
// delivers. The message is chained to the channel's previous one
// (HeaderPrev, checked by the broker with Nats-Expected-Last-Subject-
// Sequence); a concurrent publish to the same channel from another gateway
// makes the broker refuse it, and it is retried with the new link (up to
// publishAttempts times, then ErrConflict). Publishes to one channel from
// this gateway are serialised (one broker round trip each); different
// channels go in parallel. Safe for concurrent use; never call it on a loop.
//
// An error means the message may or may not be stored (a timeout after the
// broker stored it); it is never stored twice by this call.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte, close bool) (history.Position, error) {
	subj := HistorySubject(s.o.Prefix, channel)
	mu := &s.stripes[maphash.String(s.seed, subj)%publishStripes]
	mu.Lock()
	defer mu.Unlock()

	expect, claim, known := s.cachedLink(subj)
	for attempt := range publishAttempts {
		if !known {
			var err error
			if expect, claim, err = s.lookupLink(ctx, subj); err != nil {
				return history.Position{}, err
			}
		}
		m := &nats.Msg{Subject: subj, Data: msg, Header: nats.Header{}}
		m.Header.Set(HeaderPrev, strconv.FormatUint(claim, 10))
		if close {
			m.Header.Set(HeaderClose, "1")
		}
		ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(expect))
		if last, lost := wrongLast(err); lost {
			// Another gateway's publish took the link: use the last
			// sequence the broker names (0: look the link up), after a
			// jittered pause that lets the contenders take turns.
			expect, claim, known = last, last, last > 0
			if err := pause(ctx, attempt); err != nil {
				return history.Position{}, fmt.Errorf("%w: publish to %s: %v", ErrUnavailable, subj, err)
			}
			continue
		}
		if err != nil {
			s.forgetLink(subj)
			return history.Position{}, fmt.Errorf("%w: publish to %s: %v", ErrUnavailable, subj, err)
		}
		if ack.Sequence < s.maxSeq.Load() { // the sequence went back: a new stream
			if _, err := s.info(ctx); err != nil {
				return history.Position{}, err
			}
		}
		s.noteSeq(ack.Sequence)
		s.keepLink(subj, ack.Sequence)
		return s.Position(ack.Sequence), nil
	}
	return history.Position{}, ErrConflict
}

// wrongLast reports the broker's refusal of an expected last sequence and
// the subject's actual last sequence, which its description names ("wrong
// last sequence: 42"; 0 when it does not parse).
func wrongLast(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
		apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, false
	}
	_, num, _ := strings.Cut(apiErr.Description, ": ")
	last, _ := strconv.ParseUint(num, 10, 64)
	return last, true
}

// pause waits a random time below (attempt+1) * conflictPause, or until
// ctx ends.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(rand.N(time.Duration(attempt+1) * conflictPause))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lookupLink asks the broker for a subject's chain link: expect is the
// subject's last stored sequence (0: none), claim what HeaderPrev says.
// With a last message, both are its sequence. With none, every earlier
// message of the subject has been dropped from the front of the stream
// (the size bound never drops a subject's newest), so all of them lie
// below the stream's first sequence, read after the subject was seen
// empty: claim is that minus one.
func (s *Store) lookupLink(ctx context.Context, subj string) (expect, claim uint64, err error) {
	last, err := s.stream.Load().GetLastMsgForSubject(ctx, subj)
	switch {
	case err == nil:
		return last.Sequence, last.Sequence, nil
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, 0, fmt.Errorf("%w: last message of %s: %v", ErrUnavailable, subj, err)
	}
	info, err := s.info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return 0, firstSeq(info) - 1, nil
}

// firstSeq is the stream's first kept sequence, or the next one when the
// stream is empty (a new stream reports 0).
func firstSeq(info *jetstream.StreamInfo) uint64 {
	if info.State.Msgs == 0 {
		return info.State.LastSeq + 1
	}
	return max(info.State.FirstSeq, 1)
}

func (s *Store) cachedLink(subj string) (expect, claim uint64, ok bool) {
	s.linksMu.Lock()
	seq, ok := s.links[subj]
	s.linksMu.Unlock()
	return seq, seq, ok
}

func (s *Store) keepLink(subj string, seq uint64) {
	s.linksMu.Lock()
	if len(s.links) >= maxCachedLinks {
		clear(s.links)
	}
	s.links[subj] = seq
	s.linksMu.Unlock()
}

func (s *Store) forgetLink(subj string) {
	s.linksMu.Lock()
	delete(s.links, subj)
	s.linksMu.Unlock()
}

func (s *Store) noteSeq(seq uint64) {
	for {
		cur := s.maxSeq.Load()
		if seq <= cur || s.maxSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}
