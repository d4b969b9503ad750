package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

var seeds = []string{
	`{}`, ` { "a" : 1 , "b" : [ 1 , {"c":"]}"} ] } `, `{"a":"x","a":"y"}`, `{"k\u0065y":"v"}`,
	`{"s":"caf\u00e9 \"q\" \\","t":"` + "\xc3\xa9" + `","u":"` + "\xe9" + `"}`, `[]`, `[1,"a",null,{"x":[2]}]`,
	`"str"`, `null`, `{"n":-1.5e3,"t":true,"f":false,"z":null}`,
}

// FuzzObjectFields: the fields of a valid object are what encoding/json
// decodes (the last of a repeated key wins), and each string value reads
// as json.Unmarshal reads it (and only strings do: null is not one).
func FuzzObjectFields(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		got := map[string][]byte{}
		rawKeys := false
		ok := ObjectFields(b, func(k, v []byte) {
			got[string(k)] = v
			rawKeys = rawKeys || !utf8.Valid(k)
		})
		if rawKeys {
			return // reported raw; encoding/json makes them U+FFFD (ObjectFields' doc)
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(b, &want); err != nil || want == nil {
			if ok {
				t.Fatalf("%q: not an object, but walked as one", b)
			}
			return
		}
		if !ok || len(got) != len(want) {
			t.Fatalf("%q: ok %v, %d fields, want %d", b, ok, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
				t.Fatalf("%q: field %q = %q, want %q", b, k, got[k], v)
			}
			var s, ws string
			isString := bytes.TrimSpace(v)[0] == '"' && json.Unmarshal(v, &ws) == nil
			if String(got[k], &s) != isString || s != ws {
				t.Fatalf("%q: field %q reads as %q (a string: %v), want %q", b, k, s, !isString, ws)
			}
		}
	})
}

// FuzzArrayItems: the items of a valid array are what encoding/json
// decodes.
func FuzzArrayItems(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var got [][]byte
		ok := ArrayItems(b, func(item []byte) { got = append(got, item) })
		var want []json.RawMessage
		if err := json.Unmarshal(b, &want); err != nil || want == nil {
			if ok && !bytes.Equal(bytes.TrimSpace(b), []byte("[]")) && len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] != '[' {
				t.Fatalf("%q: not an array, but walked as one", b)
			}
			return
		}
		if !ok || len(got) != len(want) {
			t.Fatalf("%q: ok %v, %d items, want %d", b, ok, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], bytes.TrimSpace(want[i])) {
				t.Fatalf("%q: item %d = %q, want %q", b, i, got[i], want[i])
			}
		}
	})
}

// TestStringAllocatesOnlyWhenDecoding: a plain string costs its copy and
// nothing for the pointer it is read into.
func TestStringAllocatesOnlyWhenDecoding(t *testing.T) {
	raw := []byte(`"plain"`)
	var s string
	if n := testing.AllocsPerRun(100, func() { String(raw, &s) }); n != 1 {
		t.Fatalf("%v allocations reading a plain string, want 1 (the string)", n)
	}
}
