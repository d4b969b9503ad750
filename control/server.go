package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"ssegw/loop"
	"ssegw/metricsdoc"
	"ssegw/sse"
)

// Limits of the control port.
const (
	// maxBody is the contract's request-body bound (413 beyond).
	maxBody = 1 << 20
	// maxBatchCommands bounds one batch; 1 MiB of the smallest valid commands
	// is about this many.
	maxBatchCommands = 20000
	// readHeaderTimeout bounds a backend connection that never sends its head.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes idle backend keep-alive connections.
	idleTimeout = 120 * time.Second
)

// Gateway is what the control port drives: the event loops (loop.Server), or a
// cluster router wrapping them that forwards commands for streams held by
// other gateways.
type Gateway interface {
	// Do applies commands in order and fills one result per command.
	Do(cmds []loop.Command, results []loop.CmdResult) error
	WriteMetrics(w io.Writer)
	ReadyzBody() (status int, body []byte)
	// ListStreams emits NDJSON lines of the streams the query selects, in
	// chunks; in cluster scope it gathers every gateway and names the ones
	// that did not answer.
	ListStreams(ctx context.Context, q loop.StreamQuery, emit func([]byte) error) (missing []uint16, err error)
	// ChannelCounts counts the streams bound to each channel.
	ChannelCounts(ctx context.Context, cluster bool) (counts map[string]int64, missing []uint16, err error)
	// Position is the latest published event's position (loop.ErrHistoryOff:
	// history off).
	Position(ctx context.Context) (id string, err error)
}

// Options configure the control server.
type Options struct {
	Token   string // bearer token; empty means none required
	Gateway Gateway
	Format  sse.Format
	Logger  *slog.Logger
	// History: HISTORY_SIZE > 0; ids are assigned by the gateway (a command
	// with event.id is refused) and publish answers name the position.
	History bool
}

// Server is the control port's HTTP server.
type Server struct {
	opts Options
	HTTP *http.Server
}

// New builds the control server; serve it with HTTP.Serve(listener).
func New(o Options) *Server {
	s := &Server{opts: o}
	mux := http.NewServeMux()
	mux.HandleFunc("/internal/send", s.post(s.send))
	mux.HandleFunc("/internal/publish", s.post(s.publish))
	mux.HandleFunc("/internal/batch", s.post(s.batch))
	mux.HandleFunc("/internal/streams", s.get(s.streams))
	mux.HandleFunc("/internal/channels", s.get(s.channels))
	mux.HandleFunc("/internal/position", s.get(s.position))
	mux.HandleFunc("/metrics", s.get(s.metrics))
	mux.HandleFunc("/healthz", s.get(s.healthz))
	mux.HandleFunc("/readyz", s.get(s.readyz))
	mux.HandleFunc("/debug/pprof/", pprof.Index) // profiles for operators: loopback (or bearer token) only
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	s.HTTP = &http.Server{
		Handler:           s.auth(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

func (s *Server) auth(next http.Handler) http.Handler {
	if s.opts.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// post wraps a handler of a JSON body: method check and the 1 MiB bound.
func (s *Server) post(h func(w http.ResponseWriter, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, errMethod)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, errPayloadTooBig)
				return
			}
			writeError(w, errInvalidJSON)
			return
		}
		h(w, body)
	}
}

func (s *Server) get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, errMethod)
			return
		}
		h(w, r)
	}
}

func (s *Server) send(w http.ResponseWriter, body []byte) {
	s.single(w, body, false)
}

func (s *Server) publish(w http.ResponseWriter, body []byte) {
	s.single(w, body, true)
}

func (s *Server) single(w http.ResponseWriter, body []byte, publish bool) {
	if !json.Valid(body) {
		writeError(w, errInvalidJSON)
		return
	}
	cmd, e := parseCommand(body, publish, s.opts.History)
	if e != nil {
		writeError(w, e)
		return
	}
	cmds := []loop.Command{s.toLoop(&cmd)}
	results := make([]loop.CmdResult, 1)
	if err := s.opts.Gateway.Do(cmds, results); err != nil {
		writeError(w, doError(err))
		return
	}
	if e := resultError(&results[0]); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, 200, appendResult(nil, &cmd, &results[0]))
}

func (s *Server) toLoop(c *command) loop.Command {
	lc := loop.Command{Publish: c.publish, Close: c.close}
	if c.publish {
		lc.Channel = c.target
	} else {
		lc.Token = c.target
	}
	switch {
	case c.hasEvent && c.publish && s.opts.History:
		ev := c.event
		lc.Event = &ev // encoded by the loops' Do with its position as id
	case c.hasEvent:
		lc.Frame = loop.NewFrame(&c.event, s.opts.Format)
	}
	return lc
}

func resultError(r *loop.CmdResult) *apiError {
	switch r.Status {
	case 404:
		return errTokenNotFound
	case 503:
		return errBufferFull
	}
	return nil
}

// appendResult writes a success body: {"status":"ok"}, {"status":"buffered"}
// or, for a publish, {"status":"ok","connections":n}.
func appendResult(b []byte, c *command, r *loop.CmdResult) []byte {
	switch {
	case c.publish:
		b = append(b, `{"status":"ok","connections":`...)
		b = strconv.AppendInt(b, r.Connections(), 10)
		if r.HasPos {
			b = append(b, `,"id":"`...)
			b = r.Pos.AppendText(b)
			b = append(b, '"')
		}
		return append(b, '}')
	case r.Buffered:
		return append(b, `{"status":"buffered"}`...)
	}
	return append(b, `{"status":"ok"}`...)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = metricsdoc.Expose(w, s.opts.Gateway.WriteMetrics)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, []byte(`{"status":"ok"}`))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	status, body := s.opts.Gateway.ReadyzBody()
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, appendError(nil, e))
}

func appendError(b []byte, e *apiError) []byte {
	b = append(b, `{"error":{"message":`...)
	b = sse.AppendJSONString(b, e.message)
	b = append(b, `,"code":`...)
	b = sse.AppendJSONString(b, e.code)
	return append(b, "}}"...)
}

// positionTimeout bounds GET /internal/position (in cluster mode one broker
// round trip).
const positionTimeout = 5 * time.Second

var errHistoryOff = &apiError{404, "HISTORY_OFF", "History is off (HISTORY_SIZE=0): there are no positions"}

// position answers {"id":"<position>"}: the latest published event's, for a
// page rendered at a known position (CONTRACT.md section 9).
func (s *Server) position(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), positionTimeout)
	defer cancel()
	id, err := s.opts.Gateway.Position(ctx)
	switch {
	case errors.Is(err, loop.ErrHistoryOff):
		writeError(w, errHistoryOff)
		return
	case err != nil:
		writeError(w, &apiError{503, "HISTORY_UNAVAILABLE", "The history did not answer: " + err.Error()})
		return
	}
	b := append([]byte(`{"id":`), sse.AppendJSONString(nil, id)...)
	writeJSON(w, 200, append(b, '}'))
}

var errHistoryUnavailable = &apiError{503, "HISTORY_UNAVAILABLE", "The history (JetStream) did not answer: the publish may not have been kept"}

// doError is the answer to a Do that failed: the history did not answer,
// or the loops (or the broker) did not in time.
func doError(err error) *apiError {
	if errors.Is(err, loop.ErrHistoryUnavailable) {
		return errHistoryUnavailable
	}
	return errLoopsBusy
}
