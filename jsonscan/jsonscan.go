// Package jsonscan walks JSON that is already known to be valid (json.Valid,
// or a decoder's raw value) without decoding it: the top-level fields of an
// object, the items of an array, a string value. The control port reads its
// commands with it and the callback client the backend's connect answers,
// both on their request paths, where decoding into maps cost most of the
// time and allocations. Keys are matched by the caller exactly, as
// JavaScript does (a struct decode would match them case-insensitively).
//
// Pure functions: no state, safe from any goroutine. Input that is not valid
// JSON gives unspecified (but bounded, never panicking) results.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// ObjectFields calls fn with every top-level key (escapes decoded) and raw
// value of the JSON object in raw, in order; a repeated key is reported each
// time, so the last one wins for a caller that overwrites. A key holding
// invalid UTF-8 is reported as its bytes (encoding/json would make them
// U+FFFD); callers match ASCII keys, which such a key never equals. ok is
// false if raw is not an object.
func ObjectFields(raw []byte, fn func(key, value []byte)) (ok bool) {
	i := SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i++
	for {
		i = SkipSpace(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return true
		}
		if raw[i] == ',' {
			i = SkipSpace(raw, i+1)
		}
		kEnd := skipString(raw, i)
		key := raw[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = unescapeKey(raw[i:kEnd])
		}
		i = SkipSpace(raw, kEnd)
		i = SkipSpace(raw, i+1) // the colon
		vEnd := SkipValue(raw, i)
		fn(key, raw[i:vEnd])
		i = vEnd
	}
}

// ArrayItems calls fn with every raw item of the JSON array in arr, in
// order; ok is false if arr is not an array.
func ArrayItems(arr []byte, fn func(item []byte)) (ok bool) {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return false
	}
	i = SkipSpace(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := SkipValue(arr, i)
		fn(arr[i:end])
		i = SkipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = SkipSpace(arr, i+1)
		}
	}
	return true
}

// String reads a raw JSON value as a string; false if it is not a string.
// Without escapes the bytes are the string (valid JSON holds no raw control
// characters in strings); invalid UTF-8 and escapes go through encoding/json,
// which also turns invalid UTF-8 into U+FFFD.
func String(raw []byte, dst *string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		*dst = string(body)
		return true
	}
	s, ok := decodeString(raw)
	if ok {
		*dst = s
	}
	return ok
}

// decodeString is String's slow path, apart so that only it hands a
// pointer to encoding/json (dst would escape to the heap otherwise, one
// allocation per call however the string is read).
func decodeString(raw []byte) (string, bool) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipValue returns the index just past the value starting at b[i].
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

func unescapeKey(quoted []byte) []byte {
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		return nil
	}
	return []byte(s)
}
