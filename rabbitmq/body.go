package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"ssegw/sse"
)

// maxBody bounds a message body, as the control port bounds a send's (1 MiB):
// a larger one is dropped as malformed rather than written to every stream.
const maxBody = 1 << 20

// Why a message body is malformed (each is dropped: nack without requeue).
var (
	errBodyNotJSON   = errors.New("body is not JSON")
	errBodyNotObject = errors.New("body is not a JSON object")
	errBodyData      = errors.New("data is missing or not a string")
	errBodyEventType = errors.New("event is not a string")
	errBodyEventName = errors.New("event contains CR, LF or NUL")
	errBodyTooLarge  = errors.New("body larger than 1 MiB")
)

// parseBody reads a message body {"event":"<name>","data":"<string>"} into an
// event, with the Node service's rules made strict where Node misbehaved:
//
//   - the body is a JSON object; data is required and must be a string;
//   - event is optional (absent or "" is an unnamed event); when present it
//     must be a string without CR, LF or NUL, as a send's event.name (Node
//     took event:null down its write-error path and requeued it for ever);
//   - other keys are ignored; keys match exactly (JSON.parse's rule, not
//     encoding/json's case-insensitive one); a repeated key's last value wins;
//   - message properties and headers are ignored, as in Node.
func parseBody(b []byte) (sse.Event, error) {
	var ev sse.Event
	if len(b) > maxBody {
		return ev, errBodyTooLarge
	}
	if !json.Valid(b) {
		return ev, errBodyNotJSON
	}
	b = bytes.TrimLeft(b, " \t\r\n")
	if b[0] != '{' {
		return ev, errBodyNotObject
	}
	var event, data []byte
	forEachMember(b, func(key, value []byte) {
		switch string(key) {
		case `"event"`:
			event = value
		case `"data"`:
			data = value
		default:
			if bytes.IndexByte(key, '\\') < 0 {
				return
			}
			// An escaped key ("\u0064ata") is still "data" to JSON.parse.
			var k string
			_ = json.Unmarshal(key, &k)
			switch k {
			case "event":
				event = value
			case "data":
				data = value
			}
		}
	})
	if !jsonString(data, &ev.Data) {
		return ev, errBodyData
	}
	if event != nil {
		if !jsonString(event, &ev.Name) {
			return ev, errBodyEventType
		}
		if strings.ContainsAny(ev.Name, "\r\n\x00") {
			return ev, errBodyEventName
		}
	}
	return ev, nil
}

// jsonString decodes raw into s when it is a JSON string.
func jsonString(raw []byte, s *string) bool {
	if len(raw) == 0 || raw[0] != '"' {
		return false
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		*s = string(raw[1 : len(raw)-1])
		return true
	}
	return json.Unmarshal(raw, s) == nil // escapes; invalid UTF-8 becomes U+FFFD
}

// forEachMember calls f with the raw key (quotes included) and raw value of
// each member of the object obj, which must be valid JSON starting with '{'.
func forEachMember(obj []byte, f func(key, value []byte)) {
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		kEnd := skipValue(obj, i)
		key := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		i = skipSpace(obj, i+1) // ':'
		vEnd := skipValue(obj, i)
		f(key, obj[i:vEnd])
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(b)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipValue(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	return j
}
