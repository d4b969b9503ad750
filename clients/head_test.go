package clients

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ssegw/bench/heads"
	gwcallback "ssegw/callback"
)

// The page of the head capture and the stream it opens, on one origin (the
// front below), as a site serves them when the gateway sits behind its own
// host: a same-origin EventSource is the one that carries the site's
// cookies (a cross-origin one sends none, and the gateway's
// Access-Control-Allow-Origin: * forbids credentials).
const (
	headPagePath   = "/app/rooms/482913"
	headStreamPath = "/events?room=482913"
)

// headPageCookies are what the page sets, a first-party cookie of a
// realistic size: a Django-style CSRF token and session id, Google
// Analytics' two cookies, two preferences.
var headPageCookies = []string{
	"csrftoken=Xq3LmP9vR2tYw8ZkB4nC6dF1gH7jK0sA; Path=/; SameSite=Lax",
	"sessionid=k2v9q8x7m3n4b5c6z1l0p9o8i7u6y5t4; Path=/; HttpOnly; SameSite=Lax",
	"_ga=GA1.1.1839275064.1764660423; Path=/",
	"_ga_K7Q2XW4M9P=GS1.1.1764660423.3.1.1764661187.0.0.0; Path=/",
	"theme=dark; Path=/",
	"lang=en-GB; Path=/",
}

// checkChromiumHead captures the exact request head Chromium's EventSource
// sends on a page with those cookies, relays it to the real gateway and
// checks that the connect and the disconnect callbacks carry it byte for
// byte; then it compares it with the head committed in bench/heads (which
// the bench replays), or rewrites that file when SSEGW_UPDATE_HEADS=1.
func checkChromiumHead(t *testing.T, k *kit, b *backend, c *nodeClient) {
	g := startGateway(t, k, b, nil)
	f := startFront(t, g.public)
	c.gotoPage(t, f.url(headPagePath))
	c.open(t, "head", f.url(headStreamPath))
	c.records().waitRecord(t, "head", "event", "ready", 1, 15*time.Second)
	head := f.waitHead(t)
	k.keep("chromium-head.http", func() []byte { return head })
	for _, want := range []string{"GET " + headStreamPath + " HTTP/1.1\r\n", "\r\nAccept: text/event-stream\r\n",
		"\r\nReferer: " + f.url(headPagePath) + "\r\n", "\r\nSec-Fetch-Site: same-origin\r\n",
		"\r\nCookie: csrftoken=Xq3LmP9vR2tYw8ZkB4nC6dF1gH7jK0sA; sessionid=k2v9q8x7m3n4b5c6z1l0p9o8i7u6y5t4; "} {
		if !bytes.Contains(head, []byte(want)) {
			t.Errorf("Chromium's EventSource head lacks %q:\n%s", want, head)
		}
	}

	var conn callback
	waitFor(t, "connect callback of the captured stream", 10*time.Second, func() bool {
		for _, x := range b.snapshot() {
			if x.Action == "connect" && x.Request.URL == headStreamPath {
				conn = x
				return true
			}
		}
		return false
	})
	var e gwcallback.Encoder
	want := string(e.AppendRequest(nil, head))
	if got := requestOf(t, conn); got != want {
		t.Errorf("connect request\n got %s\nwant %s (from the head Chromium sent)", got, want)
	}
	c.close(t, "head")
	if got := requestOf(t, b.disconnect(t, conn.Token, 10*time.Second)); got != want {
		t.Errorf("disconnect request\n got %s\nwant %s (from the head Chromium sent)", got, want)
	}

	path := filepath.Join("..", "bench", "heads", heads.ChromiumFile)
	if os.Getenv("SSEGW_UPDATE_HEADS") == "1" {
		if err := os.WriteFile(path, head, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote the %d-byte head Chromium %s sent to %s", len(head), c.version(), path)
		return
	}
	compareWithCommitted(t, head, heads.ChromiumRaw(), c.version())
}

// requestOf is the raw "request" member of a callback's payload.
func requestOf(t *testing.T, c callback) string {
	t.Helper()
	var v struct {
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(c.Raw, &v); err != nil {
		t.Fatalf("payload %s: %v", c.Raw, err)
	}
	return string(v.Request)
}

var loopbackAuthority = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// versionHeaders carry the browser's version; a Chromium update changes
// them and nothing else.
var versionHeaders = map[string]bool{"user-agent": true, "sec-ch-ua": true}

// compareWithCommitted checks that the committed head is what this Chromium
// sends: the same lines in the same order, equal but for the capture's port
// and the version the browser names. A version difference is logged (the
// committed head is still that of a real Chromium); anything else fails,
// with how to refresh the file.
func compareWithCommitted(t *testing.T, got, committed []byte, version string) {
	t.Helper()
	norm := func(b []byte) []string {
		return strings.Split(loopbackAuthority.ReplaceAllString(string(b), "127.0.0.1:PORT"), "\r\n")
	}
	g, w := norm(got), norm(committed)
	refresh := "refresh it with SSEGW_UPDATE_HEADS=1 go test ./clients -run TestChromium/head"
	if len(g) != len(w) {
		t.Fatalf("Chromium %s sends %d lines, bench/heads/%s has %d; %s\nsent:\n%s", version, len(g), heads.ChromiumFile, len(w), refresh, got)
	}
	for i := range g {
		if g[i] == w[i] {
			continue
		}
		name, _, _ := strings.Cut(g[i], ":")
		wname, _, _ := strings.Cut(w[i], ":")
		if name == wname && versionHeaders[strings.ToLower(name)] {
			t.Logf("Chromium %s: %q, the committed head has %q (another version; %s)", version, g[i], w[i], refresh)
			continue
		}
		t.Fatalf("Chromium %s sends line %d as %q, bench/heads/%s has %q; %s", version, i, g[i], heads.ChromiumFile, w[i], refresh)
	}
}

// front is the site's own origin: it serves the page (with its cookies) and
// relays the stream to the gateway, keeping the stream's request head
// exactly as the browser sent it. Keep-alive as a browser expects: the page
// and the stream may share a connection.
type front struct {
	addr    string
	gateway string
	mu      sync.Mutex
	heads   [][]byte
	conns   []net.Conn
	wg      sync.WaitGroup
}

func startFront(t *testing.T, gateway string) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{addr: ln.Addr().String(), gateway: gateway}
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.track(c)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				f.serve(c)
			}()
		}
	}()
	return f
}

