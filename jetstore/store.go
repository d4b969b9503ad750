package jetstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ssegw/history"
)

// Headers the store writes on every message (and that the republished copy
// carries, with the broker's Nats-Sequence).
const (
	// HeaderPrev chains a message to its channel's previous one: the
	// decimal position P such that the channel had no message between P
	// and this one (package doc, "Proving completeness").
	HeaderPrev = "Ssegw-Prev"
	// HeaderClose marks a publish that ends each stream after the event
	// (package cluster's header of the same name).
	HeaderClose = "Ssegw-Close"
)

// Limits of the store (not user knobs).
const (
	// publishAttempts bounds the retries of a publish whose chain link was
	// taken by a concurrent publish to the same channel (another gateway);
	// conflictPause scales the jittered pause before each retry (attempt n
	// waits up to n+1 times it: at most about 140 ms in all).
	publishAttempts = 16
	conflictPause   = time.Millisecond
	// maxCachedLinks bounds the per-channel last positions this gateway
	// remembers to chain its next publish without asking the broker; past
	// it the cache is cleared (a miss costs one direct get).
	maxCachedLinks = 1 << 16
	// publishStripes serialises this gateway's publishes per channel (by a
	// hash of the subject), so they do not race each other for the link.
	publishStripes = 256
	// proofParallel bounds the direct gets in flight while a replay proves
	// completeness over its channels.
	proofParallel = 16
	// consumerIdle is the inactive threshold of a replay's consumer: the
	// broker deletes it by itself if a gateway dies mid-replay.
	consumerIdle = 30 * time.Second
)

// Errors of the store.
var (
	ErrUnavailable = errors.New("jetstore: JetStream not reachable")
	ErrBadOptions  = errors.New("jetstore: invalid options")
	ErrBadChain    = errors.New("jetstore: message without a valid " + HeaderPrev + " header")
	ErrConflict    = errors.New("jetstore: publish lost the race for its channel's chain too often")
	ErrBrokerOld   = errors.New("jetstore: nats-server " + MinBrokerVersion + " or later needed (multi-subject consumer filters)")
)

// MinBrokerVersion is the oldest nats-server the store works with: replays
// over several channels use a consumer with several filter subjects (2.10);
// older servers ignore the field and would deliver every channel's messages.
const MinBrokerVersion = "2.10.0"

// Options configure a Store.
type Options struct {
	Prefix   string        // NATS_SUBJECT_PREFIX
	Stream   string        // stream name; "": from the prefix ("ssegw" -> "SSEGW_HISTORY")
	Size     int           // HISTORY_SIZE: messages kept per channel (per subject)
	TTL      time.Duration // HISTORY_TTL_SECONDS: max age; 0: none
	MaxBytes int64         // HISTORY_MAX_BYTES: the whole stream
	Replicas int           // stream replicas; 0: 1
	Memory   bool          // memory storage instead of file storage (tests)
}

// Store is a cluster's history in one JetStream stream (package doc).
type Store struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream atomic.Pointer[streamBox]
	epoch  atomic.Uint64
	maxSeq atomic.Uint64 // highest position seen in a publish answer

	seed    maphash.Seed
	stripes [publishStripes]sync.Mutex
	linksMu sync.Mutex
	links   map[string]uint64 // subject -> last position published there
}

type streamBox struct{ jetstream.Stream }

// Open creates the stream, or updates its limits to o's, and reads its
// identity (the epoch). ctx bounds the calls to the broker.
func Open(ctx context.Context, nc *nats.Conn, o Options) (*Store, error) {
	if o.Prefix == "" || o.Size < 1 || o.MaxBytes < 1 || o.TTL < 0 || o.Replicas < 0 {
		return nil, fmt.Errorf("%w: %+v", ErrBadOptions, o)
	}
	if o.Stream == "" {
		o.Stream = streamName(o.Prefix)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := &Store{o: o, nc: nc, js: js, seed: maphash.MakeSeed(), links: map[string]uint64{}}
	if err := s.checkVersion(); err != nil && nc.IsConnected() {
		return nil, err // before touching the stream
	}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.checkVersion(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) checkVersion() error {
	if v := s.nc.ConnectedServerVersion(); !versionAtLeast(v, MinBrokerVersion) {
		return fmt.Errorf("%w: connected to %q", ErrBrokerOld, v)
	}
	return nil
}

// versionAtLeast compares dotted version numbers ("2.9.10" < "2.10.0");
// anything after a '-' or '+' is ignored, and what does not parse is old.
func versionAtLeast(v, min string) bool {
	parse := func(s string) (out [3]int, ok bool) {
		s, _, _ = strings.Cut(strings.TrimPrefix(s, "v"), "-")
		s, _, _ = strings.Cut(s, "+")
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			return out, false
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return out, false
			}
			out[i] = n
		}
		return out, true
	}
	a, ok := parse(v)
	b, _ := parse(min)
	return ok && slices.Compare(a[:], b[:]) >= 0
}

