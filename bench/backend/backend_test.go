package backend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestConnectRejectDisconnect(t *testing.T) {
	s, err := New(Config{RejectRatio: 0.25, RejectReason: "Nope Token", Bindings: []string{"a", "b"},
		Latency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var accepted []string
	for i := 0; i < 8; i++ {
		tok := fmt.Sprintf("tok-%d", i)
		resp, body := post(t, srv.URL+"/cb?x=1", fmt.Sprintf(`{"action":"connect","token":%q,"request":{}}`, tok))
		switch resp.StatusCode {
		case 200:
			var got struct{ Bindings []string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Bindings) != 2 {
				t.Fatalf("body %q", body)
			}
			accepted = append(accepted, tok)
		case 401:
			if resp.Status != "401 Nope Token" {
				t.Fatalf("status line %q", resp.Status)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if len(accepted) != 6 {
		t.Fatalf("accepted %d of 8 at ratio 0.25", len(accepted))
	}
	for _, tok := range accepted {
		post(t, srv.URL, fmt.Sprintf(`{"action":"disconnect","reason":"client_closed","token":%q}`, tok))
	}
	post(t, srv.URL, fmt.Sprintf(`{"action":"disconnect","reason":"error","token":%q}`, accepted[0]))
	post(t, srv.URL, `{"action":"disconnect","reason":"error","token":"never"}`)
	post(t, srv.URL, `{"action":"bogus","token":"x"}`)

	resp, err := http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Connects != 8 || st.Accepted != 6 || st.Rejected != 2 || st.Open != 0 || st.Disconnects != 8 ||
		st.ByReason["client_closed"] != 6 || st.ByReason["error"] != 2 || st.DuplicateDisc != 1 ||
		st.UnknownDisc != 1 || st.BadCallbacks != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRejectSpread(t *testing.T) {
	n := 0
	for i := int64(1); i <= 1000; i++ {
		if rejectNext(i, 0.1) {
			n++
		}
	}
	if n != 100 {
		t.Fatalf("rejected %d of 1000 at 0.1", n)
	}
	if _, err := New(Config{RejectReason: "a\nb"}); err != ErrBadReason {
		t.Fatalf("want ErrBadReason, got %v", err)
	}
}

func TestOpenTokens(t *testing.T) {
	s, err := New(Config{RejectRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for i := 0; i < 4; i++ {
		post(t, srv.URL+"/cb", fmt.Sprintf(`{"action":"connect","token":"t%d"}`, i))
	}
	post(t, srv.URL+"/cb", `{"action":"disconnect","token":"t2","reason":"client_closed"}`)
	resp, err := http.Get(srv.URL + "/tokens")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var toks []string
	if err := json.NewDecoder(resp.Body).Decode(&toks); err != nil {
		t.Fatal(err)
	}
	// t1 and t3 rejected (floor(n/2) grows at n=2 and 4), t2 disconnected.
	if len(toks) != 1 || toks[0] != "t0" {
		t.Fatalf("open tokens %v", toks)
	}
}

func TestPutLatency(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for body, want := range map[string]int{"5ms": http.StatusNoContent, "x": http.StatusBadRequest, "1h": http.StatusBadRequest} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/latency", bytes.NewBufferString(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("PUT %q: %d want %d", body, resp.StatusCode, want)
		}
	}
	if got := s.Stats().ConnectLatency; got != "5ms" {
		t.Fatalf("latency %s", got)
	}
}

func TestRequestIDs(t *testing.T) {
	for _, on := range []bool{false, true} {
		s, err := New(Config{Bindings: []string{"bench"}, RequestIDs: on})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		ids := map[string]bool{}
		for i := 0; i < 3; i++ {
			tok := fmt.Sprintf("tok-%d", i)
			resp, body := post(t, srv.URL+"/cb", fmt.Sprintf(`{"action":"connect","token":%q,"request":{}}`, tok))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var got struct {
				Bindings  []string
				RequestID *string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Bindings) != 1 || got.Bindings[0] != "bench" {
				t.Fatalf("body %q", body)
			}
			switch {
			case !on && got.RequestID != nil:
				t.Fatalf("request_id without RequestIDs: %q", body)
			case on && (got.RequestID == nil || *got.RequestID != tok):
				t.Fatalf("want request_id %q: %q", tok, body)
			case on:
				ids[*got.RequestID] = true
			}
		}
		srv.Close()
		if on && len(ids) != 3 {
			t.Fatalf("request ids not unique: %v", ids)
		}
	}
}
