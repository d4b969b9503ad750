package callback

import (
	"bytes"
	"encoding/json"
	"strings"
)

// parseAcceptFast reads a 2xx body the way parseAcceptBody does, without
// decoding the whole object into a map: after json.Valid it walks the top
// level once, and takes a string without escapes or non-ASCII bytes as it
// is. ok false (a body that is not an object, a key with an escape) leaves
// res untouched: use parseAcceptBody. Same keys, same rules: the last of a
// repeated key wins (as in a map), request_id and since count only as
// strings, bindings only when every element is a string.
func parseAcceptFast(data []byte, res *Result) (ok bool) {
	if len(data) == 0 || len(data) > maxResponseBody || !json.Valid(data) {
		return true // parseAcceptBody takes nothing from these either
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return false
	}
	var rid, since, bindings []byte
	i = skipSpace(data, i+1)
	for data[i] != '}' {
		end := bytes.IndexByte(data[i+1:], '"') + i + 1
		key := data[i+1 : end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipSpace(data, end+1) + 1 // past ':'
		i = skipSpace(data, i)
		start := i
		i = skipValue(data, i)
		switch string(key) {
		case "request_id":
			rid = data[start:i]
		case "since":
			since = data[start:i]
		case "bindings":
			bindings = data[start:i]
		}
		i = skipSpace(data, i)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	if len(rid) > 0 && rid[0] == '"' {
		res.RequestID, res.HasRequestID = unquote(rid), true
	}
	if len(since) > 0 && since[0] == '"' {
		res.Since, res.HasSince = unquote(since), true
	}
	if len(bindings) == 0 || bindings[0] != '[' {
		return true // absent, null or not a list: none (null decodes to an empty list)
	}
	var list []string
	for j := skipSpace(bindings, 1); bindings[j] != ']'; {
		if bindings[j] != '"' {
			return true
		}
		end := skipValue(bindings, j)
		list = append(list, unquote(bindings[j:end]))
		j = skipSpace(bindings, end)
		if bindings[j] == ',' {
			j = skipSpace(bindings, j+1)
		}
	}
	if len(list) > 0 {
		res.Bindings = list
	}
	return true
}

// unquote decodes a valid JSON string literal (quotes included).
func unquote(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	plain := bytes.IndexByte(inner, '\\') < 0
	for _, c := range inner {
		if c >= 0x80 {
			plain = false // encoding/json replaces invalid UTF-8; let it
			break
		}
	}
	if plain {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipValue(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && strings.IndexByte(",}] \t\r\n", b[i]) < 0 {
		i++
	}
	return i
}