// config is the stream's configuration (package doc, "The stream").
func (s *Store) config() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if s.o.Memory {
		storage = jetstream.MemoryStorage
	}
	src := s.o.Prefix + historySegment + "*"
	return jetstream.StreamConfig{
		Name:              s.o.Stream,
		Description:       "ssegw channel history (CONTRACT.md section 9)",
		Subjects:          []string{src},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(s.o.Size),
		MaxMsgs:           -1,
		MaxAge:            s.o.TTL,
		MaxBytes:          s.o.MaxBytes,
		Storage:           storage,
		Replicas:          s.o.Replicas,
		AllowDirect:       true,
		RePublish: &jetstream.RePublish{
			Source:      src,
			Destination: s.o.Prefix + channelSegment + "{{wildcard(1)}}",
		},
	}
}

// ensure creates or updates the stream and takes its identity.
func (s *Store) ensure(ctx context.Context) error {
	st, err := s.js.CreateOrUpdateStream(ctx, s.config())
	if err != nil {
		return fmt.Errorf("%w: create or update stream %s: %v", ErrUnavailable, s.o.Stream, err)
	}
	s.stream.Store(&streamBox{st})
	s.setEpoch(st.CachedInfo())
	return nil
}

// epochOf is a stream's identity as an epoch: its creation time, which
// changes when the stream is deleted and created again and survives broker
// restarts and limit updates.
func epochOf(info *jetstream.StreamInfo) uint64 {
	return history.EpochOf(uint64(info.Created.UnixNano()))
}

// setEpoch takes the epoch from a fresh stream info; a new identity (the
// stream was recreated) forgets the cached chain links.
func (s *Store) setEpoch(info *jetstream.StreamInfo) {
	if info == nil {
		return
	}
	e := epochOf(info)
	if s.epoch.Swap(e) != e {
		s.linksMu.Lock()
		clear(s.links)
		s.linksMu.Unlock()
		s.maxSeq.Store(info.State.LastSeq)
	}
}

// Epoch is the stream's identity as a position epoch (the same on every
// gateway of the cluster). It is refreshed by Ready, Latest and every
// replay, and when a publish answer shows the sequence went back.
func (s *Store) Epoch() uint64 { return s.epoch.Load() }

// Position is the position of the stored message seq in the current epoch
// (for a live message: seq from its Nats-Sequence header, see LiveSeq).
func (s *Store) Position(seq uint64) history.Position {
	return history.Position{Epoch: s.Epoch(), Seq: seq}
}

// Stream is the stream's name.
func (s *Store) Stream() string { return s.o.Stream }

// info reads the stream's state and refreshes the epoch; a deleted stream
// is created again (a new epoch).
func (s *Store) info(ctx context.Context) (*jetstream.StreamInfo, error) {
	info, err := s.stream.Load().Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err = s.ensure(ctx); err == nil {
			info, err = s.stream.Load().Info(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.setEpoch(info)
	return info, nil
}

// Ready reports whether JetStream answers for the stream within ctx
// (nil), else an error wrapping ErrUnavailable for /readyz.
func (s *Store) Ready(ctx context.Context) error {
	_, err := s.info(ctx)
	return err
}

// Latest is the position of the cluster's latest stored message
// (GET /internal/position; Seq 0 before the first).
func (s *Store) Latest(ctx context.Context) (history.Position, error) {
	info, err := s.info(ctx)
	if err != nil {
		return history.Position{}, err
	}
	return history.Position{Epoch: epochOf(info), Seq: info.State.LastSeq}, nil
}

// LiveSeq reads the position of a message the stream republished to a live
// subject (PREFIX.ch.<token>): its Nats-Sequence header, if it came from
// this store's stream. A message published there directly (by a backend,
// bypassing the history) has none.
func (s *Store) LiveSeq(m *nats.Msg) (uint64, bool) {
	if m.Header == nil || m.Header.Get(jetstream.StreamHeader) != s.o.Stream {
		return 0, false
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	return seq, err == nil && seq > 0
}
