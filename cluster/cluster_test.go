package cluster_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"ssegw/cluster"
	"ssegw/loop"
)

// cluster3 is three gateways on one broker, two streams on each, all bound
// to the channel "news".
type cluster3 struct {
	nats    *broker
	be      *backend
	gws     []*gw
	streams []*client // streams[i] is on gws[i/2]
}

func startCluster3(t *testing.T) *cluster3 {
	t.Helper()
	k := &cluster3{nats: startBroker(t), be: startBackend(t, "news")}
	for range 3 {
		k.gws = append(k.gws, startGateway(t, map[string]string{"NATS_URL": k.nats.url(), "CALLBACK_URL": k.be.url()}))
	}
	ids := map[uint16]bool{}
	for _, g := range k.gws {
		ids[g.Cluster.NodeID()] = true
	}
	if len(ids) != 3 || ids[0] {
		t.Fatalf("node ids not distinct and non-zero: %v", ids)
	}
	n := 0
	for i := range 6 {
		g := k.gws[i/2]
		n++
		c := openStream(t, g.PublicAddr(), k.be, n)
		if node, _ := loop.TokenNode(c.token); node != g.Cluster.NodeID() {
			t.Fatalf("token %s carries node %d, gateway is %d", c.token, node, g.Cluster.NodeID())
		}
		k.streams = append(k.streams, c)
	}
	for _, g := range k.gws {
		waitFor(t, "channel subscription", waitLong, func() bool { return g.Cluster.Subscriptions() == 1 })
		if err := g.Cluster.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func sendBody(token, data string, close bool) string {
	return fmt.Sprintf(`{"token":%q,"event":{"data":%q},"close":%v}`, token, data, close)
}

// TestPublishReachesEveryBoundStreamOnce: a publish through any gateway's
// control port reaches each bound stream on every gateway exactly once.
func TestPublishReachesEveryBoundStreamOnce(t *testing.T) {
	k := startCluster3(t)
	for i, g := range k.gws {
		status, body := g.control("/internal/publish", fmt.Sprintf(`{"channel":"news","event":{"data":"p%d"}}`, i))
		if status != 200 || body != `{"status":"ok","connections":2}` {
			t.Fatalf("publish via gateway %d: %d %s", i, status, body)
		}
		for _, s := range k.streams {
			s.expect(fmt.Sprintf("data: p%d\n\n", i))
		}
	}
	// A send through gateway 0 comes after all of them on every stream: no
	// stream saw a publish twice.
	for _, s := range k.streams {
		if st, body := k.gws[0].control("/internal/send", sendBody(s.token, "end", false)); st != 200 || body != `{"status":"ok"}` {
			t.Fatalf("send: %d %s", st, body)
		}
		s.expect("data: end\n\n")
	}
	// A channel nobody is bound to reaches nobody.
	if st, body := k.gws[1].control("/internal/publish", `{"channel":"empty","event":{"data":"x"}}`); st != 200 || body != `{"status":"ok","connections":0}` {
		t.Fatalf("publish to empty channel: %d %s", st, body)
	}
}

// TestSendThroughAnyGateway: every gateway's control port reaches every
// stream, with the owner's answer; unknown tokens are 404.
func TestSendThroughAnyGateway(t *testing.T) {
	k := startCluster3(t)
	for gi, g := range k.gws {
		for si, s := range k.streams {
			data := fmt.Sprintf("g%d-s%d", gi, si)
			if st, body := g.control("/internal/send", sendBody(s.token, data, false)); st != 200 || body != `{"status":"ok"}` {
				t.Fatalf("send via %d to stream %d: %d %s", gi, si, st, body)
			}
			s.expect("data: " + data + "\n\n")
		}
	}
	notFound := `{"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}}`
	// A token of a live node with a random part nobody holds, of a node
	// nobody has, and one that is not a gateway token at all.
	live := []byte(k.streams[3].token)
	live[35] ^= 1
	unknownNode := tokenOnNode(t, k.streams[0].token, unusedNode(k))
	for _, tok := range []string{string(live), unknownNode, "not-a-token"} {
		for gi, g := range k.gws {
			if st, body := g.control("/internal/send", sendBody(tok, "x", false)); st != 404 || body != notFound {
				t.Fatalf("send %s via %d: %d %s", tok, gi, st, body)
			}
		}
	}
	// Close through another gateway: the stream ends after the event, and the
	// backend hears of it exactly once.
	s := k.streams[5]
	if st, body := k.gws[0].control("/internal/send", sendBody(s.token, "bye", true)); st != 200 || body != `{"status":"ok"}` {
		t.Fatalf("send+close: %d %s", st, body)
	}
	s.expect("data: bye\n\n")
	if last, err := s.chunk(); err != nil || last != "" {
		t.Fatalf("after close: %q %v, want the last chunk", last, err)
	}
	waitFor(t, "disconnect", waitLong, func() bool { return k.be.disconnects()[s.token] == 1 })
	if st, _ := k.gws[1].control("/internal/send", sendBody(s.token, "late", false)); st != 404 {
		t.Fatalf("send to a closed remote stream: %d", st)
	}
}

// TestBatchOrderAcrossGateways: one batch through one gateway, mixing sends
// to streams on every gateway with publishes, reaches each stream in batch
// order.
func TestBatchOrderAcrossGateways(t *testing.T) {
	k := startCluster3(t)
	var items []string
	want := make([][]string, len(k.streams))
	for round := range 20 {
		for si, s := range k.streams {
			d := fmt.Sprintf("r%d-s%d", round, si)
			items = append(items, sendBody(s.token, d, false))
			want[si] = append(want[si], "data: "+d+"\n\n")
		}
		if round%3 == 0 {
			d := fmt.Sprintf("pub%d", round)
			items = append(items, fmt.Sprintf(`{"channel":"news","event":{"data":%q}}`, d))
			for si := range k.streams {
				want[si] = append(want[si], "data: "+d+"\n\n")
			}
		}
	}
	st, body := k.gws[1].control("/internal/batch", "["+strings.Join(items, ",")+"]")
	if st != 200 || strings.Contains(body, "error") {
		t.Fatalf("batch: %d %s", st, body)
	}
	if n := strings.Count(body, `"status":"ok"`); n != len(items) {
		t.Fatalf("batch: %d ok results of %d: %s", n, len(items), body)
	}
	for si, s := range k.streams {
		for _, w := range want[si] {
			s.expect(w)
		}
	}
}

// TestBrokerRestart: the broker going away and coming back loses no stream;
// the gateways report it in /readyz, resubscribe, and work as before.
func TestBrokerRestart(t *testing.T) {
	k := startCluster3(t)
	k.nats.stop()
	for _, g := range k.gws {
		waitFor(t, "readyz without broker", waitLong, func() bool {
			st, body := g.readyz()
			return st == 503 && strings.Contains(body, "NATS not connected")
		})
	}
	// Sends to local streams still work; remote ones are refused with 503.
	if st, _ := k.gws[0].control("/internal/send", sendBody(k.streams[0].token, "local", false)); st != 200 {
		t.Fatalf("local send without broker: %d", st)
	}
	k.streams[0].expect("data: local\n\n")
	if st, _ := k.gws[0].control("/internal/send", sendBody(k.streams[4].token, "remote", false)); st != 503 {
		t.Fatalf("remote send without broker: %d, want 503", st)
	}
	k.nats.start()
	for _, g := range k.gws {
		waitFor(t, "readyz with broker", waitLong, func() bool { st, _ := g.readyz(); return st == 200 })
		if err := g.Cluster.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if st, body := k.gws[2].control("/internal/publish", `{"channel":"news","event":{"data":"back"}}`); st != 200 {
		t.Fatalf("publish after restart: %d %s", st, body)
	}
	for _, s := range k.streams {
		s.expect("data: back\n\n")
	}
	for si, s := range k.streams {
		g := k.gws[(si+1)%3]
		if st, body := g.control("/internal/send", sendBody(s.token, "again", false)); st != 200 {
			t.Fatalf("send after restart: %d %s", st, body)
		}
		s.expect("data: again\n\n")
	}
	if n := len(k.be.disconnects()); n != 0 {
		t.Fatalf("%d streams ended during the broker restart", n)
	}
}

// TestGatewayLeaving: one gateway shutting down ends its own streams (one
// disconnect each) and nothing else; its tokens become 404 everywhere.
func TestGatewayLeaving(t *testing.T) {
	k := startCluster3(t)
	shutdown(t, k.gws[2].Gateway)
	gone := k.streams[4:]
	for _, s := range gone {
		for {
			ch, err := s.chunk()
			if err != nil || ch == "" {
				break
			}
		}
		waitFor(t, "disconnect of a leaving gateway's stream", waitLong, func() bool { return k.be.disconnects()[s.token] == 1 })
	}
	if st, body := k.gws[0].control("/internal/publish", `{"channel":"news","event":{"data":"still"}}`); st != 200 || body != `{"status":"ok","connections":2}` {
		t.Fatalf("publish: %d %s", st, body)
	}
	for _, s := range k.streams[:4] {
		s.expect("data: still\n\n")
	}
	for _, s := range gone {
		if st, _ := k.gws[1].control("/internal/send", sendBody(s.token, "x", false)); st != 404 {
			t.Fatalf("send to a left gateway's token: %d, want 404", st)
		}
	}
	for si, s := range k.streams[:4] {
		if st, _ := k.gws[1-si/2].control("/internal/send", sendBody(s.token, "ok", false)); st != 200 {
			t.Fatalf("send: %d", st)
		}
		s.expect("data: ok\n\n")
	}
	d := k.be.disconnects()
	if len(d) != 2 {
		t.Fatalf("disconnects %v, want only the leaving gateway's two streams", d)
	}
	// Unsubscribed with its last stream: a gateway without streams gets no
	// channel traffic.
	for _, g := range k.gws[:2] {
		if g.Cluster.Subscriptions() != 1 {
			t.Fatalf("subscriptions %d", g.Cluster.Subscriptions())
		}
	}
}

// TestChannelRefcount: a gateway subscribes to a channel while it holds
// bound streams, and only then.
func TestChannelRefcount(t *testing.T) {
	nb := startBroker(t)
	be := startBackend(t, "a", "b")
	g := startGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url(), "EVENT_LOOPS": "2"})
	var cs []*client
	for i := range 4 {
		cs = append(cs, openStream(t, g.PublicAddr(), be, i+1))
	}
	waitFor(t, "two subscriptions", waitLong, func() bool { return g.Cluster.Subscriptions() == 2 })
	for _, c := range cs[:3] {
		c.conn.Close()
	}
	waitFor(t, "three disconnects", waitLong, func() bool { return len(be.disconnects()) == 3 })
	if g.Cluster.Subscriptions() != 2 {
		t.Fatalf("subscriptions %d with one stream left", g.Cluster.Subscriptions())
	}
	cs[3].conn.Close()
	waitFor(t, "no subscriptions", waitLong, func() bool { return g.Cluster.Subscriptions() == 0 })
}

// TestNodeIDs: a configured node id that another gateway holds stops the
// start; a free one is used as given.
func TestNodeIDs(t *testing.T) {
	nb := startBroker(t)
	be := startBackend(t)
	g := startGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url(), "NODE_ID": "4242"})
	if g.Cluster.NodeID() != 4242 {
		t.Fatalf("node id %d", g.Cluster.NodeID())
	}
	_, err := tryGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url(), "NODE_ID": "4242"})
	if !errors.Is(err, cluster.ErrNodeIDTaken) {
		t.Fatalf("second gateway with the same node id: %v", err)
	}
}

