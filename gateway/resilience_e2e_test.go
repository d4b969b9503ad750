package gateway_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// dialSmallRcvBuf connects with a tiny receive buffer, so a client that stops
// reading backs data up into the gateway quickly.
func dialSmallRcvBuf(t *testing.T, addr string) *client {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, r: bufio.NewReaderSize(c, 4096)}
}

// drain reads a stream's raw bytes until EOF, counting them.
func drainCount(c net.Conn, n *atomic.Int64, done chan<- error) {
	_ = c.SetReadDeadline(time.Time{}) // the client helpers leave a deadline behind
	buf := make([]byte, 64<<10)
	for {
		k, err := c.Read(buf)
		n.Add(int64(k))
		if err != nil {
			done <- err
			return
		}
	}
}

func TestSlowConsumerClosedOthersKeepReceiving(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "WRITE_BUFFER_LIMIT_BYTES": "262144", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	fast, _ := openStream(t, g, b, 1, "/f?ch=news")
	slow := dialSmallRcvBuf(t, g.PublicAddr())
	slow.get("/s?ch=news")
	slow.head()
	slowTok := b.nthConnect(t, 2).Token
	var got atomic.Int64
	done := make(chan error, 1)
	go drainCount(fast.conn, &got, done)
	payload := strings.Repeat("x", 60<<10)
	per := int64(len(payload) + len("data: \n\n") + len("f000\r\n\r\n"))
	const events = 150 // ~9 MB: more than the kernel buffers of one non-reading socket
	base := got.Load()
	for i := 0; i < events; i++ {
		code, resp := g.control("/internal/publish", `{"channel":"news","event":{"data":"`+payload+`"}}`)
		if code != 200 {
			t.Fatalf("publish %d: %d %s", i, code, resp)
		}
		// Pace the publisher to the reading client: it is never behind, the other never reads.
		waitFor(t, fmt.Sprintf("fast stream keeps up at event %d (got %d, want %d)", i, got.Load()-base, int64(i+1)*per), 10*time.Second, func() bool { return got.Load()-base >= int64(i+1)*per })
	}
	waitFor(t, "slow consumer closed with error", 10*time.Second, func() bool {
		c := b.byToken(slowTok)
		return len(c) == 2 && c[1].Reason == "error"
	})
	if code, resp := g.control("/internal/publish", `{"channel":"news","event":{"data":"still here"}}`); resp != `{"status":"ok","connections":1}` {
		t.Fatalf("after the slow close: %d %s", code, resp)
	}
	fast.conn.Close()
	assertIdle(t, g)
}

func TestWriteDeadlineClosesStuckPeer(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "WRITE_TIMEOUT_MS": "400", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	c := dialSmallRcvBuf(t, g.PublicAddr())
	c.get("/stuck")
	c.head()
	tok := b.nthConnect(t, 1).Token
	payload := strings.Repeat("y", 60<<10)
	start := time.Now()
	for i := 0; i < 120; i++ { // ~7 MB, below the 1 MiB gateway limit only once the kernel is full
		if code, _ := g.control("/internal/send", `{"token":"`+tok+`","event":{"data":"`+payload+`"}}`); code != 200 {
			break // closed already (the buffer limit may win the race): either way it must be "error"
		}
	}
	waitFor(t, "stuck peer closed", 10*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	if r := b.byToken(tok)[1].Reason; r != "error" {
		t.Fatalf("reason %q", r)
	}
	t.Logf("closed %v after the first send", time.Since(start))
}

func TestSlowlorisClosedAtHeadDeadline(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HEADER_TIMEOUT_MS": "300"})
	// A head trickled one byte at a time never completes in time: 408, then closed.
	start := time.Now() // before the dial: the deadline runs from accept, which can precede our next line
	c := dial(t, g.PublicAddr())
	stop := make(chan struct{})
	go func() {
		for _, ch := range []byte("GET /slow HTTP/1.1\r\nHost: x\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.conn.Write([]byte{ch}); err != nil {
				return
			}
		}
	}()
	defer close(stop)
	h := c.head()
	if !strings.HasPrefix(h, "HTTP/1.1 408 Request Timeout\r\n") {
		t.Fatalf("head %q", h)
	}
	c.body(h)
	c.expectEOF()
	if el := time.Since(start); el < 280*time.Millisecond || el > 2*time.Second {
		t.Fatalf("closed after %v, want about 300ms", el)
	}
	// A connection that sends nothing is closed without an answer.
	idle := dial(t, g.PublicAddr())
	idle.expectEOF()
	// A kept-alive connection gets the same deadline after its response.
	k := dial(t, g.PublicAddr())
	k.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	k.body(k.head())
	k.expectEOF()
	if n := len(b.snapshot()); n != 0 {
		t.Fatalf("%d callbacks for slowloris connections", n)
	}
	assertIdle(t, g)
}

