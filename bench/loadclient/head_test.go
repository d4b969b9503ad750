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
