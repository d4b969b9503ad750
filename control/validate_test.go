package control

import (
	"encoding/json"
	"strings"
	"testing"

	"ssegw/jsonscan"
)

// FuzzParseCommand: any body gets either a valid command or one of the named
// errors, never a panic; an accepted event has a name and id free of CR, LF, NUL.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`{"token":"t","event":{"name":"n","data":"d","id":"1","retry":5},"close":true}`,
		`{"channel":"c","event":{"data":""}}`, `[]`, `{"token":5}`, `{"token":"t","event":null}`, `"x"`, `{`,
		`{"token":"t","event":{"data":"x","retry":1e3}}`, `{"token":"t","event":{"data":"x","id":"a\nb"}}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	named := map[*apiError]bool{errTokenMissing: true, errChannelMissing: true, errEventType: true, errEventData: true,
		errEventNameType: true, errCloseType: true, errEventName: true, errEventID: true, errEventRetry: true, errNotObject: true}
	f.Fuzz(func(t *testing.T, body []byte, publish bool) {
		if !json.Valid(body) {
			return // the handler answers INVALID_JSON before parsing
		}
		checkFieldsAgainstEncodingJSON(t, body)
		cmd, e := parseCommand(body, publish, false)
		if e != nil {
			if !named[e] {
				t.Fatalf("unnamed error %v", e)
			}
			return
		}
		if cmd.target == "" || strings.ContainsAny(cmd.event.Name, "\r\n\x00") || strings.ContainsAny(cmd.event.ID, "\r\n\x00") {
			t.Fatalf("accepted a bad command %+v from %q", cmd, body)
		}
	})
}

// checkFieldsAgainstEncodingJSON: the scanner finds exactly the top-level
// values encoding/json finds (same keys, last duplicate wins, same raw bytes).
func checkFieldsAgainstEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	var ref map[string]json.RawMessage
	refErr := json.Unmarshal(body, &ref)
	got := map[string][]byte{}
	ok := jsonscan.ObjectFields(body, func(k, v []byte) { got[string(k)] = v })
	if ok != (refErr == nil && ref != nil) {
		t.Fatalf("%q: scanner object=%v, encoding/json err=%v", body, ok, refErr)
	}
	if !ok {
		return
	}
	// The keys a command reads (others, with invalid UTF-8 say, differ only in
	// how their name is spelled, which nothing looks at).
	for _, k := range []string{"token", "channel", "event", "close", "name", "data", "id", "retry"} {
		if string(got[k]) != string(ref[k]) {
			t.Fatalf("%q: key %q: scanner %q, encoding/json %q", body, k, got[k], ref[k])
		}
	}
}

func BenchmarkParseCommand(b *testing.B) {
	body := []byte(`{"token":"0b7c6a52-6f45-4f25-8a2f-0c1e0e2f3a4b","event":{"name":"update","data":"{\"price\":101.25,\"sym\":\"ABC\"}","id":"12345"}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, e := parseCommand(body, false, false); e != nil {
			b.Fatal(e)
		}
	}
}

// FuzzArrayItems: splitting a valid array gives what encoding/json gives.
func FuzzArrayItems(f *testing.F) {
	for _, s := range []string{`[]`, `[1]`, `[ {"a":[1,{"b":"]"}]} , "x\"]" ,null ]`, `[[],[[]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var ref []json.RawMessage
		trimmed := bytesTrim(body)
		if len(trimmed) == 0 || trimmed[0] != '[' || json.Unmarshal(body, &ref) != nil {
			return // the batch handler splits only arrays
		}
		got := arrayItems(trimmed)
		if len(got) != len(ref) {
			t.Fatalf("%q: %d items, encoding/json %d", body, len(got), len(ref))
		}
		for i := range ref {
			if string(got[i]) != string(ref[i]) {
				t.Fatalf("%q: item %d %q, encoding/json %q", body, i, got[i], ref[i])
			}
		}
	})
}

func bytesTrim(b []byte) []byte { return []byte(strings.TrimSpace(string(b))) }
