package loadclient

import (
	"net/netip"
	"testing"
	"time"

	"ssegw/bench/sseparse"
)

// TestEventPathAllocs checks the per-event work of a stream (timestamp,
// histogram, counters) allocates nothing.
func TestEventPathAllocs(t *testing.T) {
	cfg, err := Config{Target: netip.MustParseAddrPort("127.0.0.1:9")}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPoller(0, cfg, cfg.request(), cfg.sourceAddrs(), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer p.shutdown()
	s := &stream{p: p, started: time.Now()}
	ev := &sseparse.Event{Type: []byte("message"), Data: sseparse.AppendTimestamp(nil, time.Now().UnixNano())}
	allocs := testing.AllocsPerRun(1000, func() {
		s.now = time.Now()
		s.OnEvent(ev)
		s.OnComment([]byte("heartbeat"))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per event", allocs)
	}
	if got := p.live[0].events.Load(); got != 1001 {
		t.Fatalf("events %d", got)
	}
}

func TestSourceAddressSpread(t *testing.T) {
	cfg, err := Config{Target: netip.MustParseAddrPort("127.0.0.1:9"),
		SourceFirst: netip.MustParseAddr("127.0.0.2"), SourceLast: netip.MustParseAddr("127.0.0.17")}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(cfg.sourceAddrs()); got != 16 {
		t.Fatalf("%d source addresses, want 16", got)
	}
	def, _ := Config{Target: netip.MustParseAddrPort("127.0.0.1:9")}.withDefaults()
	if got := len(def.sourceAddrs()); got != 254 {
		t.Fatalf("default range has %d addresses, want 254", got)
	}
}