// TestBrokerDownAtStart: the gateway starts without its broker, says so in
// /readyz, and joins when the broker comes.
func TestBrokerDownAtStart(t *testing.T) {
	nb := startBroker(t)
	nb.stop()
	be := startBackend(t, "late")
	g := startGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url()})
	st, body := g.readyz()
	if st != 503 || !strings.Contains(body, "NATS not connected") {
		t.Fatalf("readyz %d %s", st, body)
	}
	c := openStream(t, g.PublicAddr(), be, 1)
	nb.start()
	waitFor(t, "readyz", waitLong, func() bool { st, _ := g.readyz(); return st == 200 })
	if err := g.Cluster.Flush(); err != nil {
		t.Fatal(err)
	}
	// A backend publishing on the subject itself reaches the stream.
	nc, err := nats.Connect(nb.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.PublishMsg(&nats.Msg{Subject: cluster.ChannelSubject("ssegw", "late"), Data: []byte("event: direct\ndata: 1\n\n"),
		Header: nats.Header{"Ssegw-Close": []string{"1"}}}); err != nil {
		t.Fatal(err)
	}
	c.expect("event: direct\ndata: 1\n\n")
	if last, err := c.chunk(); err != nil || last != "" {
		t.Fatalf("after a direct close: %q %v", last, err)
	}
}

