package gateway_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHTTPSCallbacks: an https CALLBACK_URL is verified against the roots
// the process trusts (SSL_CERT_FILE here names the test server's
// certificate, as an operator would name a private CA) and carries the
// callbacks, one at a time and pipelined; a backend whose certificate is not
// trusted gets none, and the browser is answered as for an unreachable
// backend.
func TestHTTPSCallbacks(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{} // action -> callbacks received
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb callbackRec
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &cb); err != nil {
			t.Errorf("callback %q: %v", raw, err)
		}
		mu.Lock()
		got[cb.Action]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"bindings":["tls"]}`)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func(action string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[action]
	}
	for _, pipeline := range []string{"1", "8"} {
		t.Run("pipeline="+pipeline, func(t *testing.T) {
			c0, d0 := count("connect"), count("disconnect")
			g := startChild(t, 0, map[string]string{"CALLBACK_URL": srv.URL + "/cb", "SSL_CERT_FILE": ca,
				"CALLBACK_CONCURRENCY": "2", "CALLBACK_PIPELINE": pipeline})
			const n = 40
			streams := openReady(t, g.public, "/tls/", n, 10*time.Second)
			resp, err := http.Post("http://"+g.control+"/internal/publish", "application/json",
				strings.NewReader(`{"channel":"tls","event":{"data":"over tls"}}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf(`{"status":"ok","connections":%d}`, n); string(body) != want {
				t.Fatalf("publish: %s, want %s", body, want)
			}
			for _, s := range streams {
				if ev := nextEvent(t, s); ev != "data: over tls\n\n" {
					t.Fatalf("got %q", ev)
				}
				s.conn.Close()
			}
			waitFor(t, "the disconnects", 10*time.Second, func() bool { return count("disconnect")-d0 == n })
			if c := count("connect") - c0; c != n {
				t.Fatalf("%d connects for %d streams", c, n)
			}
		})
	}

	t.Run("untrusted", func(t *testing.T) {
		c0 := count("connect")
		g := startChild(t, 0, map[string]string{"CALLBACK_URL": srv.URL + "/cb", "CONNECT_FAILURE": "status"})
		c := dial(t, g.public)
		c.get("/tls/untrusted")
		if h := c.head(); !strings.HasPrefix(h, "HTTP/1.1 503 ") {
			t.Fatalf("through a backend whose certificate is not trusted: %q, want 503 (BACKEND_UNAVAILABLE)", h)
		}
		if c := count("connect") - c0; c != 0 {
			t.Fatalf("an untrusted backend got %d connects", c)
		}
		waitFor(t, "the log to say why (the certificate)", 5*time.Second, func() bool {
			return strings.Contains(g.logText(), "certificate")
		})
	})
}
