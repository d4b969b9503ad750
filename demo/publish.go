package demo

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Bounds of a publish from the page.
const (
	// maxPublishBody bounds the request body of POST /publish.
	maxPublishBody = 4 << 10
	// maxPublishText bounds the text, in characters, as a chat box would.
	maxPublishText = 280
	// maxFromText bounds the name of the tab that published.
	maxFromText = 32
)

// Errors of POST /publish, answered as {"error":"..."} with status 400.
var (
	ErrPublishBody = errors.New("the body must be JSON {\"text\":\"...\",\"from\":\"...\"}")
	ErrPublishText = errors.New("the text must be 1 to 280 characters")
)

// publishBody is what the page posts.
type publishBody struct {
	Text string `json:"text"`
	From string `json:"from"`
}

// publish puts the page's text on the demo channel through the control
// port's /internal/publish, as a "message" event whose data is
// {"text":...,"from":...}, and answers how many streams it reached.
func (b *Backend) publish(w http.ResponseWriter, r *http.Request) {
	var in publishBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPublishBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ErrPublishBody.Error()})
		return
	}
	in.Text = strings.TrimSpace(in.Text)
	if n := utf8.RuneCountInString(in.Text); n == 0 || n > maxPublishText || !utf8.ValidString(in.Text) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ErrPublishText.Error()})
		return
	}
	if utf8.RuneCountInString(in.From) > maxFromText || !utf8.ValidString(in.From) {
		in.From = ""
	}
	data, _ := json.Marshal(in)
	cmd, _ := json.Marshal(map[string]any{"channel": Channel, "event": map[string]any{"name": "message", "data": string(data)}})
	out, err := b.control(http.MethodPost, "/internal/publish", strings.NewReader(string(cmd)))
	if err != nil {
		b.Log.Warn("demo publish", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the gateway did not take the publish"})
		return
	}
	var res struct {
		Connections int `json:"connections"`
	}
	_ = json.Unmarshal(out, &res)
	writeJSON(w, http.StatusOK, map[string]int{"connections": res.Connections})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
