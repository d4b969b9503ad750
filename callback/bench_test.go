package callback

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// cannedServer answers every request on a kept-alive connection with the
// same bytes, allocating next to nothing, so a benchmark's allocations are
// the client's.
func cannedServer(b *testing.B, answer string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 64<<10)
				out := []byte(answer)
				for {
					n := 0
					for { // head lines; only Content-Length matters
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
							n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
						}
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/cb"
}

// BenchmarkConnectCallback is one connect callback end to end through a
// worker (encode, write, read, decode, Done) against a backend that answers
// as the bench backend does.
func BenchmarkConnectCallback(b *testing.B) {
	body := `{"bindings":["bench"]}`
	url := cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 11:00:00 GMT\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	c, err := New(Options{URL: url, Timeout: 5 * time.Second, Concurrency: 1, MaxPending: 4})
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	defer c.Stop(context.Background())
	head := []byte("GET /events?channel=bench HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
	done := make(chan Result, 1)
	j := &Job{Action: ActionConnect, Token: "0b9e5d7e-8a3f-4c1e-9d2a-6f4b3c2a1e0f", Head: head,
		Done: func(_ *Job, r Result) { done <- r }}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Connect(j); err != nil {
			b.Fatal(err)
		}
		if r := <-done; r.Outcome != Accepted || len(r.Bindings) != 1 {
			b.Fatalf("%+v", r)
		}
	}
}

// BenchmarkConnectCallbacksQueued is a storm's view: 64 connect callbacks
// queued at once, then all their answers awaited, through 4 workers, one at
// a time per connection (depth 1) or pipelined (depth 32); ns/op is per
// callback.
func BenchmarkConnectCallbacksQueued(b *testing.B) {
	body := `{"bindings":["bench"]}`
	url := cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 11:00:00 GMT\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	head := []byte("GET /events?channel=bench HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
	const burst = 64
	for _, depth := range []int{1, 32} {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			c, err := New(Options{URL: url, Timeout: 5 * time.Second, Concurrency: 4, Pipeline: depth, MaxPending: burst})
			if err != nil {
				b.Fatal(err)
			}
			c.Start()
			defer c.Stop(context.Background())
			done := make(chan Result, burst)
			jobs := make([]Job, burst)
			for i := range jobs {
				jobs[i] = Job{Action: ActionConnect, Token: "0b9e5d7e-8a3f-4c1e-9d2a-6f4b3c2a1e0f", Head: head,
					Done: func(_ *Job, r Result) { done <- r }}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n += burst {
				k := min(burst, b.N-n)
				for i := 0; i < k; i++ {
					if err := c.Connect(&jobs[i]); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < k; i++ {
					if r := <-done; r.Outcome != Accepted {
						b.Fatalf("%+v", r)
					}
				}
			}
		})
	}
}