func (f *front) url(path string) string { return "http://" + f.addr + path }

func (f *front) track(c net.Conn) {
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
}

// maxFrontHead bounds a request head the front reads.
const maxFrontHead = 64 << 10

const headPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>room 482913</title></head>
<body><h1>room 482913</h1><pre id="log"></pre></body></html>
`

func (f *front) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		head, err := readHead(r)
		if err != nil {
			return
		}
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		switch {
		case bytes.HasPrefix(line, []byte("GET /events?")):
			f.mu.Lock()
			f.heads = append(f.heads, head)
			f.mu.Unlock()
			f.relay(c, r, head)
			return
		case bytes.HasPrefix(line, []byte("GET /app/")):
			var b strings.Builder
			b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n")
			for _, ck := range headPageCookies {
				b.WriteString("Set-Cookie: " + ck + "\r\n")
			}
			fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(headPage), headPage)
			if _, err := io.WriteString(c, b.String()); err != nil {
				return
			}
		default:
			if _, err := io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"); err != nil {
				return
			}
		}
	}
}

// readHead reads one request head, byte for byte.
func readHead(r *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := r.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			return nil, err
		}
		if len(head) > maxFrontHead {
			return nil, fmt.Errorf("request head over %d bytes", maxFrontHead)
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			return head, nil
		}
	}
}

// relay passes the stream to the gateway: the head, then whatever follows,
// both ways, until either side closes.
func (f *front) relay(down net.Conn, r *bufio.Reader, head []byte) {
	up, err := net.Dial("tcp", f.gateway)
	if err != nil {
		return
	}
	f.track(up)
	defer up.Close()
	if _, err := up.Write(head); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, r)
		_ = up.Close()
	}()
	_, _ = io.Copy(down, up)
	_ = down.Close()
	<-done
}

// waitHead waits for the first stream head the front relayed.
func (f *front) waitHead(t *testing.T) []byte {
	t.Helper()
	var h []byte
	waitFor(t, "the EventSource's request at the front", 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.heads) > 0 {
			h = f.heads[0]
			return true
		}
		return false
	})
	return h
}
