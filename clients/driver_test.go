package clients

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// record is one thing a client saw (see clients/node/common.mjs).
type record struct {
	T           string `json:"t"`
	ES          string `json:"es,omitempty"`
	Type        string `json:"type,omitempty"`
	Data        string `json:"data"`
	LastEventID string `json:"lastEventId"`
	ReadyState  *int   `json:"readyState,omitempty"`
	Message     string `json:"message,omitempty"`
	Client      string `json:"client,omitempty"`
	Version     string `json:"version,omitempty"`
	Cmd         string `json:"cmd,omitempty"`
	ID          string `json:"id,omitempty"`
	UserAgent   string `json:"userAgent,omitempty"`
	Node        string `json:"node,omitempty"`
	// Chromium's "response" records: an event-stream response's URL, HTTP
	// version ("h2", "http/1.1") and the connection that carried it.
	URL        string `json:"url,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Connection string `json:"connection,omitempty"`
	// At is when the Go test read the record.
	At time.Time `json:"at"`
}

// recorder collects a client's records in arrival order.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (r *recorder) add(rec record) {
	rec.At = time.Now()
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.recs...)
}

func (r *recorder) json() []byte {
	var b strings.Builder
	for _, rec := range r.all() {
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// events lists the events one EventSource saw, in order.
func (r *recorder) events(es string) []record {
	var out []record
	for _, rec := range r.all() {
		if rec.T == "event" && rec.ES == es {
			out = append(out, rec)
		}
	}
	return out
}

// find returns the n-th (1-based) record of an EventSource matching t and,
// for events, the event type.
func (r *recorder) find(es, t, typ string, n int) (record, bool) {
	k := 0
	for _, rec := range r.all() {
		if rec.ES == es && rec.T == t && (typ == "" || rec.Type == typ) {
			if k++; k == n {
				return rec, true
			}
		}
	}
	return record{}, false
}

// waitRecord waits for the n-th record of a kind on one EventSource.
func (r *recorder) waitRecord(t *testing.T, es, kind, typ string, n int, d time.Duration) record {
	t.Helper()
	var rec record
	waitFor(t, fmt.Sprintf("%s #%d %q on EventSource %q", kind, n, typ, es), d, func() bool {
		var ok bool
		rec, ok = r.find(es, kind, typ, n)
		return ok
	})
	return rec
}

// sseClient is one real client implementation under test.
type sseClient interface {
	name() string
	version() string
	// open starts an EventSource tagged id on url; when an event whose type
	// is in closeOn arrives, the client closes it (as an application would).
	open(t *testing.T, id, url string, closeOn ...string)
	close(t *testing.T, id string)
	records() *recorder
}

// ---- Node.js drivers (Chromium through playwright-core, eventsource) -------

// nodeClient runs one clients/node/*.mjs driver.
type nodeClient struct {
	script string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex // serialises commands
	rec    *recorder
	stderr *lockedBuf
	exited chan struct{}
	start  record
}

// nodeDir is where the drivers and their node_modules live.
func nodeDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (Node.js >= 20 is needed to drive the clients): %v", err)
	}
	for _, pkg := range []string{"eventsource", "playwright-core"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("npm package %s is missing in %s/node_modules: run `npm ci` there (.ci/install-deps or `make test` does it)", pkg, dir)
		}
	}
	return dir
}

// startNode starts a driver and waits for its "started" record.
func startNode(t *testing.T, k *kit, script string, args ...string) *nodeClient {
	t.Helper()
	dir := nodeDir(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = dir
	c := &nodeClient{script: script, cmd: cmd, rec: &recorder{}, stderr: &lockedBuf{}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node %s: %v", script, err)
	}
	base := strings.TrimSuffix(script, ".mjs")
	k.keep(base+"-records.jsonl", c.rec.json)
	k.keep(base+"-stderr.log", c.stderr.Bytes)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var rec record
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				fmt.Fprintf(c.stderr, "stdout (not JSON): %s\n", sc.Text())
				continue
			}
			c.rec.add(rec)
		}
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() && script == "chromium.mjs" && c.start.T == "started" {
			c.screenshot(t, k.path("chromium-page.png"))
		}
		c.mu.Lock()
		_, _ = io.WriteString(c.stdin, `{"cmd":"exit"}`+"\n")
		_ = c.stdin.Close()
		c.mu.Unlock()
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	deadline := time.After(90 * time.Second)
	for exited := false; ; {
		for _, rec := range c.rec.all() {
			switch rec.T {
			case "started":
				c.start = rec
				return c
			case "fatal":
				t.Fatalf("%s: %s\nstderr:\n%s\n(Chromium comes from Debian: `apt-get install -y chromium chromium-driver`, as .ci/install-deps does)",
					script, rec.Message, c.stderr.Bytes())
			}
		}
		if exited { // every record it printed has been read
			t.Fatalf("node %s exited before starting: %v\nstderr:\n%s", script, cmd.ProcessState, c.stderr.Bytes())
		}
		select {
		case <-c.exited:
			exited = true
		case <-deadline:
			t.Fatalf("node %s did not start within 90s\nstderr:\n%s", script, c.stderr.Bytes())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *nodeClient) name() string       { return c.start.Client }
func (c *nodeClient) version() string    { return c.start.Version }
func (c *nodeClient) records() *recorder { return c.rec }

// do sends one command and waits for its ack.
func (c *nodeClient) do(t *testing.T, cmd map[string]any) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	line, _ := json.Marshal(cmd)
	acks := 0
	for _, rec := range c.rec.all() {
		if rec.T == "ack" || rec.T == "cmd_error" {
			acks++
		}
	}
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("%s: writing command %s: %v", c.script, line, err)
	}
	var got record
	waitFor(t, fmt.Sprintf("%s to run %s", c.script, line), 30*time.Second, func() bool {
		n := 0
		for _, rec := range c.rec.all() {
			if rec.T == "ack" || rec.T == "cmd_error" {
				if n++; n > acks {
					got = rec
					return true
				}
			}
		}
		return false
	})
	if got.T == "cmd_error" {
		t.Fatalf("%s: command %s failed: %s", c.script, line, got.Message)
	}
}

func (c *nodeClient) open(t *testing.T, id, url string, closeOn ...string) {
	t.Helper()
	c.do(t, map[string]any{"cmd": "open", "id": id, "url": url, "closeOn": closeOn})
}

// gotoPage loads another page in the browser (Chromium's driver only).
func (c *nodeClient) gotoPage(t *testing.T, url string) {
	t.Helper()
	c.do(t, map[string]any{"cmd": "goto", "url": url})
}

func (c *nodeClient) close(t *testing.T, id string) {
	t.Helper()
	c.do(t, map[string]any{"cmd": "close", "id": id})
}

// screenshot saves the page (best effort: it runs while a test is failing).
func (c *nodeClient) screenshot(t *testing.T, path string) {
	line, _ := json.Marshal(map[string]any{"cmd": "screenshot", "path": path})
	c.mu.Lock()
	_, err := c.stdin.Write(append(line, '\n'))
	c.mu.Unlock()
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			time.Sleep(100 * time.Millisecond) // let the write finish
			return
		}
		select {
		case <-c.exited:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Logf("screenshot %s not written within 15s", path)
}

// ---- Go: github.com/tmaxmax/go-sse -----------------------------------------

const goSSEVersion = "v0.12.0"

// goSSEClient runs go-sse connections in the test process. Its records have
// the same shape as the Node drivers': every event (an unnamed one as
// "message"), and an "error" (readyState 0) each time it schedules a retry.
type goSSEClient struct {
	rec     *recorder
	mu      sync.Mutex
	cancels map[string]context.CancelFunc
	wg      sync.WaitGroup
}

func newGoSSE(t *testing.T, k *kit) *goSSEClient {
	c := &goSSEClient{rec: &recorder{}, cancels: map[string]context.CancelFunc{}}
	k.keep("go-sse-records.jsonl", c.rec.json)
	t.Cleanup(func() {
		c.mu.Lock()
		for _, cancel := range c.cancels {
			cancel()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

func (c *goSSEClient) name() string       { return "github.com/tmaxmax/go-sse" }
func (c *goSSEClient) version() string    { return goSSEVersion }
func (c *goSSEClient) records() *recorder { return c.rec }

func (c *goSSEClient) open(t *testing.T, id, url string, closeOn ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	client := &sse.Client{
		HTTPClient: &http.Client{},
		// A long default, so a reconnect within it proves retry: was honoured.
		Backoff: sse.Backoff{InitialInterval: 10 * time.Second},
		OnRetry: func(err error, next time.Duration) {
			c.rec.add(record{T: "error", ES: id, ReadyState: &zero, Message: fmt.Sprintf("%v; retry in %v", err, next)})
		},
	}
	conn := client.NewConnection(req)
	conn.SubscribeToAll(func(e sse.Event) {
		typ := e.Type
		if typ == "" {
			typ = "message"
		}
		c.rec.add(record{T: "event", ES: id, Type: typ, Data: e.Data, LastEventID: e.LastEventID})
		if slices.Contains(closeOn, typ) {
			cancel()
		}
	})
	c.mu.Lock()
	c.cancels[id] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := conn.Connect()
		c.rec.add(record{T: "ended", ES: id, Message: fmt.Sprint(err)})
	}()
}

func (c *goSSEClient) close(t *testing.T, id string) {
	c.mu.Lock()
	cancel := c.cancels[id]
	c.mu.Unlock()
	if cancel == nil {
		t.Fatalf("go-sse: no connection %q", id)
	}
	cancel()
}
