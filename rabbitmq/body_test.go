package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"ssegw/sse"
)

func TestParseBody(t *testing.T) {
	ok := func(body, name, data string) {
		t.Helper()
		ev, err := parseBody([]byte(body))
		if err != nil || ev.Name != name || ev.Data != data || ev.HasID || ev.HasRetry {
			t.Fatalf("parseBody(%s) = %+v, %v; want name %q data %q", body, ev, err, name, data)
		}
	}
	bad := func(body string, want error) {
		t.Helper()
		if _, err := parseBody([]byte(body)); !errors.Is(err, want) {
			t.Fatalf("parseBody(%s) error %v, want %v", body, err, want)
		}
	}
	ok(`{"event":"ping","data":"\"pong\""}`, "ping", `"pong"`)
	ok(`{"data":"hi"}`, "", "hi")
	ok(` {"event":"","data":""} `, "", "")
	ok(`{"data":"a\nb","event":"multi","extra":[1,{"data":"x"}],"n":null}`, "multi", "a\nb")
	ok(`{"data":"first","data":"second"}`, "", "second")
	ok(`{"\u0064ata":"escaped key","event":"ünï"}`, "ünï", "escaped key")
	ok(`{"Data":"ignored","data":"exact keys"}`, "", "exact keys")
	ok(`{"event":"ready","data":"reserved names are ordinary"}`, "ready", "reserved names are ordinary")
	ok("{\"data\":\"\xff\"}", "", "\uFFFD")
	bad(``, errBodyNotJSON)
	bad(`{"data":"x"`, errBodyNotJSON)
	bad(`not json`, errBodyNotJSON)
	bad(`null`, errBodyNotObject)
	bad(`["data"]`, errBodyNotObject)
	bad(`"data"`, errBodyNotObject)
	bad(`{}`, errBodyData)
	bad(`{"event":"x"}`, errBodyData)
	bad(`{"data":5}`, errBodyData)
	bad(`{"data":null}`, errBodyData)
	bad(`{"data":{"a":1}}`, errBodyData)
	bad(`{"DATA":"x"}`, errBodyData)
	bad(`{"event":null,"data":"x"}`, errBodyEventType)
	bad(`{"event":7,"data":"x"}`, errBodyEventType)
	bad(`{"event":"a\nb","data":"x"}`, errBodyEventName)
	bad(`{"event":"a\u0000b","data":"x"}`, errBodyEventName)
	bad(`{"data":"`+strings.Repeat("x", maxBody)+`"}`, errBodyTooLarge)
}

// referenceParse is parseBody written with encoding/json's map decoding
// (exact keys, last value wins), for the differential fuzz test.
func referenceParse(b []byte) (sse.Event, error) {
	var ev sse.Event
	if len(b) > maxBody {
		return ev, errBodyTooLarge
	}
	if !json.Valid(b) {
		return ev, errBodyNotJSON
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		return ev, errBodyNotObject
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return ev, err
	}
	data, ok := m["data"]
	if !ok || data[0] != '"' || json.Unmarshal(data, &ev.Data) != nil {
		return ev, errBodyData
	}
	if event, ok := m["event"]; ok {
		if event[0] != '"' || json.Unmarshal(event, &ev.Name) != nil {
			return ev, errBodyEventType
		}
		if strings.ContainsAny(ev.Name, "\r\n\x00") {
			return ev, errBodyEventName
		}
	}
	return ev, nil
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`{"event":"ping","data":"\"pong\""}`, `{"data":"hi"}`, `{"data":"a","data":"b"}`,
		`{"\u0064ata":"x"}`, `{"event":null,"data":"x"}`, `[1,2]`, `null`, `{"a":{"data":"no"},"data":"yes"}`,
		`{"data":"\ud800"}`, "{\"data\":\"\xc3\"}", `{"event":"a\u000ab","data":""}`, ` { "data" : "sp" , "event" : "e" } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := parseBody(b)
		want, werr := referenceParse(b)
		if (gerr == nil) != (werr == nil) || (gerr != nil && !errors.Is(gerr, werr)) {
			t.Fatalf("parseBody(%q) error %v, reference %v", b, gerr, werr)
		}
		if gerr == nil && got != want {
			t.Fatalf("parseBody(%q) = %+v, reference %+v", b, got, want)
		}
	})
}
