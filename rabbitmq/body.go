package rabbitmq

import (
	"encoding/json"
	"errors"
	"strings"

	"ssegw/jsonscan"
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
	var event, data []byte
	// Escaped keys ("\u0064ata") are decoded first: still "data" to JSON.parse.
	if !jsonscan.ObjectFields(b, func(key, value []byte) {
		switch string(key) {
		case "event":
			event = value
		case "data":
			data = value
		}
	}) {
		return ev, errBodyNotObject
	}
	if !jsonscan.String(data, &ev.Data) {
		return ev, errBodyData
	}
	if event != nil {
		if !jsonscan.String(event, &ev.Name) {
			return ev, errBodyEventType
		}
		if strings.ContainsAny(ev.Name, "\r\n\x00") {
			return ev, errBodyEventName
		}
	}
	return ev, nil
}
