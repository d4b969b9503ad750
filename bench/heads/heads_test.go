package heads

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestChromiumTemplateVariesTheUsersBytes(t *testing.T) {
	tpl, err := Chromium("gw.example:443")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tpl.Head, []byte("\r\nHost: gw.example:443\r\n")) ||
		!bytes.Contains(tpl.Head, []byte("\r\nReferer: http://gw.example:443/app/rooms/482913\r\n")) {
		t.Fatalf("host not set:\n%s", tpl.Head)
	}
	// The room (URL and Referer: one group), the CSRF token, the session id,
	// GA's client id and its three timestamps (the first-visit one twice: one
	// group) vary; the preferences and GA's prefixes do not.
	var varied []string
	for _, s := range tpl.Spans {
		varied = append(varied, string(tpl.Head[s.Off:s.Off+s.Len]))
	}
	want := []string{"482913", "482913", "Xq3LmP9vR2tYw8ZkB4nC6dF1gH7jK0sA", "k2v9q8x7m3n4b5c6z1l0p9o8i7u6y5t4",
		"1839275064", "1764660423", "1764660423", "1764661187"}
	if len(varied) != len(want) {
		t.Fatalf("varied spans %q, want %q", varied, want)
	}
	for i := range want {
		if varied[i] != want[i] {
			t.Fatalf("varied spans %q, want %q", varied, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	a, b := tpl.Vary(nil, rng), tpl.Vary(nil, rng)
	if len(a) != len(tpl.Head) || bytes.Equal(a, b) || bytes.Equal(a, tpl.Head) {
		t.Fatal("two users got the same head, or another length")
	}
	room := func(h []byte, at int) string { return string(h[at : at+6]) }
	if room(a, tpl.Spans[0].Off) != room(a, tpl.Spans[1].Off) {
		t.Fatalf("URL and Referer name different rooms:\n%s", a)
	}
	for i, c := range a { // outside the spans nothing changed
		if c != tpl.Head[i] && !inSpan(tpl.Spans, i) {
			t.Fatalf("byte %d changed outside the spans", i)
		}
	}
	var back Template
	raw, _ := json.Marshal(tpl)
	if err := json.Unmarshal(raw, &back); err != nil || !back.Valid() || !bytes.Equal(back.Head, tpl.Head) {
		t.Fatalf("template through JSON: %v", err)
	}
	back.Spans[0].Len = len(back.Head)
	if back.Valid() {
		t.Fatal("a span past the head is valid")
	}
}

func inSpan(spans []Span, i int) bool {
	for _, s := range spans {
		if i >= s.Off && i < s.Off+s.Len {
			return true
		}
	}
	return false
}
