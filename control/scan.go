package control

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The control port reads commands with a small scanner instead of decoding
// each one into maps with encoding/json: a command's top-level keys are found
// in one pass over bytes that were already validated as JSON (json.Valid, or
// the batch's array or stream decoder), and string values without escapes are
// taken as they are. Keys are matched exactly, as JavaScript does (a struct
// decode would match them case-insensitively).

// objectFields calls fn with every top-level key and raw value of the JSON
// object in raw, in order (a repeated key is reported each time, so the last
// one wins for a caller that overwrites). raw must be valid JSON; ok is false
// if it is not an object.
func objectFields(raw []byte, fn func(key, value []byte)) (ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return true
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		kEnd := skipString(raw, i)
		key := raw[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = unescapeKey(raw[i:kEnd])
		}
		i = skipSpace(raw, kEnd)
		i = skipSpace(raw, i+1) // the colon
		vEnd := skipValue(raw, i)
		fn(key, raw[i:vEnd])
		i = vEnd
	}
}

func unescapeKey(quoted []byte) []byte {
	var s string
	if json.Unmarshal(quoted, &s) != nil {
		return nil
	}
	return []byte(s)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
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

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
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

// readString reads a raw JSON value as a string; false if it is not a string.
// Without escapes the bytes are the string (valid JSON holds no raw control
// characters in strings); invalid UTF-8 and escapes go through encoding/json,
// which also turns invalid UTF-8 into U+FFFD.
func readString(raw []byte, dst *string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		*dst = string(body)
		return true
	}
	return json.Unmarshal(raw, dst) == nil
}

func readNonEmptyString(raw []byte, dst *string) bool {
	return readString(raw, dst) && *dst != ""
}
