// Package ssewire holds the wire shapes the bench servers (baseline, ceiling)
// share with the gateway (CONTRACT.md sections 3, 6.2 and 7): the publish
// request body, the SSE frame encoding, HTTP chunk framing and the error JSON.
// It is stateless and safe for concurrent use.
package ssewire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
)

// MaxBodyBytes bounds a control request body, as on the gateway (CONTRACT 6).
const MaxBodyBytes = 1 << 20

// Heartbeat is the exact heartbeat comment (CONTRACT 4.1).
const Heartbeat = ": heartbeat\n\n"

// DefaultChannel is the channel a stream joins when it names none.
const DefaultChannel = "bench"

var (
	// ErrChannelMissing reports a publish without a channel.
	ErrChannelMissing = errors.New("channel missing")
	// ErrEventData reports an event without string data.
	ErrEventData = errors.New("event data missing")
)

// Event is the event object of a send or publish command.
type Event struct {
	Name  string `json:"name,omitempty"`
	Data  string `json:"data"`
	ID    string `json:"id,omitempty"`
	Retry *int64 `json:"retry,omitempty"`
}

// Publish is the body of POST /internal/publish.
type Publish struct {
	Channel string `json:"channel"`
	Event   *Event `json:"event"`
}

// PublishReply is the success answer of a publish.
type PublishReply struct {
	Status      string `json:"status"`
	Connections int    `json:"connections"`
}

// DecodePublish reads and validates a publish body.
func DecodePublish(r io.Reader) (Publish, error) {
	var p Publish
	if err := json.NewDecoder(io.LimitReader(r, MaxBodyBytes)).Decode(&p); err != nil {
		return p, err
	}
	if p.Channel == "" {
		return p, ErrChannelMissing
	}
	if p.Event == nil {
		return p, ErrEventData
	}
	return p, nil
}

// AppendFrame encodes ev in the gateway's default `sse` format (CONTRACT 7).
func AppendFrame(dst []byte, ev *Event) []byte {
	if ev.ID != "" {
		dst = append(append(append(dst, "id: "...), ev.ID...), '\n')
	}
	if ev.Name != "" {
		dst = append(append(append(dst, "event: "...), ev.Name...), '\n')
	}
	if ev.Retry != nil {
		dst = strconv.AppendInt(append(dst, "retry: "...), *ev.Retry, 10)
		dst = append(dst, '\n')
	}
	data := ev.Data
	for {
		i, skip := nextBreak(data)
		dst = append(append(append(dst, "data: "...), data[:i]...), '\n')
		if skip == 0 {
			break
		}
		data = data[i+skip:]
	}
	return append(dst, '\n')
}

// nextBreak finds the first CRLF, CR or LF: its index and length (0 if none).
func nextBreak(s string) (int, int) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			return i, 1
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				return i, 2
			}
			return i, 1
		}
	}
	return len(s), 0
}

// AppendChunk frames payload as one HTTP/1.1 chunk.
func AppendChunk(dst, payload []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(payload)), 16)
	dst = append(append(append(dst, "\r\n"...), payload...), "\r\n"...)
	return dst
}

// WriteError writes the gateway's error JSON (CONTRACT 3).
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "code": code}})
	w.Write(b)
}

// WriteJSON writes v as a 200 JSON answer.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		fmt.Fprintln(w)
	}
}

// PublishError answers a failed DecodePublish as the gateway would.
func PublishError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrChannelMissing):
		WriteError(w, http.StatusBadRequest, "INVALID_CHANNEL_MISSING", "channel is required")
	case errors.Is(err, ErrEventData):
		WriteError(w, http.StatusBadRequest, "INVALID_EVENT_DATA_MISSING", "event.data is required")
	default:
		WriteError(w, http.StatusBadRequest, "INVALID_JSON", "invalid JSON body")
	}
}

// WriteMetrics answers GET /metrics of the bench servers in Prometheus text
// format with the two gauges the scenarios read: go_goroutines (goroutines per
// stream) and ssegw_streams_open (the gateway's name, so one --metrics-gauge
// works against every server).
func WriteMetrics(w http.ResponseWriter, streamsOpen int64) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "go_goroutines %d\nssegw_streams_open %d\n", runtime.NumGoroutine(), streamsOpen)
}
