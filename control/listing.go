package control

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"ssegw/loop"
	"ssegw/sse"
)

// Who is connected (CONTRACT.md section 6.4).

const (
	// defaultChannelLimit is /internal/channels' default ?limit=.
	defaultChannelLimit = 100
	// maxChannelLimit bounds ?limit=: the answer is built in memory.
	maxChannelLimit = 1 << 20
	// listingTimeout bounds one listing request; the loops answer each
	// bounded step within commandWait, so only a client that stops reading
	// (or a wedged loop) gets near it.
	listingTimeout = 5 * time.Minute
)

var (
	errInvalidScope = &apiError{400, "INVALID_SCOPE", "Invalid request: scope must be local or cluster"}
	errNotClustered = &apiError{400, "INVALID_SCOPE", "Invalid request: scope=cluster needs cluster mode (NATS_URL)"}
	errInvalidLimit = &apiError{400, "INVALID_LIMIT", "Invalid request: limit must be an integer from 1 to 1048576"}
)

// scope reads ?scope= (local by default).
func scope(r *http.Request) (cluster bool, e *apiError) {
	switch r.URL.Query().Get("scope") {
	case "", "local":
		return false, nil
	case "cluster":
		return true, nil
	}
	return false, errInvalidScope
}

func listingError(err error) *apiError {
	switch {
	case errors.Is(err, loop.ErrNotClustered):
		return errNotClustered
	case errors.Is(err, loop.ErrLoopsBusy):
		return errLoopsBusy
	}
	return &apiError{503, "LISTING_FAILED", "Listing failed: " + err.Error()}
}

// streams streams one NDJSON line per stream; in cluster scope it ends with
// {"missing":[<node ids>]} naming the gateways that did not answer.
func (s *Server) streams(w http.ResponseWriter, r *http.Request) {
	cluster, e := scope(r)
	if e != nil {
		writeError(w, e)
		return
	}
	q := loop.StreamQuery{Cluster: cluster}
	if r.URL.Query().Has("channel") {
		q.Channel, q.Filter = r.URL.Query().Get("channel"), true
	}
	ctx, cancel := context.WithTimeout(r.Context(), listingTimeout)
	defer cancel()
	flusher, _ := w.(http.Flusher)
	started := false
	emit := func(chunk []byte) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(200)
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	missing, err := s.opts.Gateway.ListStreams(ctx, q, emit)
	if err != nil && !started {
		writeError(w, listingError(err))
		return
	}
	if err != nil { // mid-stream: the status is sent; say so in a last line
		_ = emit(append(appendError(nil, listingError(err)), '\n'))
		return
	}
	if !started {
		_ = emit(nil)
	}
	if cluster {
		_ = emit(append(appendMissing(append([]byte(nil), `{"missing":`...), missing), "}\n"...))
	}
}

// channels answers {"channels":[{"name":…,"streams":n},…]}, most streams
// first (then by name), at most ?limit= of them.
func (s *Server) channels(w http.ResponseWriter, r *http.Request) {
	cluster, e := scope(r)
	if e != nil {
		writeError(w, e)
		return
	}
	limit := defaultChannelLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxChannelLimit {
			writeError(w, errInvalidLimit)
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), listingTimeout)
	defer cancel()
	counts, missing, err := s.opts.Gateway.ChannelCounts(ctx, cluster)
	if err != nil {
		writeError(w, listingError(err))
		return
	}
	writeJSON(w, 200, appendChannels(nil, counts, limit, cluster, missing))
}

type channelCount struct {
	name string
	n    int64
}

func appendChannels(b []byte, counts map[string]int64, limit int, cluster bool, missing []uint16) []byte {
	all := make([]channelCount, 0, len(counts))
	for name, n := range counts {
		all = append(all, channelCount{name, n})
	}
	slices.SortFunc(all, func(a, b channelCount) int {
		if a.n != b.n {
			return int(b.n - a.n)
		}
		return strings.Compare(a.name, b.name)
	})
	b = append(b, `{"channels":[`...)
	for i, c := range all[:min(limit, len(all))] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = sse.AppendJSONString(b, c.name)
		b = append(b, `,"streams":`...)
		b = strconv.AppendInt(b, c.n, 10)
		b = append(b, '}')
	}
	b = append(b, ']')
	if cluster {
		b = appendMissing(append(b, `,"missing":`...), missing)
	}
	return append(b, '}')
}

func appendMissing(b []byte, ids []uint16) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(id), 10)
	}
	return append(b, ']')
}
