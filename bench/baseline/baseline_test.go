package baseline

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T) (*Server, string, string) {
	t.Helper()
	sl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Heartbeat: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, sl, cl); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, "http://" + sl.Addr().String(), "http://" + cl.Addr().String()
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestChannelsAndFrames(t *testing.T) {
	srv, streams, control := start(t)
	resp, err := http.Get(streams + "/any/path?channel=news")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("headers %v te %v", resp.Header, resp.TransferEncoding)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().StreamsOpen != 1 {
		if time.Now().After(deadline) {
			t.Fatal("stream never registered")
		}
		time.Sleep(time.Millisecond)
	}
	if code, body := post(t, control+"/internal/publish", `{"channel":"bench","event":{"data":"x"}}`); code != 200 ||
		!strings.Contains(body, `"connections":0`) {
		t.Fatalf("other channel: %d %s", code, body)
	}
	if code, body := post(t, control+"/internal/publish", `{"channel":"news","event":{"name":"n","data":"a\nb"}}`); code != 200 ||
		!strings.Contains(body, `"connections":1`) {
		t.Fatalf("news: %d %s", code, body)
	}
	br := bufio.NewReader(resp.Body)
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(line)
	}
	if got.String() != "event: n\ndata: a\ndata: b\n\n" {
		t.Fatalf("frame %q", got.String())
	}
	if code, body := post(t, control+"/internal/publish", `{"channel":`); code != 400 || !strings.Contains(body, "INVALID_JSON") {
		t.Fatalf("bad json: %d %s", code, body)
	}
	if code, body := post(t, control+"/internal/publish", `{"event":{"data":"x"}}`); code != 400 ||
		!strings.Contains(body, "INVALID_CHANNEL_MISSING") {
		t.Fatalf("no channel: %d %s", code, body)
	}
}
