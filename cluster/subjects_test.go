package cluster

import (
	"strings"
	"testing"
)

func TestChannelSubjects(t *testing.T) {
	for name, want := range map[string]string{
		"room-1":    "ssegw.ch.room-1",
		"user:42":   "ssegw.ch.user:42",
		"a.b c":     "ssegw.ch.a%2Eb%20c",
		"*>%#":      "ssegw.ch.%2A%3E%25%23",
		"":          "ssegw.ch.%",
		"é":         "ssegw.ch.%C3%A9",
		"tab\there": "ssegw.ch.tab%09here",
	} {
		if got := ChannelSubject("ssegw", name); got != want {
			t.Errorf("ChannelSubject(%q) = %q, want %q", name, got, want)
		}
	}
	long := strings.Repeat("x", maxChannelToken+1)
	got := ChannelSubject("p", long)
	if !strings.HasPrefix(got, "p.ch.#") || len(got) != len("p.ch.#")+64 {
		t.Errorf("long name subject %q", got)
	}
	if got == ChannelSubject("p", long+"y") {
		t.Error("two long names share a subject")
	}
	if NodeSubject("a.b", 513) != "a.b.node.513" {
		t.Error(NodeSubject("a.b", 513))
	}
}

func TestRecords(t *testing.T) {
	tok := "0123abcd-0001-4002-8000-000000000000"
	var b []byte
	b = appendRecord(b, tok, []byte("data: x\n\n"), false)
	b = appendRecord(b, tok, nil, true)
	b = appendRecord(b, tok, []byte("a\nb 12\n"), false)
	recs, err := parseRecords(b, nil)
	if err != nil || len(recs) != 3 {
		t.Fatalf("parse: %v %d", err, len(recs))
	}
	if recs[0].token != tok || string(recs[0].msg) != "data: x\n\n" || recs[0].close ||
		len(recs[1].msg) != 0 || !recs[1].close || string(recs[2].msg) != "a\nb 12\n" {
		t.Fatalf("records %+v", recs)
	}
	if len(b) > recordSize([]byte("data: x\n\n"))+recordSize(nil)+recordSize([]byte("a\nb 12\n")) {
		t.Fatal("recordSize underestimates")
	}
	for _, bad := range []string{
		"X " + tok + " 0\n",
		"S " + tok + " 5\nabc",
		"S " + tok + " -1\n",
		"S " + tok + " 1x\nab",
		"S " + tok + "0\n",
		"S " + tok + " 99999999999\n",
		"S short 0\n",
	} {
		if _, err := parseRecords([]byte(bad), nil); err == nil {
			t.Errorf("parseRecords(%q) accepted", bad)
		}
	}
	if recs, err := parseRecords(nil, nil); err != nil || len(recs) != 0 {
		t.Fatalf("empty: %v %v", recs, err)
	}
}

func TestBackoff(t *testing.T) {
	prev := backoff(1)
	if prev < reconnectMin || prev > reconnectMin*3/2 {
		t.Fatalf("first delay %v", prev)
	}
	for n := 2; n < 40; n++ {
		if d := backoff(n); d < reconnectMin || d > reconnectMax*3/2 {
			t.Fatalf("delay %d = %v", n, d)
		}
	}
	if backoff(30) < reconnectMax {
		t.Fatal("backoff not capped at the max")
	}
}
