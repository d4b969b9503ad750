package control

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

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
	errTokenMissing   = &apiError{400, "INVALID_TOKEN_MISSING", "Invalid request: token is required and must be a string"}
	errChannelMissing = &apiError{400, "INVALID_CHANNEL_MISSING", "Invalid request: channel is required and must be a string"}
	errEventType      = &apiError{400, "INVALID_EVENT_TYPE", "Invalid request: event must be an object"}
	errEventData      = &apiError{400, "INVALID_EVENT_DATA_MISSING", "Invalid request: event.data is required and must be a string"}
	errEventNameType  = &apiError{400, "INVALID_EVENT_NAME_TYPE", "Invalid request: event.name must be a string"}
	errCloseType      = &apiError{400, "INVALID_CLOSE_TYPE", "Invalid request: close must be a boolean"}
	errEventName      = &apiError{400, "INVALID_EVENT_NAME", "Invalid request: event.name must not contain CR, LF or NUL"}
	errEventID        = &apiError{400, "INVALID_EVENT_ID", "Invalid request: event.id must be a string without CR, LF or NUL"}
	errEventRetry     = &apiError{400, "INVALID_EVENT_RETRY", "Invalid request: event.retry must be a non-negative integer"}
	errTokenNotFound  = &apiError{404, "TOKEN_NOT_FOUND", "Token not found"}
	errBufferFull     = &apiError{503, "BUFFER_FULL", "Too many sends buffered while the connect callback is pending"}
	errInvalidJSON    = &apiError{400, "INVALID_JSON", "Invalid request: body is not valid JSON"}
	errNotObject      = &apiError{400, "INVALID_JSON", "Invalid request: body must be a JSON object"}
	errBatchShape     = &apiError{400, "INVALID_JSON", "Invalid request: batch must be a JSON array or newline-delimited JSON objects"}
	errBatchTooLarge  = &apiError{413, "PAYLOAD_TOO_LARGE", "Invalid request: too many commands in one batch"}
	errUnknownCommand = &apiError{400, "INVALID_COMMAND", "Invalid request: a batch item needs a token (send) or a channel (publish)"}
	errPayloadTooBig  = &apiError{413, "PAYLOAD_TOO_LARGE", "Request body larger than 1 MiB"}
	errLoopsBusy      = &apiError{503, "LOOPS_BUSY", "The event loops did not answer in time"}
	errUnauthorized   = &apiError{401, "UNAUTHORIZED", "Missing or wrong bearer token"}
	errNotFound       = &apiError{404, "NOT_FOUND", "Not found"}
	errMethod         = &apiError{405, "METHOD_NOT_ALLOWED", "Method not allowed"}
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
func parseCommand(raw json.RawMessage, publish bool) (command, *apiError) {
	fields, e := parseObject(raw, publish)
	if e != nil {
		return command{publish: publish}, e
	}
	return commandFrom(fields, publish)
}

// parseObject reads the top-level object of a command.
func parseObject(raw json.RawMessage, publish bool) (map[string]json.RawMessage, *apiError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		if isArray(raw) { // Node.js: a top-level [] fails the token check
			return nil, targetError(publish)
		}
		return nil, errNotObject
	}
	return fields, nil
}

// commandFrom validates the fields of a command object.
func commandFrom(fields map[string]json.RawMessage, publish bool) (command, *apiError) {
	cmd := command{publish: publish}
	key, missing := "token", errTokenMissing
	if publish {
		key, missing = "channel", errChannelMissing
	}
	if !readNonEmptyString(fields[key], &cmd.target) {
		return cmd, missing
	}
	if e := parseEventAndClose(fields, &cmd); e != nil {
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

func isArray(raw json.RawMessage) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '['
}

// parseEventAndClose runs checks 2 to 8.
func parseEventAndClose(fields map[string]json.RawMessage, cmd *command) *apiError {
	evRaw, hasEvent := fields["event"]
	var ev map[string]json.RawMessage
	if hasEvent {
		t := bytes.TrimSpace(evRaw)
		if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
			return errEventType // null or not an object
		}
		if t[0] == '[' {
			return errEventData // an array is an object to Node, without data
		}
		if json.Unmarshal(t, &ev) != nil {
			return errEventType
		}
		if !readString(ev["data"], &cmd.event.Data) {
			return errEventData
		}
		if name, ok := ev["name"]; ok && !readString(name, &cmd.event.Name) {
			return errEventNameType
		}
	}
	if c, ok := fields["close"]; ok {
		switch string(bytes.TrimSpace(c)) {
		case "true":
			cmd.close = true
		case "false":
		default:
			return errCloseType
		}
	}
	if !hasEvent {
		return nil
	}
	cmd.hasEvent = true
	return parseEventExtras(ev, &cmd.event)
}

// parseEventExtras runs checks 6 to 8: name, id and retry.
func parseEventExtras(ev map[string]json.RawMessage, e *sse.Event) *apiError {
	if strings.ContainsAny(e.Name, "\r\n\x00") {
		return errEventName
	}
	if id, ok := ev["id"]; ok {
		if !readString(id, &e.ID) || strings.ContainsAny(e.ID, "\r\n\x00") {
			return errEventID
		}
		e.HasID = true
	}
	if r, ok := ev["retry"]; ok {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(r)), 10, 63)
		if err != nil {
			return errEventRetry
		}
		e.Retry, e.HasRetry = n, true
	}
	return nil
}

func readString(raw json.RawMessage, dst *string) bool {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return false
	}
	return json.Unmarshal(t, dst) == nil
}

func readNonEmptyString(raw json.RawMessage, dst *string) bool {
	return readString(raw, dst) && *dst != ""
}
