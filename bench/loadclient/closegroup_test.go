package loadclient_test

import (
	"bufio"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"ssegw/bench/loadclient"
)

// shedServer answers the first shed requests as the gateway sheds (200, SSE
// headers, a retry field, end of stream) and every later one with "ready"
// and an open stream. It counts accepted connections.
func shedServer(t *testing.T, shed int64) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			k := n.Add(1)
			go func() {
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
				if k <= shed {
					c.Write([]byte(head + "retry: 250\n\n"))
					c.Close()
					return
				}
				c.Write([]byte(head + "event: ready\ndata:\n\n"))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String()), &n
}

func TestShedAndCloseGroup(t *testing.T) {
	const n, shed = 30, 10
	target, accepted := shedServer(t, shed)
	c, err := loadclient.New(loadclient.Config{Target: target, Pollers: 2, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(0, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all settled", func() bool {
		g := c.Counters(0)
		return g.Settled() == n && g.Ready+g.Shed == n
	})
	g := c.Counters(0)
	if g.Shed != shed || g.Ready != n-shed || g.Active != n-shed || g.ServerClosed != shed {
		t.Fatalf("counters %+v", g)
	}
	// Close the open ones; then the process bound counts them as gone.
	if err := c.CloseGroup(0); err != nil {
		t.Fatal(err)
	}
	g = c.Counters(0)
	if g.Active != 0 || g.ClientClosed != n-shed || g.Outstanding() != 0 {
		t.Fatalf("after CloseGroup: %+v", g)
	}
	if err := c.Open(1, loadclient.MaxStreamsPerProcess); err != nil {
		t.Fatalf("the bound should count only outstanding streams: %v", err)
	}
	if err := c.CloseGroup(1); err != nil { // forgets the ones not yet started
		t.Fatal(err)
	}
	if g1 := c.Counters(1); g1.Outstanding() != 0 {
		t.Fatalf("group 1 after CloseGroup: %+v", g1)
	}
	if accepted.Load() < n {
		t.Fatalf("server accepted %d", accepted.Load())
	}
	if err := c.Open(0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(0, loadclient.MaxStreamsPerProcess); err == nil {
		t.Fatal("over the bound: want ErrTooManyStreams")
	}
}
