package gateway_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// streamLine is one line of /internal/streams.
type streamLine struct {
	Token    string   `json:"token"`
	URL      string   `json:"url"`
	State    string   `json:"state"`
	Bindings []string `json:"bindings"`
	OpenedAt string   `json:"opened_at"`
	Missing  []int    `json:"missing"`
}

// listStreams GETs /internal/streams?query and parses every NDJSON line.
func listStreams(t *testing.T, control, query string) (int, string, []streamLine) {
	t.Helper()
	resp, err := http.Get("http://" + control + "/internal/streams?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []streamLine
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var raw strings.Builder
	for sc.Scan() {
		raw.WriteString(sc.Text() + "\n")
		if resp.StatusCode != 200 {
			continue
		}
		var l streamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, raw.String(), lines
}

func getJSON(t *testing.T, control, path string, v any) int {
	t.Helper()
	resp, err := http.Get("http://" + control + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode
}

type channelsAnswer struct {
	Channels []struct {
		Name    string `json:"name"`
		Streams int    `json:"streams"`
	} `json:"channels"`
	Missing []int `json:"missing"`
}

// TestWhoIsConnected: /internal/streams lists every live stream once —
// pending ones (connect callback in flight) and ready ones with their
// bindings, URL as received and opening time — and nothing that ended;
// ?channel= keeps the streams bound to it; /internal/channels counts them,
// most streams first, within ?limit=; bad parameters are refused.
func TestWhoIsConnected(t *testing.T) {
	b := startBackend(t)
	gate := make(chan struct{})
	b.onConnect(func(rec callbackRec) reply {
		u, _ := url.Parse(rec.Request.URL)
		if u.Query().Get("hold") != "" {
			return reply{statusLine: "200 OK", body: `{}`, gate: gate}
		}
		chs := []string{}
		if v := u.Query().Get("ch"); v != "" {
			chs = strings.Split(v, ",")
		}
		body, _ := json.Marshal(map[string]any{"bindings": chs})
		return reply{statusLine: "200 OK", body: string(body)}
	})
	defer close(gate)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	before := time.Now().Add(-time.Second)
	urls := []string{"/a?ch=red,blue", "/b?ch=red", "/c?ch=red", "/d%20x?ch=blue", "/e"}
	for i, u := range urls {
		openStream(t, g, b, i+1, u)
	}
	gone, goneTok := openStream(t, g, b, len(urls)+1, "/gone?ch=red")
	gone.conn.Close()
	waitFor(t, "the closed stream's disconnect", 5*time.Second, func() bool { return len(b.byToken(goneTok)) == 2 })
	pend := dial(t, g.PublicAddr())
	pend.get("/p?hold=1")
	waitFor(t, "the pending connect", 5*time.Second, func() bool { return b.count("connect") == len(urls)+2 })

	code, raw, lines := listStreams(t, g.ControlAddr(), "")
	if code != 200 || len(lines) != len(urls)+1 {
		t.Fatalf("streams: %d\n%s", code, raw)
	}
	byURL := map[string]streamLine{}
	tokens := map[string]bool{}
	for _, l := range lines {
		byURL[l.URL] = l
		if tokens[l.Token] {
			t.Fatalf("token %s listed twice", l.Token)
		}
		tokens[l.Token] = true
		at, err := time.Parse(time.RFC3339, l.OpenedAt)
		if err != nil || at.Before(before) || at.After(time.Now()) {
			t.Fatalf("opened_at %q: %v", l.OpenedAt, err)
		}
	}
	if tokens[goneTok] {
		t.Fatal("an ended stream is listed")
	}
	for i, u := range urls {
		l, ok := byURL[u]
		if !ok || l.State != "ready" || l.Token != b.nthConnect(t, i+1).Token {
			t.Fatalf("%s: %+v", u, l)
		}
	}
	if l := byURL["/a?ch=red,blue"]; !slices.Equal(l.Bindings, []string{"red", "blue"}) {
		t.Fatalf("bindings %v", l.Bindings)
	}
	if l := byURL["/e"]; len(l.Bindings) != 0 {
		t.Fatalf("unbound stream's bindings %v", l.Bindings)
	}
	if l := byURL["/p?hold=1"]; l.State != "pending" || len(l.Bindings) != 0 {
		t.Fatalf("pending stream: %+v", l)
	}

	_, _, red := listStreams(t, g.ControlAddr(), "channel=red")
	var got []string
	for _, l := range red {
		got = append(got, l.URL)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"/a?ch=red,blue", "/b?ch=red", "/c?ch=red"}) {
		t.Fatalf("channel=red: %v", got)
	}
	if _, raw, l := listStreams(t, g.ControlAddr(), "channel=nobody"); len(l) != 0 {
		t.Fatalf("unknown channel: %s", raw)
	}

	var ch channelsAnswer
	if code := getJSON(t, g.ControlAddr(), "/internal/channels", &ch); code != 200 || len(ch.Channels) != 2 ||
		ch.Channels[0].Name != "red" || ch.Channels[0].Streams != 3 || ch.Channels[1].Name != "blue" || ch.Channels[1].Streams != 2 {
		t.Fatalf("channels: %d %+v", code, ch)
	}
	ch = channelsAnswer{}
	if getJSON(t, g.ControlAddr(), "/internal/channels?limit=1", &ch); len(ch.Channels) != 1 || ch.Channels[0].Name != "red" {
		t.Fatalf("limit=1: %+v", ch)
	}
	for _, bad := range []string{"/internal/channels?limit=0", "/internal/channels?limit=x", "/internal/channels?scope=world",
		"/internal/streams?scope=world", "/internal/streams?scope=cluster", "/internal/channels?scope=cluster"} {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if code := getJSON(t, g.ControlAddr(), bad, &e); code != 400 || (e.Error.Code != "INVALID_LIMIT" && e.Error.Code != "INVALID_SCOPE") {
			t.Fatalf("%s: %d %+v", bad, code, e)
		}
	}
	if code, _ := controlReq(t, g.ControlAddr(), "/internal/streams", "", ""); code != 405 {
		t.Fatalf("POST /internal/streams: %d", code)
	}
}
