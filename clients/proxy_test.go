package clients

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ssegw/internal/testkit"
)

// The proxy test: Debian's nginx with the shipped deploy/nginx/ssegw.conf
// (TLS with a certificate from a CA made here with openssl, HTTP/2) in front
// of two gateway processes, and headless Chromium through it.
const (
	nginxPath   = "/usr/sbin/nginx"
	opensslPath = "/usr/bin/openssl"
	// shippedProxyConf is the config under test, relative to clients/.
	shippedProxyConf = "../deploy/nginx/ssegw.conf"
	// pageStreams is how many EventSources the page opens at once: twice
	// the HTTP/1.1 connections Chromium opens to one host.
	pageStreams = 12
	// http1PerHost is Chromium's limit of HTTP/1.1 connections per host.
	http1PerHost = 6
	// blockedWindow is how long the seventh direct EventSource is watched
	// staying unopened while six hold their connections.
	blockedWindow = 1500 * time.Millisecond
	// drainWindow spreads a stopping gateway's stream ends over half a
	// second, so the test's browsers come back quickly.
	drainWindow = "500"
	// backWait bounds a browser's return after its gateway stopped: the
	// drain's retry hint (at most 5 s), perhaps a shed answer from the
	// gateway still draining (retry at most 10 s), and the reconnect.
	backWait = 40 * time.Second
)

// testCA is a CA made for one test and a server certificate it signed for
// 127.0.0.1 and localhost.
type testCA struct {
	caPEM, chain, key string // file paths: the CA's certificate, the server's certificate + CA, its key
	spki              string // base64 SHA-256 of the CA's public key, for Chromium's --trust-spki
	pool              *x509.CertPool
}

func makeTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	if _, err := os.Stat(opensslPath); err != nil {
		t.Fatalf("%s: %v (Debian's openssl: .ci/install-deps installs it)", opensslPath, err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(opensslPath, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ec := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}
	run(append([]string{"req", "-x509"}, append(ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
		"-subj", "/CN=ssegw proxy test CA", "-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign")...)...)
	run(append([]string{"req"}, append(ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")...)...)
	ext := "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
	if err := os.WriteFile(filepath.Join(dir, "server.ext"), []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "server.pem", "-days", "2", "-extfile", "server.ext")
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	server, _ := os.ReadFile(filepath.Join(dir, "server.pem"))
	ca := &testCA{caPEM: filepath.Join(dir, "ca.pem"), chain: filepath.Join(dir, "chain.pem"), key: filepath.Join(dir, "server.key"),
		pool: x509.NewCertPool()}
	if err := os.WriteFile(ca.chain, append(server, caPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	ca.spki = base64.StdEncoding.EncodeToString(sum[:])
	ca.pool.AddCert(cert)
	return ca
}

// proxy is Debian's nginx running the shipped config.
type proxy struct {
	*testkit.Proc
	dir, https, http string
	client           *http.Client // trusts the test CA, speaks HTTP/2
}

// proxyMain is the test's nginx.conf around the shipped file: its own pid,
// logs and temporary paths, one process (master_process off, so the PID the
// test stops is nginx itself), and an access log naming each request's
// protocol and connection.
const proxyMain = `daemon off;
master_process off;
worker_processes 1;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log info;
events { worker_connections 1024; }
http {
  log_format ssegw_test '$remote_addr $server_protocol conn=$connection "$request" $status upstream=$upstream_addr';
  access_log {{DIR}}/access.log ssegw_test;
  client_body_temp_path {{DIR}}/body;
  proxy_temp_path {{DIR}}/proxy;
  fastcgi_temp_path {{DIR}}/fastcgi;
  uwsgi_temp_path {{DIR}}/uwsgi;
  scgi_temp_path {{DIR}}/scgi;
  include {{DIR}}/ssegw.conf;
}
`

// rewrite replaces old by new exactly once in the shipped config, so a
// config that changed shape fails here instead of being tested half-changed.
func rewrite(t *testing.T, conf, old, new string) string {
	t.Helper()
	if n := strings.Count(conf, old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", shippedProxyConf, old, n)
	}
	return strings.Replace(conf, old, new, 1)
}

// startProxy runs nginx with the shipped config, its listen ports on free
// loopback ports, its upstream servers the given gateways' public ports, its
// certificate the test CA's.
func startProxy(t *testing.T, k *kit, ca *testCA, upstreams ...string) *proxy {
	t.Helper()
	if _, err := os.Stat(nginxPath); err != nil {
		t.Fatalf("%s: %v (Debian's nginx: .ci/install-deps installs it)", nginxPath, err)
	}
	raw, err := os.ReadFile(shippedProxyConf)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{dir: t.TempDir(), https: testkit.FreeAddr(t), http: testkit.FreeAddr(t)}
	conf := string(raw)
	conf = rewrite(t, conf, "    listen 80;\n", "    listen "+p.http+";\n")
	conf = rewrite(t, conf, "    listen [::]:80;\n", "")
	conf = rewrite(t, conf, "    listen 443 ssl http2;\n", "    listen "+p.https+" ssl http2;\n")
	conf = rewrite(t, conf, "    listen [::]:443 ssl http2;\n", "")
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s max_fails=1 fail_timeout=5s;\n", u)
	}
	conf = rewrite(t, conf, "    server 127.0.0.1:3000 max_fails=1 fail_timeout=5s;\n", servers.String())
	conf = rewrite(t, conf, "/etc/ssl/certs/sse.example.com.pem", ca.chain)
	conf = rewrite(t, conf, "/etc/ssl/private/sse.example.com.key", ca.key)
	files := map[string]string{"ssegw.conf": conf, "nginx.conf": strings.ReplaceAll(proxyMain, "{{DIR}}", p.dir)}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"error.log", "access.log", "ssegw.conf"} {
		path := filepath.Join(p.dir, name)
		k.keep("nginx-"+name, func() []byte { b, _ := os.ReadFile(path); return b })
	}
	if out, err := exec.Command(nginxPath, "-t", "-p", p.dir+"/", "-c", filepath.Join(p.dir, "nginx.conf"), "-e", filepath.Join(p.dir, "error.log")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	p.Proc = testkit.StartProc(t, "nginx", nil, nginxPath, "-p", p.dir+"/", "-c", filepath.Join(p.dir, "nginx.conf"), "-e", filepath.Join(p.dir, "error.log"))
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}}
	t.Cleanup(p.client.CloseIdleConnections)
	waitFor(t, "nginx to answer /healthz over TLS", 20*time.Second, func() bool {
		resp, err := p.client.Get("https://" + p.https + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// get fetches a path through the proxy: status, protocol and body.
func (p *proxy) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	resp, err := p.client.Get("https://" + p.https + path)
	if err != nil {
		t.Fatalf("GET %s through nginx: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Proto, string(b)
}

// responses lists Chromium's event-stream responses whose URL has c=<prefix>….
func responses(c *nodeClient, prefix string) []record {
	var out []record
	for _, r := range c.records().all() {
		if r.T == "response" && strings.Contains(r.URL, "c="+prefix) {
			out = append(out, r)
		}
	}
	return out
}

// readyCount counts the EventSources ids[i] that got a ready event.
func readyCount(c *nodeClient, ids []string) int {
	n := 0
	for _, id := range ids {
		if _, ok := c.records().find(id, "event", "ready", 1); ok {
			n++
		}
	}
	return n
}

// TestProxyHTTP2 proves deploy/nginx/ssegw.conf with Debian's nginx in front
// of two gateway processes: one page opens 12 EventSources through it, all
// on one HTTP/2 connection, and each gets ready and a published event; the
// same page straight to a gateway over HTTP/1.1 gets only 6 open at once
// (Chromium's limit per host: why the proxy speaks HTTP/2); the connect
// callback carries X-Forwarded-For and X-Forwarded-Proto; the control API is
// not reachable through it; and SIGTERM to one gateway moves its streams to
// the other, each browser coming back through nginx by itself.
func TestProxyHTTP2(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	ca := makeTestCA(t, t.TempDir())
	// One backend per gateway, so each connect tells which gateway took it.
	ba, bb := startBackend(t, k), startBackend(t, k)
	env := map[string]string{"DRAIN_WINDOW_MS": drainWindow}
	ga, gb := startGateway(t, k, ba, env), startGateway(t, k, bb, env)
	px := startProxy(t, k, ca, ga.public, gb.public)

	if code, proto, body := px.get(t, "/healthz"); code != 200 || proto != "HTTP/2.0" {
		t.Fatalf("GET /healthz through nginx: %d %s %s, want 200 over HTTP/2", code, proto, body)
	}
	for _, path := range []string{"/internal/publish", "/internal/send", "/internal/batch"} {
		if code, _, body := px.get(t, path); code != 404 || !strings.Contains(body, `"NOT_FOUND"`) {
			t.Errorf("GET %s through nginx: %d %s, want 404 NOT_FOUND", path, code, body)
		}
	}

	c := startNode(t, k, "chromium.mjs", ba.pageURL(), "--trust-spki="+ca.spki)
	t.Logf("client: Chromium %s", c.version())
	var viaProxy []string
	for i := range pageStreams {
		id := fmt.Sprintf("p%02d", i)
		viaProxy = append(viaProxy, id)
		c.open(t, id, fmt.Sprintf("https://%s/proxied?c=%s&bind=room", px.https, id))
	}
	waitFor(t, "12 EventSources ready through nginx", 30*time.Second, func() bool { return readyCount(c, viaProxy) == pageStreams })
	// Chromium's network log reaches the driver on another channel than the
	// page's events, so a response record may trail its ready event.
	waitFor(t, "12 event-stream responses in Chromium's network log", 10*time.Second, func() bool {
		return len(responses(c, "p")) >= pageStreams
	})
	rs := responses(c, "p")
	conns := map[string]bool{}
	for _, r := range rs {
		conns[r.Connection] = true
		if r.Protocol != "h2" {
			t.Errorf("%s came over %q, want h2", r.URL, r.Protocol)
		}
	}
	if len(rs) != pageStreams || len(conns) != 1 {
		t.Errorf("%d event-stream responses over %d connections, want %d over one", len(rs), len(conns), pageStreams)
	}
	onA := map[string]bool{}
	for _, id := range viaProxy {
		var cb callback
		if cs := ba.connects(id); len(cs) == 1 {
			cb, onA[id] = cs[0], true
		} else if cs := bb.connects(id); len(cs) == 1 {
			cb = cs[0]
		} else {
			t.Fatalf("%s: %d connects on gateway A, %d on B, want one in all", id, len(ba.connects(id)), len(bb.connects(id)))
		}
		if xff, proto := cb.header("x-forwarded-for"), cb.header("x-forwarded-proto"); xff != "127.0.0.1" || proto != "https" {
			t.Errorf("%s: connect callback x-forwarded-for %q, x-forwarded-proto %q, want 127.0.0.1 and https", id, xff, proto)
		}
	}
	if len(onA) == 0 || len(onA) == pageStreams {
		t.Fatalf("%d of %d streams on gateway A: nginx should spread them over both", len(onA), pageStreams)
	}
	publish := func(g *gateway, data string) int {
		m := g.command(t, "/internal/publish", map[string]any{"channel": "room", "event": map[string]any{"name": "greeting", "data": data}})
		return int(m["connections"].(float64))
	}
	if n := publish(ga, "one") + publish(gb, "one"); n != pageStreams {
		t.Fatalf("publish reached %d streams on the two gateways, want %d", n, pageStreams)
	}
	for _, id := range viaProxy {
		if ev := c.records().waitRecord(t, id, "event", "greeting", 1, 10*time.Second); ev.Data != "one" {
			t.Fatalf("%s got %q", id, ev.Data)
		}
	}

	t.Run("http1.1-direct", func(t *testing.T) {
		// The same page straight to gateway A: Chromium opens 6 HTTP/1.1
		// connections to one host, and an EventSource holds its own, so the
		// seventh waits until one of the six closes.
		var direct []string
		for i := range pageStreams {
			id := fmt.Sprintf("d%02d", i)
			direct = append(direct, id)
			c.open(t, id, ga.url(fmt.Sprintf("/direct?c=%s", id)))
		}
		waitFor(t, "6 direct EventSources ready", 20*time.Second, func() bool { return readyCount(c, direct) == http1PerHost })
		holdsFor(t, "only 6 direct EventSources open", blockedWindow, func() bool { return readyCount(c, direct) == http1PerHost })
		waitFor(t, "6 direct responses in Chromium's network log", 10*time.Second, func() bool {
			return len(responses(c, "d")) >= http1PerHost
		})
		conns := map[string]bool{}
		for _, r := range responses(c, "d") {
			conns[r.Connection] = true
			if r.Protocol != "http/1.1" {
				t.Errorf("%s came over %q, want http/1.1", r.URL, r.Protocol)
			}
		}
		if len(conns) != http1PerHost {
			t.Errorf("direct streams over %d connections, want %d", len(conns), http1PerHost)
		}
		var open []string
		requested := 0 // what reached the gateway: the waiting six were never sent
		for _, id := range direct {
			if _, ok := c.records().find(id, "event", "ready", 1); ok {
				open = append(open, id)
			}
			requested += len(ba.connects(id))
			if cs := ba.connects(id); len(cs) > 0 && cs[0].header("x-forwarded-for") != "" {
				t.Errorf("%s: x-forwarded-for %q on a direct stream", id, cs[0].header("x-forwarded-for"))
			}
		}
		if requested != http1PerHost {
			t.Errorf("gateway A got %d direct connects, want %d", requested, http1PerHost)
		}
		c.close(t, open[0])
		waitFor(t, "a seventh direct EventSource to open once one closed", 20*time.Second, func() bool {
			return readyCount(c, direct) == http1PerHost+1
		})
		for _, id := range direct {
			c.close(t, id)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("sigterm-moves-streams", func(t *testing.T) {
		// SIGTERM drains gateway A: each of its streams gets a retry hint and
		// its end; Chromium reconnects through nginx, which now reaches only B.
		_ = ga.cmd.Process.Signal(syscall.SIGTERM)
		for id := range onA {
			c.records().waitRecord(t, id, "event", "ready", 2, backWait)
		}
		select {
		case <-ga.exited:
		case <-time.After(backWait):
			t.Fatal("gateway A did not exit after SIGTERM")
		}
		if code := ga.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("gateway A exited %d after its drain, want 0", code)
		}
		for id := range onA {
			if cs := bb.connects(id); len(cs) != 1 || cs[0].header("x-forwarded-for") != "127.0.0.1" {
				t.Errorf("%s: %d connects on gateway B after the move, want one through nginx", id, len(cs))
			}
			for _, d := range ba.snapshot() {
				if d.Action == "disconnect" && d.Token == ba.connects(id)[0].Token && d.Reason != "server_closed" {
					t.Errorf("%s: disconnect reason %q on A, want server_closed", id, d.Reason)
				}
			}
		}
		if n := publish(gb, "two"); n != pageStreams {
			t.Fatalf("after the move gateway B holds %d streams, want %d", n, pageStreams)
		}
		for _, id := range viaProxy {
			if ev := c.records().waitRecord(t, id, "event", "greeting", 2, 10*time.Second); ev.Data != "two" {
				t.Fatalf("%s got %q", id, ev.Data)
			}
		}
		t.Logf("moved from A to B through nginx: %v", slices.Sorted(maps.Keys(onA)))
	})
}
