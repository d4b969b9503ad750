package jetstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ssegw/cluster"
	"ssegw/history"
	"ssegw/internal/testkit"
	"ssegw/jetstore"
)

// Test bounds.
const (
	waitLong = 10 * time.Second // any condition a test waits on
	callWait = 5 * time.Second  // one call to the broker
)

// ---- an embedded JetStream server, file storage in a temp dir ---------------

type broker struct {
	t    testing.TB
	port int
	dir  string
	srv  *server.Server
}

func startBroker(t testing.TB) *broker {
	t.Helper()
	b := &broker{t: t, port: -1, dir: t.TempDir()}
	b.start()
	b.port = b.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() {
		if b.srv != nil {
			b.stop()
		}
	})
	return b
}

func (b *broker) start() {
	b.t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: b.port, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: b.dir})
	if err != nil {
		b.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(waitLong) {
		b.t.Fatal("nats server not ready")
	}
	b.srv = srv
}

func (b *broker) stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.srv = nil
}

func (b *broker) url() string { return "nats://127.0.0.1:" + strconv.Itoa(b.port) }

// connect opens a connection like a gateway's (NoEcho, reconnecting).
func (b *broker) connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(b.url(), nats.NoEcho(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	t.Cleanup(cancel)
	return ctx
}

var defaults = jetstore.Options{Prefix: "ssegw", Size: 100, TTL: time.Hour, MaxBytes: 1 << 20}

func open(t testing.TB, nc *nats.Conn, o jetstore.Options) *jetstore.Store {
	t.Helper()
	s, err := jetstore.Open(ctxT(t), nc, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publish(t *testing.T, s *jetstore.Store, channel, text string) history.Position {
	t.Helper()
	p, err := s.Publish(ctxT(t), channel, []byte("data: "+text+"\n\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// replayAll replays from after in steps of limit: the texts, the final
// position and status.
func replayAll(t *testing.T, s *jetstore.Store, after history.Position, channels []string, limit int) ([]string, history.Position, history.Status) {
	t.Helper()
	r, st, err := s.Replay(ctxT(t), after, channels)
	if err != nil {
		t.Fatal(err)
	}
	if st != history.More {
		return nil, after, st
	}
	defer r.Close(ctxT(t))
	var texts []string
	last := after.Seq
	for {
		msgs, next, st, err := r.Next(ctxT(t), limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Seq <= last {
				t.Fatalf("replay went from %d to %d", last, m.Seq)
			}
			last = m.Seq
			texts = append(texts, strings.TrimSuffix(strings.TrimPrefix(string(m.Data), "data: "), "\n\n"))
		}
		if st != history.More {
			return texts, next, st
		}
	}
}

// ---- tests -----------------------------------------------------------------

// One publish stores the message and delivers it, with its sequence, to a
// plain core subscriber of the channel's live subject (package cluster's
// subject), and to the publishing connection itself despite NoEcho (the
// copy comes from the broker's JetStream, not from the publisher).
func TestPublishRepublishesToLiveSubject(t *testing.T) {
	b := startBroker(t)
	gw := b.connect(t)
	s := open(t, gw, defaults)
	other, err := nats.Connect(b.url())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	subj := cluster.ChannelSubject("ssegw", "room 1")
	plain, _ := other.SubscribeSync(subj)
	own, _ := gw.SubscribeSync(subj)
	_ = other.Flush()
	_ = gw.Flush()

	p := publish(t, s, "room 1", "hello")
	p2, err := s.Publish(ctxT(t), "room 1", []byte("data: bye\n\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Epoch != s.Epoch() || p.Seq != 1 || p2.Seq != 2 {
		t.Fatalf("positions %v %v, epoch %d", p, p2, s.Epoch())
	}
	for _, sub := range []*nats.Subscription{plain, own} {
		for i, want := range []history.Position{p, p2} {
			m, err := sub.NextMsg(callWait)
			if err != nil {
				t.Fatalf("live message %d: %v", i, err)
			}
			seq, ok := s.LiveSeq(m)
			if !ok || seq != want.Seq || m.Header.Get(jetstore.HeaderPrev) != strconv.FormatUint(want.Seq-1, 10) {
				t.Fatalf("live message %d: seq %d %v, headers %v", i, seq, ok, m.Header)
			}
			if (m.Header.Get(jetstore.HeaderClose) == "1") != (i == 1) {
				t.Fatalf("live message %d: close header %q", i, m.Header.Get(jetstore.HeaderClose))
			}
			if wantData := []string{"data: hello\n\n", "data: bye\n\n"}[i]; string(m.Data) != wantData {
				t.Fatalf("live message %d: %q", i, m.Data)
			}
		}
	}
	// A message published on the live subject directly has no position.
	_ = other.Publish(subj, []byte("data: direct\n\n"))
	m, err := plain.NextMsg(callWait)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.LiveSeq(m); ok {
		t.Fatal("a direct publish has a position")
	}
	if got, err := s.Latest(ctxT(t)); err != nil || got != p2 {
		t.Fatalf("Latest = %v, %v; want %v", got, err, p2)
	}
	// The replay carries the close flag and the channel's name.
	r, st, err := s.Replay(ctxT(t), s.Position(0), []string{"room 1"})
	if err != nil || st != history.More {
		t.Fatal(st, err)
	}
	defer r.Close(ctxT(t))
	msgs, _, st, err := r.Next(ctxT(t), 10)
	if err != nil || st != history.Done || len(msgs) != 2 || msgs[0].Close || !msgs[1].Close || msgs[1].Channel != "room 1" {
		t.Fatalf("replay: %+v %v %v", msgs, st, err)
	}
}

// Replay after a position merges several channels in position order, in
// bounded steps, exactly the messages after it; a channel never published
// to, and a repeated one, change nothing.
func TestReplayMergesChannels(t *testing.T) {
	b := startBroker(t)
	s := open(t, b.connect(t), defaults)
	var log []sent
	chans := []string{"a", "b", "c"}
	for i := range 30 {
		ch := chans[(i*7+i/3)%3]
		text := fmt.Sprint(i)
		log = append(log, sent{publish(t, s, ch, text), ch, text})
	}
	from := log[9].p
	bound := []string{"a", "c", "never", "a"}
	var want []string
	for _, x := range log {
		if x.p.Seq > from.Seq && (x.channel == "a" || x.channel == "c") {
			want = append(want, x.text)
		}
	}
	for _, limit := range []int{1, 4, 100} {
		got, next, st := replayAll(t, s, from, bound, limit)
		if st != history.Done || !slices.Equal(got, want) || next.Seq != lastOf(log, "a", "c").Seq {
			t.Fatalf("limit %d: %v %v %v; want %v", limit, got, next, st, want)
		}
	}
	if got, _, st := replayAll(t, s, from, []string{"b"}, 3); st != history.Done || len(got) != 10-countUpTo(log, 9, "b") {
		t.Fatalf("b alone: %v %v", got, st)
	}
}

// sent is one publish of a test.
type sent struct {
	p       history.Position
	channel string
	text    string
}

func lastOf(log []sent, chans ...string) history.Position {
	var p history.Position
	for _, x := range log {
		if slices.Contains(chans, x.channel) {
			p = x.p
		}
	}
	return p
}

func countUpTo(log []sent, i int, ch string) int {
	n := 0
	for _, x := range log[:i+1] {
		if x.channel == ch {
			n++
		}
	}
	return n
}

func TestReplayEdges(t *testing.T) {
	b := startBroker(t)
	s := open(t, b.connect(t), defaults)
	empty := s.Position(0)
	if _, _, st := replayAll(t, s, empty, []string{"a"}, 10); st != history.Done {
		t.Fatalf("empty stream: %v", st)
	}
	p := publish(t, s, "a", "1")
	if _, _, st := replayAll(t, s, p, []string{"a"}, 10); st != history.Done {
		t.Fatalf("at the head: %v", st)
	}
	if _, _, st := replayAll(t, s, s.Position(p.Seq+1), []string{"a"}, 10); st != history.Unknown {
		t.Fatalf("from the future: %v", st)
	}
	if _, _, st := replayAll(t, s, history.Position{Epoch: s.Epoch()%(history.MaxEpoch-1) + 1, Seq: 0}, []string{"a"}, 10); st != history.Unknown {
		t.Fatalf("another epoch: %v", st)
	}
	if got, _, st := replayAll(t, s, empty, []string{"a"}, 10); st != history.Done || !slices.Equal(got, []string{"1"}) {
		t.Fatalf("from the start: %v %v", got, st)
	}
}

// The per-channel bound drops a channel's oldest (an interior delete of
// the stream): a position before it is truncated for that channel only.
func TestTruncatedBySize(t *testing.T) {
	b := startBroker(t)
	o := defaults
	o.Size = 3
	s := open(t, b.connect(t), o)
	start := s.Position(0)
	var ps []history.Position
	for i := range 6 {
		ps = append(ps, publish(t, s, "busy", fmt.Sprint(i)))
		if i == 2 {
			publish(t, s, "quiet", "q")
		}
	}
	if _, _, st := replayAll(t, s, start, []string{"busy"}, 10); st != history.Truncated {
		t.Fatalf("busy from the start: %v", st)
	}
	if _, _, st := replayAll(t, s, ps[1], []string{"busy", "quiet"}, 10); st != history.Truncated {
		t.Fatalf("busy from its second: %v", st)
	}
	if got, _, st := replayAll(t, s, start, []string{"quiet"}, 10); st != history.Done || !slices.Equal(got, []string{"q"}) {
		t.Fatalf("quiet from the start: %v %v", got, st)
	}
	if got, _, st := replayAll(t, s, ps[2], []string{"busy", "quiet"}, 2); st != history.Done || !slices.Equal(got, []string{"q", "3", "4", "5"}) {
		t.Fatalf("both from busy's third: %v %v", got, st)
	}
}

// Age drops from the front of the stream: a channel that lost a message
// after the position is truncated, also once it has a new one. A channel
// with nothing kept cannot show what it had between the position and the
// stream's front, so it is truncated too (unlike in package history, which
// remembers its floor), and fine from a position at or past the front.
func TestTruncatedByAge(t *testing.T) {
	b := startBroker(t)
	o := defaults
	o.TTL = time.Second
	s := open(t, b.connect(t), o)
	quiet := publish(t, s, "quiet", "q") // gone with the rest, but before the position
	p0 := publish(t, s, "other", "o")
	publish(t, s, "old", "x")
	testkit.WaitFor(t, "messages to age out", waitLong, func() bool {
		info, err := jsStream(t, b, s).Info(ctxT(t))
		return err == nil && info.State.Msgs == 0
	})
	if _, _, st := replayAll(t, s, p0, []string{"old"}, 10); st != history.Truncated {
		t.Fatalf("old after its message aged out: %v", st)
	}
	if _, _, st := replayAll(t, s, p0, []string{"quiet"}, 10); st != history.Truncated {
		t.Fatalf("quiet, empty, from before the front: %v", st)
	}
	if _, _, st := replayAll(t, s, s.Position(p0.Seq+1), []string{"quiet", "old"}, 10); st != history.Done {
		t.Fatalf("from the front: %v", st)
	}
	if _, _, st := replayAll(t, s, s.Position(quiet.Seq-1), []string{"quiet"}, 10); st != history.Truncated {
		t.Fatalf("quiet from before its message: %v", st)
	}
	p := publish(t, s, "old", "new")
	if _, _, st := replayAll(t, s, p0, []string{"old"}, 10); st != history.Truncated {
		t.Fatalf("old with a new message after the aged one: %v", st)
	}
	if got, _, st := replayAll(t, s, s.Position(p.Seq-1), []string{"old"}, 10); st != history.Done || !slices.Equal(got, []string{"new"}) {
		t.Fatalf("old from just before the new one: %v %v", got, st)
	}
}

// The byte bound drops the oldest of the whole stream, whatever the channel.
func TestTruncatedByBytes(t *testing.T) {
	b := startBroker(t)
	o := defaults
	o.MaxBytes = 4096
	s := open(t, b.connect(t), o)
	start := s.Position(0)
	pad := strings.Repeat("x", 500)
	first := publish(t, s, "a", "first "+pad)
	for i := range 12 {
		publish(t, s, []string{"b", "c"}[i%2], fmt.Sprint(i, pad))
	}
	info, err := jsStream(t, b, s).Info(ctxT(t))
	if err != nil || info.State.FirstSeq <= first.Seq {
		t.Fatalf("nothing dropped for bytes: %+v %v", info.State, err)
	}
	if _, _, st := replayAll(t, s, start, []string{"a"}, 10); st != history.Truncated {
		t.Fatalf("a from the start: %v", st)
	}
	if _, _, st := replayAll(t, s, start, []string{"b"}, 10); st != history.Truncated {
		t.Fatalf("b from the start: %v", st)
	}
	recent := s.Position(info.State.LastSeq - 2)
	if got, _, st := replayAll(t, s, recent, []string{"a", "b", "c"}, 10); st != history.Done || len(got) != 2 {
		t.Fatalf("recent: %v %v", got, st)
	}
}

// A message dropped between two steps of one replay, before it was read,
// turns the next step into Truncated.
func TestTruncatedMidReplay(t *testing.T) {
	b := startBroker(t)
	o := defaults
	o.Size = 3
	s := open(t, b.connect(t), o)
	start := s.Position(0)
	for i := range 3 {
		publish(t, s, "a", fmt.Sprint(i))
	}
	r, st, err := s.Replay(ctxT(t), start, []string{"a"})
	if err != nil || st != history.More {
		t.Fatal(st, err)
	}
	defer r.Close(ctxT(t))
	msgs, _, st, err := r.Next(ctxT(t), 1)
	if err != nil || st != history.More || len(msgs) != 1 {
		t.Fatalf("first step: %d %v %v", len(msgs), st, err)
	}
	for i := range 3 {
		publish(t, s, "a", fmt.Sprint("later ", i)) // drops 1 and 2, not read yet
	}
	if msgs, _, st, err := r.Next(ctxT(t), 10); err != nil || st != history.Truncated {
		t.Fatalf("after the unread ones were dropped: %d %v %v", len(msgs), st, err)
	}
}

// Two gateways publishing to one channel at once keep its chain intact:
// every publish succeeds and a replay from the start proves and returns all
// of them.
func TestConcurrentPublishersKeepTheChain(t *testing.T) {
	b := startBroker(t)
	gws := []*jetstore.Store{open(t, b.connect(t), defaults), open(t, b.connect(t), defaults)}
	const per = 30
	var wg sync.WaitGroup
	errs := make(chan error, 2*per)
	for g, s := range gws {
		for range 2 { // two control handlers per gateway
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per / 2 {
					if _, err := s.Publish(ctxT(t), "shared", fmt.Appendf(nil, "data: %d-%d\n\n", g, i), false); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _, st := replayAll(t, gws[1], gws[0].Position(0), []string{"shared"}, 7)
	if st != history.Done || len(got) != 2*per {
		t.Fatalf("replay: %d messages, %v", len(got), st)
	}
}

// A stream deleted and created again is another history: a new epoch, the
// old positions unknown.
func TestRecreatedStreamChangesEpoch(t *testing.T) {
	b := startBroker(t)
	nc := b.connect(t)
	s := open(t, nc, defaults)
	old := publish(t, s, "a", "before")
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctxT(t), s.Stream()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctxT(t)); err != nil { // finds the stream gone and creates it
		t.Fatal(err)
	}
	if s.Epoch() == old.Epoch {
		t.Fatal("the recreated stream kept the epoch")
	}
	p := publish(t, s, "a", "after")
	if p.Epoch == old.Epoch || p.Seq != 1 {
		t.Fatalf("first position of the new stream: %v (old %v)", p, old)
	}
	if _, _, st := replayAll(t, s, old, []string{"a"}, 10); st != history.Unknown {
		t.Fatalf("a position of the old stream: %v", st)
	}
	// Another gateway that opened before the recreation learns the new
	// epoch when its next replay asks.
	s2 := open(t, b.connect(t), defaults)
	if _, _, st := replayAll(t, s2, p, []string{"a"}, 10); st != history.Done {
		t.Fatalf("other gateway at the head: %v", st)
	}
}

// A gateway that starts with other settings updates the stream's limits;
// the history (and its epoch) stays.
func TestLimitsUpdatedAtStart(t *testing.T) {
	b := startBroker(t)
	s := open(t, b.connect(t), defaults)
	for i := range 5 {
		publish(t, s, "a", fmt.Sprint(i))
	}
	o := defaults
	o.Size, o.TTL, o.MaxBytes = 2, 10*time.Minute, 1<<19
	s2 := open(t, b.connect(t), o)
	if s2.Epoch() != s.Epoch() {
		t.Fatal("an update changed the epoch")
	}
	info, err := jsStream(t, b, s2).Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.MaxMsgsPerSubject != 2 || c.MaxAge != 10*time.Minute || c.MaxBytes != 1<<19 || info.State.Msgs != 2 {
		t.Fatalf("config after the update: per subject %d, age %v, bytes %d; %d kept", c.MaxMsgsPerSubject, c.MaxAge, c.MaxBytes, info.State.Msgs)
	}
	if got, _, st := replayAll(t, s2, s2.Position(3), []string{"a"}, 10); st != history.Done || !slices.Equal(got, []string{"3", "4"}) {
		t.Fatalf("after the update: %v %v", got, st)
	}
	if _, _, st := replayAll(t, s2, s2.Position(2), []string{"a"}, 10); st != history.Truncated {
		t.Fatalf("before what the update trimmed: %v", st)
	}
}

// The history survives a broker restart (file storage): same epoch, same
// messages, chains continue; while the broker is down, Ready says so.
func TestSurvivesBrokerRestart(t *testing.T) {
	b := startBroker(t)
	s := open(t, b.connect(t), defaults)
	start := s.Position(0)
	publish(t, s, "a", "1")
	publish(t, s, "b", "2")
	epoch := s.Epoch()
	b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := s.Ready(ctx)
	cancel()
	if !errors.Is(err, jetstore.ErrUnavailable) {
		t.Fatalf("Ready with the broker down: %v", err)
	}
	b.start()
	testkit.WaitFor(t, "the store to be ready again", waitLong, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return s.Ready(ctx) == nil
	})
	if s.Epoch() != epoch {
		t.Fatal("the restart changed the epoch")
	}
	publish(t, s, "a", "3")
	if got, _, st := replayAll(t, s, start, []string{"a", "b"}, 10); st != history.Done || !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("after the restart: %v %v", got, st)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	b := startBroker(t)
	nc := b.connect(t)
	for _, o := range []jetstore.Options{
		{Prefix: "", Size: 1, MaxBytes: 1},
		{Prefix: "p", Size: 0, MaxBytes: 1},
		{Prefix: "p", Size: 1, MaxBytes: 0},
		{Prefix: "p", Size: 1, MaxBytes: 1, TTL: -1},
	} {
		if _, err := jetstore.Open(ctxT(t), nc, o); !errors.Is(err, jetstore.ErrBadOptions) {
			t.Errorf("Open(%+v) = %v", o, err)
		}
	}
}

// The subjects agree with package cluster's, byte for byte.
func TestLiveSubjectIsClusters(t *testing.T) {
	for _, name := range []string{"", "room-1", "a.b c", "ünï", "*>%#", strings.Repeat("é", 200), "\x00\x7f"} {
		if got, want := jetstore.LiveSubject("pfx.x", name), cluster.ChannelSubject("pfx.x", name); got != want {
			t.Errorf("%q: %q, cluster %q", name, got, want)
		}
	}
	if got := jetstore.HistorySubject("ssegw", "a.b"); got != "ssegw.hist.a%2Eb" {
		t.Errorf("history subject %q", got)
	}
}

func jsStream(t *testing.T, b *broker, s *jetstore.Store) jetstream.Stream {
	t.Helper()
	nc, err := nats.Connect(b.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctxT(t), s.Stream())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
