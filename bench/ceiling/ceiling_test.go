package ceiling

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSkipHeadAnySplit(t *testing.T) {
	heads := []string{
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\nHost: x\n\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n\n",
	}
	for _, h := range heads {
		for k := 0; k <= len(h); k++ {
			l := &loop{headProg: make([]uint8, 1)}
			first := l.skipHead(0, []byte(h[:k]))
			second := l.skipHead(0, []byte(h[k:]))
			if first == second || (first && k != len(h)) {
				t.Fatalf("%q split %d: done %v then %v", h, k, first, second)
			}
		}
	}
	l := &loop{headProg: make([]uint8, 1)}
	if l.skipHead(0, []byte(strings.Repeat("GET / HTTP/1.1\r\nA: b\r\n", 10))) {
		t.Fatal("no blank line, yet head reported complete")
	}
}

func TestListenRefusesBadAddress(t *testing.T) {
	if err := New(Config{}).Listen("localhost:0"); err != ErrBadAddress {
		t.Fatalf("want ErrBadAddress, got %v", err)
	}
}

// stopRounds is how many times TestStopWhileBeating starts and stops a
// server; each stop races a 1 ms heartbeat ticker.
const stopRounds = 30

// Stopping the server while heartbeats and publishes are in flight must not
// touch the loops under them (the race detector checks it).
func TestStopWhileBeating(t *testing.T) {
	for range stopRounds {
		srv := New(Config{Loops: 2, Heartbeat: time.Millisecond})
		if err := srv.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		cl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, cl) }()
		c, err := net.Dial("tcp", srv.Addr().String()) // one stream, so beats are counted
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
		for deadline := time.Now().Add(10 * time.Second); srv.Stats().Heartbeats == 0; runtime.Gosched() {
			if time.Now().After(deadline) {
				t.Fatal("no heartbeat")
			}
		}
		go http.Post("http://"+cl.Addr().String()+"/internal/publish", "application/json",
			strings.NewReader(`{"event":{"data":"x"}}`))
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
		c.Close()
	}
}