// TestDirectNodeRequest: a backend can send to a token through the node
// subject with the documented record format.
func TestDirectNodeRequest(t *testing.T) {
	nb := startBroker(t)
	be := startBackend(t)
	g := startGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url()})
	c := openStream(t, g.PublicAddr(), be, 1)
	nc, err := nats.Connect(nb.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	node, _ := loop.TokenNode(c.token)
	msg := "data: hi\n\n"
	other := []byte(c.token)
	other[35] ^= 1 // same loop, slot and node; another random part
	payload := "S " + c.token + " " + strconv.Itoa(len(msg)) + "\n" + msg + "C " + string(other) + " 0\n"
	reply, err := nc.Request(cluster.NodeSubject("ssegw", node), []byte(payload), readWait)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Data) != "on" {
		t.Fatalf("reply %q, want \"on\"", reply.Data)
	}
	c.expect(msg)
	reply, err = nc.Request(cluster.NodeSubject("ssegw", node), []byte("X garbage"), readWait)
	if err != nil || !strings.HasPrefix(string(reply.Data), "!") {
		t.Fatalf("malformed request: %q %v", reply.Data, err)
	}
}

// TestSharedPublicPort: two gateways bind the same public address
// (SO_REUSEPORT) and the kernel spreads streams over both.
func TestSharedPublicPort(t *testing.T) {
	nb := startBroker(t)
	be := startBackend(t, "shared")
	a := startGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url()})
	b := startGateway(t, map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url(), "LISTEN_ADDR": a.PublicAddr()})
	if a.PublicAddr() != b.PublicAddr() {
		t.Fatalf("addresses %s %s", a.PublicAddr(), b.PublicAddr())
	}
	const n = 24
	var cs []*client
	for i := range n {
		cs = append(cs, openStream(t, a.PublicAddr(), be, i+1))
	}
	if a.Loop.Streams() == 0 || b.Loop.Streams() == 0 || a.Loop.Streams()+b.Loop.Streams() != n {
		t.Fatalf("streams %d + %d, want both non-zero, %d in all", a.Loop.Streams(), b.Loop.Streams(), n)
	}
	for _, g := range []*gw{a, b} {
		waitFor(t, "subscription", waitLong, func() bool { return g.Cluster.Subscriptions() == 1 })
		if err := g.Cluster.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := b.control("/internal/publish", `{"channel":"shared","event":{"data":"all"}}`); st != 200 {
		t.Fatalf("publish %d", st)
	}
	for _, c := range cs {
		c.expect("data: all\n\n")
	}
}

// unusedNode is a node id none of the gateways has.
func unusedNode(k *cluster3) uint16 {
	for id := uint16(1); ; id++ {
		used := false
		for _, g := range k.gws {
			used = used || g.Cluster.NodeID() == id
		}
		if !used {
			return id
		}
	}
}

// tokenOnNode rewrites a token's node id (bytes 5 and 7: text offsets 11-12
// and 16-17).
func tokenOnNode(t *testing.T, tok string, node uint16) string {
	t.Helper()
	b := []byte(tok)
	hi, lo := fmt.Sprintf("%02x", node>>8), fmt.Sprintf("%02x", node&0xff)
	copy(b[11:13], hi)
	copy(b[16:18], lo)
	if got, ok := loop.TokenNode(string(b)); !ok || got != node {
		t.Fatalf("token %s: node %d, want %d", b, got, node)
	}
	return string(b)
}
