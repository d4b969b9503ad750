package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPipelinedCallbacksReachTheirStreams: with CALLBACK_PIPELINE a storm's
// connect callbacks go to a keep-alive net/http backend several per write
// (fewer writes than callbacks), every stream gets the answer to its own
// callback (each binds the channel named in its URL, and a publish to each
// channel reaches exactly its stream), and every stream's disconnect arrives
// once.
func TestPipelinedCallbacksReachTheirStreams(t *testing.T) {
	n := 300
	if raceEnabled {
		n = 100
	}
	var mu sync.Mutex
	disconnects := map[string]int{}
	connects := 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb callbackRec
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &cb); err != nil {
			t.Errorf("callback %q: %v", raw, err)
		}
		mu.Lock()
		if cb.Action == "disconnect" {
			disconnects[cb.Token]++
		} else {
			connects++
		}
		mu.Unlock()
		if cb.Action == "connect" {
			time.Sleep(time.Millisecond) // callbacks queue up behind the two connections
			ch := strings.TrimPrefix(cb.Request.URL, "/pipe/")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"bindings":["ch-%s"]}`, ch)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	g := startGateway(t, map[string]string{"CALLBACK_URL": "http://" + ln.Addr().String() + "/cb",
		"CALLBACK_CONCURRENCY": "2", "CALLBACK_PIPELINE": "16", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	before := scrapeControl(t, g)
	streams := openReady(t, g.PublicAddr(), "/pipe/", n, 30*time.Second)
	after := scrapeControl(t, g)
	callbacks := after[`ssegw_callback_duration_seconds_count{action="connect",outcome="accepted"}`] -
		before[`ssegw_callback_duration_seconds_count{action="connect",outcome="accepted"}`]
	writes := after["ssegw_callback_writes_total"] - before["ssegw_callback_writes_total"]
	t.Logf("%d connect callbacks in %.0f writes", int(callbacks), writes)
	if int(callbacks) != n || writes >= callbacks {
		t.Fatalf("%v connect callbacks in %v writes: want %d callbacks, pipelined", callbacks, writes, n)
	}
	for i := range streams {
		code, resp := g.control("/internal/publish", fmt.Sprintf(`{"channel":"ch-%d","event":{"data":"%d"}}`, i, i))
		if code != 200 || resp != `{"status":"ok","connections":1}` {
			t.Fatalf("publish to ch-%d: %d %s", i, code, resp)
		}
	}
	for i, s := range streams {
		if got, want := nextEvent(t, s), fmt.Sprintf("data: %d\n\n", i); got != want {
			t.Fatalf("stream %d got %q, want %q (another stream's answer)", i, got, want)
		}
		s.conn.Close()
	}
	waitFor(t, "a disconnect per stream", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(disconnects) == n
	})
	mu.Lock()
	for tok, k := range disconnects {
		if k != 1 {
			t.Fatalf("token %s: %d disconnects", tok, k)
		}
	}
	if connects != n {
		t.Fatalf("%d connect callbacks for %d streams", connects, n)
	}
	mu.Unlock()
	assertIdle(t, g)
}

// openReady opens n streams at once (targets prefix0 … prefix<n-1>) and
// fails unless every one is ready.
func openReady(t *testing.T, addr, prefix string, n int, timeout time.Duration) []*rawStream {
	t.Helper()
	streams := make([]*rawStream, n)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			streams[i] = openRaw(addr, fmt.Sprintf("%s%d", prefix, i), timeout)
		}()
	}
	wg.Wait()
	for i, s := range streams {
		if !s.ready {
			t.Fatalf("stream %s%d not ready: %v", prefix, i, s.err)
		}
	}
	return streams
}

// nextEvent reads the next chunk of a raw stream that is not a heartbeat.
func nextEvent(t *testing.T, s *rawStream) string {
	t.Helper()
	c := &client{t: t, conn: s.conn, r: s.r}
	return c.event()
}
