package loadclient

import (
	"net/netip"
	"testing"
	"time"

	"ssegw/bench/sseparse"
)

func TestSequence(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"t=1764221734123456789 s=42", 42, true},
		{"s=7", 7, true},
		{"t=1 s=3 xxxx", 3, true},
		{"t=1 xs=3", 0, false},
		{"t=1 s=", 0, false},
		{"t=1", 0, false},
	} {
		got, ok := Sequence([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("Sequence(%q) = %d %v, want %d %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestWithLastEventID(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	got := string(withLastEventID(req, []byte("k3Jx81Qa-00000000002")))
	if want := "GET / HTTP/1.1\r\nHost: a\r\nLast-Event-ID: k3Jx81Qa-00000000002\r\n\r\n"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// TestTrackSlots: a slot counts gaps, duplicates, resyncs and replayed
// events, keeps its id across connections, and goes back to the free queue.
func TestTrackSlots(t *testing.T) {
	cfg, err := Config{Target: netip.MustParseAddrPort("127.0.0.1:9"), Track: true}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPoller(0, cfg, cfg.request(), cfg.sourceAddrs(), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer p.shutdown()
	ev := func(s *stream, typ, id, data string) {
		s.OnEvent(&sseparse.Event{Type: []byte(typ), ID: []byte(id), Data: []byte(data)})
	}
	s := &stream{p: p, req: cfg.request()}
	p.trackStart(s, 0)
	if s.resumed {
		t.Fatal("a new slot resumes")
	}
	ev(s, "ready", "", "")
	ev(s, "message", "a-1", "t=1 s=1")
	ev(s, "message", "a-2", "t=1 s=2")
	ev(s, "message", "a-4", "t=1 s=4") // 3 lost
	ev(s, "message", "a-2", "t=1 s=2") // duplicate (its id is the last one now, as in a browser)
	p.releaseSlot(s)
	s2 := &stream{p: p, req: cfg.request()}
	p.trackStart(s2, 0)
	if !s2.resumed || string(s2.req) != "GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nLast-Event-ID: a-2\r\n\r\n" {
		t.Fatalf("resumed %v req %q", s2.resumed, s2.req)
	}
	ev(s2, "message", "a-5", "t=1 s=5") // replayed, before ready
	ev(s2, "resync", "", `{"reason":"truncated"}`)
	ev(s2, "ready", "", "")
	c := p.live[0].load()
	want := Counters{Slots: 1, SeqSum: 5, Lost: 1, Duplicated: 1, Resyncs: 1, Replayed: 1, Resumed: 1}
	got := Counters{Slots: c.Slots, SeqSum: c.SeqSum, Lost: c.Lost, Duplicated: c.Duplicated, Resyncs: c.Resyncs,
		Replayed: c.Replayed, Resumed: c.Resumed}
	if got != want {
		t.Fatalf("counters %+v, want %+v", got, want)
	}
}
