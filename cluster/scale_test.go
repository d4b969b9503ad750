package cluster_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scale test sizes.
const (
	scaleStreams     = 3000 // over three gateways: ~1,000 each, 6,000 descriptors in this process
	scaleStreamsRace = 300  // under -race
	scalePublishes   = 5
	scaleDialers     = 64 // streams opened at once
	scaleWait        = 30 * time.Second
)

// TestScaleClusterSharedPort: three gateways share one public port; streams
// land on all of them; five publishes through one control port reach every
// stream once and in order; one batch of sends to every token through another
// gateway reaches every stream after them.
func TestScaleClusterSharedPort(t *testing.T) {
	n := scaleStreams
	if raceEnabled {
		n = scaleStreamsRace
	}
	nb := startBroker(t)
	be := startBackend(t, "bench")
	var gws []*gw
	env := map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url()}
	gws = append(gws, startGateway(t, env))
	env["LISTEN_ADDR"] = gws[0].PublicAddr()
	gws = append(gws, startGateway(t, env), startGateway(t, env))

	type stream struct {
		conn net.Conn
		r    *bufio.Reader
	}
	streams := make([]*stream, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, scaleDialers)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", gws[0].PublicAddr(), readWait)
			if err != nil {
				errs <- err
				return
			}
			s := &stream{conn: c, r: bufio.NewReader(c)}
			streams[i] = s
			_ = c.SetDeadline(time.Now().Add(scaleWait))
			if _, err := c.Write([]byte("GET /s HTTP/1.1\r\nHost: gw\r\n\r\n")); err != nil {
				errs <- err
				return
			}
			if ev, err := readEvent(s.r); err != nil || ev != "event: ready\ndata:\n\n" {
				errs <- fmt.Errorf("ready: %q %v", ev, err)
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range streams {
			if s != nil {
				s.conn.Close()
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	var total int64
	for i, g := range gws {
		if g.Loop.Streams() == 0 {
			t.Fatalf("gateway %d got no stream through the shared port", i)
		}
		total += g.Loop.Streams()
		waitFor(t, "subscription", waitLong, func() bool { return g.Cluster.Subscriptions() == 1 })
		if err := g.Cluster.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if total != int64(n) {
		t.Fatalf("%d streams, want %d", total, n)
	}
	for p := range scalePublishes {
		body := fmt.Sprintf(`{"channel":"bench","event":{"data":"p%d"}}`, p)
		if st, resp := gws[0].control("/internal/publish", body); st != 200 {
			t.Fatalf("publish: %d %s", st, resp)
		}
	}
	tokens := be.connects()
	items := make([]string, len(tokens))
	for i, tok := range tokens {
		items[i] = sendBody(tok, "s", false)
	}
	// Through the same control port as the publishes: order is promised per
	// control port (cluster doc), not across gateways' control ports.
	st, resp := gws[0].control("/internal/batch", "["+strings.Join(items, ",")+"]")
	if st != 200 || strings.Count(resp, `"status":"ok"`) != n {
		t.Fatalf("batch of %d sends: %d %.300s", n, st, resp)
	}
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range scalePublishes + 1 {
				want := fmt.Sprintf("data: p%d\n\n", p)
				if p == scalePublishes {
					want = "data: s\n\n"
				}
				if ev, err := readEvent(s.r); err != nil || ev != want {
					errs <- fmt.Errorf("event %d: %q %v, want %q", p, ev, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// readEvent reads one chunk that is not a heartbeat (head first if needed).
func readEvent(r *bufio.Reader) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") {
			for line != "\r\n" {
				if line, err = r.ReadString('\n'); err != nil {
					return "", err
				}
			}
			continue
		}
		var size int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "%x", &size); err != nil {
			return "", fmt.Errorf("chunk size %q", line)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		if ev := string(buf[:size]); ev != ": heartbeat\n\n" {
			return ev, nil
		}
	}
}