func TestDeadPeerDetectedByUserTimeout(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace (CI runs as root)")
	}
	ns := newNetns(t)
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "LISTEN_ADDR": ns.hostIP + ":0",
		"TCP_USER_TIMEOUT_MS": "1500", "TCP_KEEPALIVE_SECONDS": "1"})
	conn := ns.dial(t, g.PublicAddr())
	fmt.Fprintf(conn, "GET /far HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("status %q %v", line, err)
	}
	tok := b.nthConnect(t, 1).Token
	ns.cut(t) // the peer vanishes: no FIN, no RST, nothing
	cut := time.Now()
	waitFor(t, "dead peer detected", 15*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	if r := b.byToken(tok)[1].Reason; r != "client_closed" {
		t.Fatalf("reason %q", r)
	}
	if el := time.Since(cut); el > 8*time.Second {
		t.Fatalf("detected after %v", el)
	}
	t.Logf("dead peer detected %v after the link was cut", time.Since(cut))
}

// netns is a network namespace joined to the host by a veth pair: a client
// inside it is a real remote peer whose link the test can cut.
type netns struct {
	name, hostIF, nsIF, hostIP, nsIP string
}

var netnsSeq atomic.Int32

func newNetns(t *testing.T) *netns {
	t.Helper()
	n := netnsSeq.Add(1)
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, n)
	ns := &netns{name: "ssegw" + id, hostIF: "sgh" + id, nsIF: "sgn" + id,
		hostIP: fmt.Sprintf("10.%d.%d.1", 200+n%50, os.Getpid()%250), nsIP: fmt.Sprintf("10.%d.%d.2", 200+n%50, os.Getpid()%250)}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	run("netns", "add", ns.name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", ns.hostIF).Run()
		_ = exec.Command("ip", "netns", "del", ns.name).Run()
	})
	run("link", "add", ns.hostIF, "type", "veth", "peer", "name", ns.nsIF)
	run("link", "set", ns.nsIF, "netns", ns.name)
	run("addr", "add", ns.hostIP+"/30", "dev", ns.hostIF)
	run("link", "set", ns.hostIF, "up")
	run("-n", ns.name, "addr", "add", ns.nsIP+"/30", "dev", ns.nsIF)
	run("-n", ns.name, "link", "set", ns.nsIF, "up")
	return ns
}

// dial connects from inside the namespace.
func (ns *netns) dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	cmdOut := make(chan net.Conn, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := dialInNetns("/var/run/netns/"+ns.name, addr)
		if err != nil {
			errc <- err
			return
		}
		cmdOut <- c
	}()
	select {
	case c := <-cmdOut:
		t.Cleanup(func() { c.Close() })
		return c
	case err := <-errc:
		t.Fatalf("dial in netns: %v", err)
	}
	return nil
}

// cut takes the peer's link down: its packets and ours are dropped silently.
func (ns *netns) cut(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", ns.name, "link", "set", ns.nsIF, "down").CombinedOutput(); err != nil {
		t.Fatalf("cut: %v %s", err, out)
	}
}
