package control

import (
	"bytes"
	"strconv"
	"strings"

	"ssegw/jsonscan"
	"ssegw/sse"
)

// apiError is one error the control port answers with.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// The validation errors of CONTRACT.md 6.1, in the order they are checked.
var (
	errTokenMissing    = &apiError{400, "INVALID_TOKEN_MISSING", "Invalid request: token is required and must be a string"}
	errChannelMissing  = &apiError{400, "INVALID_CHANNEL_MISSING", "Invalid request: channel is required and must be a string"}
	errEventType       = &apiError{400, "INVALID_EVENT_TYPE", "Invalid request: event must be an object"}
	errEventData       = &apiError{400, "INVALID_EVENT_DATA_MISSING", "Invalid request: event.data is required and must be a string"}
	errEventNameType   = &apiError{400, "INVALID_EVENT_NAME_TYPE", "Invalid request: event.name must be a string"}
	errCloseType       = &apiError{400, "INVALID_CLOSE_TYPE", "Invalid request: close must be a boolean"}
	errEventName       = &apiError{400, "INVALID_EVENT_NAME", "Invalid request: event.name must not contain CR, LF or NUL"}
	errEventID         = &apiError{400, "INVALID_EVENT_ID", "Invalid request: event.id must be a string without CR, LF or NUL"}
	errEventIDAssigned = &apiError{400, "INVALID_EVENT_ID", "Invalid request: event.id is not allowed: ids are assigned by the gateway when history is on (HISTORY_SIZE > 0)"}
	errEventRetry      = &apiError{400, "INVALID_EVENT_RETRY", "Invalid request: event.retry must be a non-negative integer"}
	errTokenNotFound   = &apiError{404, "TOKEN_NOT_FOUND", "Token not found"}
	errBufferFull      = &apiError{503, "BUFFER_FULL", "Too many sends buffered while the connect callback is pending"}
	errInvalidJSON     = &apiError{400, "INVALID_JSON", "Invalid request: body is not valid JSON"}
	errNotObject       = &apiError{400, "INVALID_JSON", "Invalid request: body must be a JSON object"}
	errBatchShape      = &apiError{400, "INVALID_JSON", "Invalid request: batch must be a JSON array or newline-delimited JSON objects"}
	errBatchTooLarge   = &apiError{413, "PAYLOAD_TOO_LARGE", "Invalid request: too many commands in one batch"}
	errUnknownCommand  = &apiError{400, "INVALID_COMMAND", "Invalid request: a batch item needs a token (send) or a channel (publish)"}
	errPayloadTooBig   = &apiError{413, "PAYLOAD_TOO_LARGE", "Request body larger than 1 MiB"}
	errLoopsBusy       = &apiError{503, "LOOPS_BUSY", "The event loops did not answer in time"}
	errUnauthorized    = &apiError{401, "UNAUTHORIZED", "Missing or wrong bearer token"}
	errNotFound        = &apiError{404, "NOT_FOUND", "Not found"}
	errMethod          = &apiError{405, "METHOD_NOT_ALLOWED", "Method not allowed"}
)

// command is a validated send or publish.
type command struct {
	publish  bool
	target   string // token or channel
	hasEvent bool
	event    sse.Event
	close    bool
}

// parseCommand validates one send (publish false) or publish (publish true)
// object in the contract's order. Every check runs before any token lookup.
// raw must be valid JSON (the handlers check it first).
func parseCommand(raw []byte, publish, idsAssigned bool) (command, *apiError) {
	f, e := readFields(raw, publish)
	if e != nil {
		return command{publish: publish}, e
	}
	return commandFrom(&f, publish, idsAssigned)
}

// cmdFields are the raw values of a command's keys; nil means absent.
type cmdFields struct{ token, channel, event, close []byte }

// readFields finds a command object's keys.
func readFields(raw []byte, publish bool) (cmdFields, *apiError) {
	var f cmdFields
	ok := jsonscan.ObjectFields(raw, func(k, v []byte) {
		switch string(k) {
		case "token":
			f.token = v
		case "channel":
			f.channel = v
		case "event":
			f.event = v
		case "close":
			f.close = v
		}
	})
	if !ok {
		if isArray(raw) { // Node.js: a top-level [] fails the token check
			return f, targetError(publish)
		}
		return f, errNotObject
	}
	return f, nil
}

// commandFrom validates the fields of a command object.
// With idsAssigned (history on) an event.id is refused at check 7.
func commandFrom(f *cmdFields, publish, idsAssigned bool) (command, *apiError) {
	cmd := command{publish: publish}
	target, missing := f.token, errTokenMissing
	if publish {
		target, missing = f.channel, errChannelMissing
	}
	if !readNonEmptyString(target, &cmd.target) {
		return cmd, missing
	}
	if e := parseEventAndClose(f, &cmd, idsAssigned); e != nil {
		return cmd, e
	}
	return cmd, nil
}

func targetError(publish bool) *apiError {
	if publish {
		return errChannelMissing
	}
	return errTokenMissing
}

func isArray(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// eventFields are the raw values of an event's keys; nil means absent.
type eventFields struct{ name, data, id, retry []byte }

// parseEventAndClose runs checks 2 to 8.
func parseEventAndClose(f *cmdFields, cmd *command, idsAssigned bool) *apiError {
	var ev eventFields
	if f.event != nil {
		switch f.event[0] {
		case '[':
			return errEventData // an array is an object to Node, without data
		case '{':
		default:
			return errEventType // null or not an object
		}
		jsonscan.ObjectFields(f.event, func(k, v []byte) {
			switch string(k) {
			case "name":
				ev.name = v
			case "data":
				ev.data = v
			case "id":
				ev.id = v
			case "retry":
				ev.retry = v
			}
		})
		if !jsonscan.String(ev.data, &cmd.event.Data) {
			return errEventData
		}
		if ev.name != nil && !jsonscan.String(ev.name, &cmd.event.Name) {
			return errEventNameType
		}
	}
	if f.close != nil {
		switch string(f.close) {
		case "true":
			cmd.close = true
		case "false":
		default:
			return errCloseType
		}
	}
	if f.event == nil {
		return nil
	}
	cmd.hasEvent = true
	return parseEventExtras(&ev, &cmd.event, idsAssigned)
}

// parseEventExtras runs checks 6 to 8: name, id and retry.
func parseEventExtras(ev *eventFields, e *sse.Event, idsAssigned bool) *apiError {
	if strings.ContainsAny(e.Name, "\r\n\x00") {
		return errEventName
	}
	if ev.id != nil && idsAssigned {
		return errEventIDAssigned
	}
	if ev.id != nil {
		if !jsonscan.String(ev.id, &e.ID) || strings.ContainsAny(e.ID, "\r\n\x00") {
			return errEventID
		}
		e.HasID = true
	}
	if ev.retry != nil {
		n, err := strconv.ParseUint(string(ev.retry), 10, 63)
		if err != nil {
			return errEventRetry
		}
		e.Retry, e.HasRetry = n, true
	}
	return nil
}

func readNonEmptyString(raw []byte, dst *string) bool {
	return jsonscan.String(raw, dst) && *dst != ""
}
