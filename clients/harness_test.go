package clients

import (
	"ssegw/internal/testkit"

	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ---- waiting ---------------------------------------------------------------

// waitFor polls cond until it holds; past d the test fails, naming what it
// waited for.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, d, cond)
}

// holdsFor checks that cond stays true for the whole window d (a bounded
// observation, for "nothing more happens" checks), failing at the first
// moment it does not.
func holdsFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !cond() {
			t.Fatalf("%s stopped holding within the %v window", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !cond() {
		t.Fatalf("%s stopped holding within the %v window", what, d)
	}
}

// ---- artifacts -------------------------------------------------------------

// kit keeps what a test leaves behind when it fails: each registered producer
// is written to clients/artifacts/<test>/<name> and the path is printed.
type kit struct {
	t     *testing.T
	mu    sync.Mutex
	dir   string
	items []artifact
}

type artifact struct {
	name string
	data func() []byte
}

func newKit(t *testing.T) *kit {
	k := &kit{t: t}
	t.Cleanup(func() { // registered first, so it runs after every other cleanup
		if !t.Failed() {
			return
		}
		k.mu.Lock()
		items := append([]artifact(nil), k.items...)
		k.mu.Unlock()
		for _, a := range items {
			if err := os.WriteFile(k.path(a.name), a.data(), 0o644); err != nil {
				t.Logf("artifact %s: %v", a.name, err)
			}
		}
		t.Logf("artifacts of the failed test kept in %s", k.artifactDir())
	})
	return k
}

func (k *kit) keep(name string, data func() []byte) {
	k.mu.Lock()
	k.items = append(k.items, artifact{name, data})
	k.mu.Unlock()
}

// artifactDir makes (once) the test's artifact directory.
func (k *kit) artifactDir() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dir == "" {
		name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(k.t.Name(), "_")
		dir, err := filepath.Abs(filepath.Join("artifacts", name))
		if err == nil {
			_ = os.RemoveAll(dir)
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			k.t.Logf("artifact dir: %v", err)
			dir = os.TempDir()
		}
		k.dir = dir
	}
	return k.dir
}

func (k *kit) path(name string) string { return filepath.Join(k.artifactDir(), name) }

// lockedBuf is a goroutine-safe log buffer.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// ---- the real gateway ------------------------------------------------------

func TestMain(m *testing.M) {
	code := m.Run()
	testkit.Cleanup()
	os.Exit(code)
}

// gatewayBinary builds cmd/ssegw once per test run.
func gatewayBinary(t *testing.T) string { return testkit.GatewayBinary(t) }

// gateway is the real binary running as a child process.
type gateway struct {
	public, control string
	cmd             *exec.Cmd
	log             *lockedBuf
	exited          chan struct{}
}

var listenLine = regexp.MustCompile(`msg=listening public=(\S+) control=(\S+)`)

// startGateway runs the binary on loopback with test settings (heartbeat 1 s)
// plus env, and waits for its "listening" line.
func startGateway(t *testing.T, k *kit, b *backend, env map[string]string) *gateway {
	t.Helper()
	settings := map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0", "CALLBACK_URL": b.callbackURL(),
		"HEARTBEAT_INTERVAL_SECONDS": "1", "EVENT_LOOPS": "2", "SHUTDOWN_TIMEOUT_SECONDS": "5", "LOG_LEVEL": "debug",
	}
	for key, v := range env {
		settings[key] = v
	}
	cmd := exec.Command(gatewayBinary(t))
	cmd.Env = os.Environ()
	for key, v := range settings {
		cmd.Env = append(cmd.Env, key+"="+v)
	}
	g := &gateway{cmd: cmd, log: &lockedBuf{}, exited: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.keep(fmt.Sprintf("gateway-%d.log", cmd.Process.Pid), g.log.Bytes)
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(g.log, line)
			if m := listenLine.FindStringSubmatch(line); m != nil {
				select {
				case addrs <- m[1:]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-g.exited
			t.Errorf("gateway did not exit within 10s of SIGTERM")
		}
	})
	select {
	case a := <-addrs:
		g.public, g.control = a[0], a[1]
	case <-g.exited:
		t.Fatalf("gateway exited at start:\n%s", g.log.Bytes())
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway did not start within 20s:\n%s", g.log.Bytes())
	}
	return g
}

// url is the public URL of a path on the gateway.
func (g *gateway) url(path string) string { return "http://" + g.public + path }

// command POSTs a JSON command to the control port and decodes the answer.
func (g *gateway) command(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+g.control+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("control %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(out, &m) != nil {
		t.Fatalf("control %s %s: %d %s", path, raw, resp.StatusCode, out)
	}
	return m
}

// send delivers one event to a token (and with close, ends the stream after it).
func (g *gateway) send(t *testing.T, token string, ev map[string]any, close bool) {
	t.Helper()
	body := map[string]any{"token": token}
	if ev != nil {
		body["event"] = ev
	}
	if close {
		body["close"] = true
	}
	if st := g.command(t, "/internal/send", body)["status"]; st != "ok" {
		t.Fatalf("send to %s: status %v", token, st)
	}
}

// metric reads one sample of the gateway's /metrics (0 if absent).
func (g *gateway) metric(t *testing.T, name string) float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + g.control + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, v)
			}
			return f
		}
	}
	return 0
}

// ---- the real backend ------------------------------------------------------

