package loadclient_test

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"ssegw/bench/heads"
	"ssegw/bench/loadclient"
)

// TestStreamsReplayTheHeadWithTheirOwnBytes: with a head template, every
// stream sends the template's head with its own per-user bytes, the same
// length and everything else byte for byte.
func TestStreamsReplayTheHeadWithTheirOwnBytes(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var got [][]byte
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				var head []byte
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					head = append(head, line...)
					if string(line) == "\r\n" {
						break
					}
				}
				mu.Lock()
				got = append(got, head)
				mu.Unlock()
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"))
				_, _ = r.ReadByte() // hold until the client goes
			}()
		}
	}()
	target := netip.MustParseAddrPort(ln.Addr().String())
	tpl, err := heads.Chromium(target.String())
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	c, err := loadclient.New(loadclient.Config{Target: target, Head: tpl, Rate: 1000, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(0, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "streams open", func() bool { return c.Counters(0).Opened == n })
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, h := range got {
		if len(h) != len(tpl.Head) || seen[string(h)] {
			t.Fatalf("head of %d bytes (template %d), or one sent twice:\n%s", len(h), len(tpl.Head), h)
		}
		seen[string(h)] = true
		for i := range h {
			if h[i] != tpl.Head[i] && !inSpans(tpl.Spans, i) {
				t.Fatalf("byte %d differs outside the per-user spans:\n%s", i, h)
			}
		}
	}
	if !bytes.Contains(got[0], []byte("\r\nHost: "+target.String()+"\r\n")) {
		t.Fatalf("Host is not the target:\n%s", got[0])
	}
}

func inSpans(spans []heads.Span, i int) bool {
	for _, s := range spans {
		if i >= s.Off && i < s.Off+s.Len {
			return true
		}
	}
	return false
}

// TestNoReadStallsTheStream: with NoRead a stream takes its response head
// and then reads nothing, so the server's writes stop once the kernel's
// buffers are full.
func TestNoReadStallsTheStream(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	written := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"))
		chunk := bytes.Repeat([]byte("data: x\n\n"), 7000)
		n := 0
		for n < 64<<20 { // a reading client takes all of it
			_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			k, err := c.Write(chunk)
			n += k
			if err != nil {
				break
			}
		}
		written <- n
	}()
	c, err := loadclient.New(loadclient.Config{Target: netip.MustParseAddrPort(ln.Addr().String()), NoRead: true, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(0, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-written:
		if n >= 64<<20 {
			t.Fatalf("the server wrote %d bytes to a stream that does not read", n)
		}
		t.Logf("the server's writes stalled after %d bytes (kernel buffers)", n)
	case <-time.After(testWait):
		t.Fatal("server writes never stalled")
	}
	if got := c.Counters(0).Bytes; got > 1<<20 {
		t.Fatalf("client read %d bytes", got)
	}
}