// callback is one callback the backend received.
type callback struct {
	Action  string `json:"action"`
	Reason  string `json:"reason,omitempty"`
	Token   string `json:"token"`
	Request struct {
		URL     string         `json:"url"`
		Headers map[string]any `json:"headers"`
	} `json:"request"`
	At time.Time `json:"at"`
	// Failed is set when the backend answered 503 because of an outage (setOutage).
	Failed bool `json:"failed,omitempty"`
	// Raw is the payload as received.
	Raw []byte `json:"-"`
}

func (c callback) header(name string) string {
	s, _ := c.Request.Headers[name].(string)
	return s
}

// query reads a parameter of the stream's request URL.
func (c callback) query(key string) string {
	u, err := url.Parse(c.Request.URL)
	if err != nil {
		return ""
	}
	return u.Query().Get(key)
}

// backend answers the gateway's callbacks and serves the test page. What it
// answers to a connect is read from the stream URL's query: reject=<status>
// answers that status (with the reason phrases below), bind=<channel> binds
// the stream to a channel; anything else is accepted.
type backend struct {
	ln     net.Listener
	srv    *http.Server
	mu     sync.Mutex
	calls  []callback
	outage atomic.Bool // while set, every connect is answered 503 (a backend restart)
}

// setOutage starts or ends a backend outage: connects get 503 meanwhile.
func (b *backend) setOutage(on bool) { b.outage.Store(on) }

var rejectPhrase = map[string]string{"400": "Bad Request", "401": "Token Expired", "403": "Forbidden"}

func startBackend(t *testing.T, k *kit) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cb", b.callback)
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, testPage)
	})
	b.srv = &http.Server{Handler: mux}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	k.keep("callbacks.json", func() []byte {
		out, _ := json.MarshalIndent(b.snapshot(), "", "  ")
		return out
	})
	return b
}

const testPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>ssegw client test</title></head>
<body><h1>ssegw client test</h1><p>Records reported by each EventSource on this page:</p>
<pre id="log" style="font-size:11px;white-space:pre-wrap"></pre></body></html>
`

func (b *backend) origin() string      { return "http://" + b.ln.Addr().String() }
func (b *backend) callbackURL() string { return b.origin() + "/cb" }
func (b *backend) pageURL() string     { return b.origin() + "/page" }

func (b *backend) callback(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var rec callback
	if err := json.Unmarshal(raw, &rec); err != nil {
		http.Error(w, "bad json", 500)
		return
	}
	rec.At, rec.Raw = time.Now(), raw
	rec.Failed = rec.Action == "connect" && b.outage.Load()
	b.mu.Lock()
	b.calls = append(b.calls, rec)
	b.mu.Unlock()
	status, phrase, body := "200", "OK", `{"status":"ok"}`
	if rec.Failed {
		status, phrase, body = "503", "Service Unavailable", `{"error":"restarting"}`
	} else if rec.Action == "connect" {
		if s := rec.query("reject"); s != "" {
			status, phrase, body = s, rejectPhrase[s], `{"error":"no"}`
		} else if ch := rec.query("bind"); ch != "" {
			body = fmt.Sprintf(`{"bindings":[%q]}`, ch)
		}
	}
	// Hijack to write the exact status line (net/http has no custom phrases).
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %s %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, phrase, len(body), body)
	_ = buf.Flush()
}

func (b *backend) snapshot() []callback {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]callback(nil), b.calls...)
}

// connects lists the connect callbacks whose stream URL has c=<tag>.
func (b *backend) connects(tag string) []callback {
	var out []callback
	for _, c := range b.snapshot() {
		if c.Action == "connect" && c.query("c") == tag {
			out = append(out, c)
		}
	}
	return out
}

// nthConnect waits for the n-th (1-based) connect callback of a tag.
func (b *backend) nthConnect(t *testing.T, tag string, n int, d time.Duration) callback {
	t.Helper()
	var c callback
	waitFor(t, fmt.Sprintf("connect callback #%d for c=%s", n, tag), d, func() bool {
		cs := b.connects(tag)
		if len(cs) >= n {
			c = cs[n-1]
			return true
		}
		return false
	})
	return c
}

// disconnect waits for the disconnect callback of a token.
func (b *backend) disconnect(t *testing.T, token string, d time.Duration) callback {
	t.Helper()
	var c callback
	waitFor(t, "disconnect callback for "+token, d, func() bool {
		for _, x := range b.snapshot() {
			if x.Action == "disconnect" && x.Token == token {
				c = x
				return true
			}
		}
		return false
	})
	return c
}

// ---- a request tap -----------------------------------------------------------

// tap is a TCP relay in front of the gateway that notes the request line
// ("METHOD target") of every request a client sends through it, to see what
// a browser sends that its page cannot (a CORS preflight).
type tap struct {
	addr string
	mu   sync.Mutex
	reqs []string
}

var requestLine = regexp.MustCompile(`^([A-Z]+) (\S+) HTTP/1\.[01]\r?$`)

func startTap(t *testing.T, target string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		connsMu.Lock()
		conns = append(conns, c)
		connsMu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			track(down)
			track(up)
			wg.Add(2)
			go func() { // client -> gateway, noting request lines
				defer wg.Done()
				defer up.Close()
				r := bufio.NewReader(io.TeeReader(down, up))
				for {
					line, err := r.ReadString('\n')
					if m := requestLine.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
						tp.mu.Lock()
						tp.reqs = append(tp.reqs, m[1]+" "+m[2])
						tp.mu.Unlock()
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // gateway -> client
				defer wg.Done()
				defer down.Close()
				_, _ = io.Copy(down, up)
			}()
		}
	}()
	return tp
}

func (tp *tap) requests() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.reqs...)
}
