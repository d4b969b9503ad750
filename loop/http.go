package loop

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"ssegw/httpparse"
	"ssegw/sse"
)

// corsHeaders go on every public response.
const corsHeaders = "Access-Control-Allow-Origin: *\r\n" +
	"Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n" +
	"Access-Control-Allow-Headers: Content-Type, Cache-Control, Last-Event-ID\r\n"

// sseHeaders1 and sseHeaders0 are the whole SSE response head for HTTP/1.1
// (chunked) and HTTP/1.0 (close-delimited).
const (
	sseHeaders1 = "HTTP/1.1 200 OK\r\n" + corsHeaders +
		"Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n" +
		"X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n"
	sseHeaders0 = "HTTP/1.1 200 OK\r\n" + corsHeaders +
		"Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n" +
		"X-Accel-Buffering: no\r\n\r\n"
	// lastChunk ends a chunked body.
	lastChunk = "0\r\n\r\n"
)

// startHead gets a connection ready to read a request head and arms its
// deadline (from accept, or from the end of the previous response).
func (ls *loopState) startHead(cs *conn, now int64) {
	cs.state = stHead
	cs.flags = 0 // per-request flags; a previous stream has settled its debts by now
	if cs.parser == nil {
		cs.parser = ls.getParser()
	}
	cs.parser.Reset(httpparse.Limits{MaxHeadBytes: ls.srv.opts.MaxHeaderBytes})
	ls.setTimer(cs, now, ls.srv.opts.HeaderTimeout, tkHead)
}

func (ls *loopState) getParser() *httpparse.Parser {
	if n := len(ls.parsers); n > 0 {
		p := ls.parsers[n-1]
		ls.parsers = ls.parsers[:n-1]
		return p
	}
	return new(httpparse.Parser)
}

// maxPooledParsers bounds the parsers a loop keeps for reuse: enough for a
// connect storm's heads in flight, without holding memory for 100k idle streams.
const maxPooledParsers = 1024

func (ls *loopState) putParser(cs *conn) {
	if cs.parser != nil && len(ls.parsers) < maxPooledParsers {
		ls.parsers = append(ls.parsers, cs.parser)
	}
	cs.parser = nil
}

// readHeads parses request heads as bytes arrive and answers each complete one;
// pipelined requests are answered in order.
func (ls *loopState) readHeads(cs *conn) {
	for cs.state == stHead {
		buf, _ := cs.c.Peek(-1)
		if len(buf) == 0 {
			return
		}
		n, err := cs.parser.Parse(buf)
		if err != nil {
			ls.badRequest(cs, err)
			return
		}
		if n == 0 {
			return // incomplete: gnet keeps the bytes for the next read
		}
		ls.handleRequest(cs, buf[:n], ls.now())
		_, _ = cs.c.Discard(n)
	}
	if cs.state == stPending || cs.state == stStream {
		ls.discardAfterHead(cs)
	}
}

// discardAfterHead drops bytes a client sends once its stream is open; a
// browser sends none, so past a bound it is a protocol error.
func (ls *loopState) discardAfterHead(cs *conn) {
	n, _ := cs.c.Discard(-1)
	cs.inbound = uint16(min(int(cs.inbound)+n, maxInboundAfterHead+1))
	if cs.inbound > maxInboundAfterHead {
		ls.closeNow(cs, ReasonError)
	}
}

// badRequest answers a head the parser refused, then closes.
func (ls *loopState) badRequest(cs *conn, err error) {
	status := httpparse.Status(err)
	code := "BAD_REQUEST"
	switch status {
	case 431:
		code = "HEADERS_TOO_LARGE"
	case 414:
		code = "URI_TOO_LONG"
	case 505:
		code = "HTTP_VERSION_NOT_SUPPORTED"
	}
	badRequests.Inc()
	ls.respondError(cs, status, code, strings.TrimPrefix(err.Error(), "httpparse: "), false)
}

// headTimeout closes a connection whose request head did not arrive in time.
func (ls *loopState) headTimeout(cs *conn) {
	if cs.state != stHead {
		return
	}
	headTimeouts.Inc()
	buffered := cs.c.InboundBuffered()
	if buffered > 0 {
		// Part of a request came: tell the client why (408), if it still listens.
		ls.respondError(cs, 408, "REQUEST_TIMEOUT", "Request head not received in time", false)
		return
	}
	ls.closeNow(cs, ReasonNone)
}

// handleRequest routes one complete request head.
func (ls *loopState) handleRequest(cs *conn, head []byte, now int64) {
	req := cs.parser.Request()
	keep := req.KeepAlive
	if keep {
		cs.set(fKeepAlive)
	}
	path := pathOf(req.Target.In(head))
	switch {
	case req.IsMethod(head, "OPTIONS"):
		ls.respond(cs, 204, "", "", nil, keep, now)
	case !req.IsMethod(head, "GET") && !req.IsMethod(head, "HEAD"):
		ls.respond(cs, 405, "Allow: GET, HEAD, OPTIONS\r\n", jsonCT,
			errorBody("Method not allowed", "METHOD_NOT_ALLOWED"), keep, now)
	case req.ContentLength > 0 || req.Chunked:
		ls.respondError(cs, 400, "BAD_REQUEST", "A GET request must not have a body", false)
	case bytes.Equal(path, []byte("/healthz")):
		ls.respondBody(cs, req, head, 200, []byte(`{"status":"ok"}`), keep, now)
	case bytes.Equal(path, []byte("/readyz")):
		status, body := ls.srv.readyzBody()
		ls.respondBody(cs, req, head, status, body, keep, now)
	case bytes.Equal(path, []byte("/internal")) || bytes.HasPrefix(path, []byte("/internal/")):
		ls.respondBody(cs, req, head, 404, errorBody("Not found", "NOT_FOUND"), keep, now)
	case req.IsMethod(head, "HEAD"):
		ls.headSSE(cs, req, keep, now)
	default:
		ls.openStream(cs, req, head, now)
	}
}

// headSSE answers HEAD on a stream path: the SSE headers, no body, no callback.
func (ls *loopState) headSSE(cs *conn, req *httpparse.Request, keep bool, now int64) {
	h := sseHeaders1
	if req.Version == httpparse.HTTP10 {
		h, keep = sseHeaders0, false
	}
	_, _ = cs.c.Write([]byte(h))
	ls.afterResponse(cs, keep, now)
}

// pathOf is the path of a request-target, for routing: the query is dropped,
// and an absolute-form target (http://host/path) is routed on its path.
func pathOf(target []byte) []byte {
	if len(target) > 0 && target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i >= 0 {
			rest := target[i+3:]
			if j := bytes.IndexByte(rest, '/'); j >= 0 {
				target = rest[j:]
			} else {
				target = []byte("/")
			}
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}

const jsonCT = "application/json; charset=utf-8"

// errorBody is the contract's error JSON.
func errorBody(message, code string) []byte {
	b := append([]byte(`{"error":{"message":`), sse.AppendJSONString(nil, message)...)
	b = append(b, `,"code":`...)
	b = sse.AppendJSONString(b, code)
	return append(b, "}}"...)
}

// respondBody answers GET or HEAD with a JSON body (HEAD gets the headers only).
func (ls *loopState) respondBody(cs *conn, req *httpparse.Request, head []byte, status int, body []byte, keep bool, now int64) {
	if req.IsMethod(head, "HEAD") {
		ls.respondHead(cs, status, jsonCT, len(body), keep, now)
		return
	}
	ls.respond(cs, status, "", jsonCT, body, keep, now)
}

// respondError answers with the error JSON; with keep false it then closes.
func (ls *loopState) respondError(cs *conn, status int, code, message string, keep bool) {
	ls.respond(cs, status, "", jsonCT, errorBody(message, code), keep, ls.now())
}

// respond writes a complete non-SSE response and then either waits for the
// next request (keep-alive) or closes once the bytes are out.
func (ls *loopState) respond(cs *conn, status int, extra, ctype string, body []byte, keep bool, now int64) {
	b := appendStatusLine(nil, status)
	b = append(b, corsHeaders...)
	b = append(b, extra...)
	if ctype != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, ctype...)
		b = append(b, "\r\n"...)
	}
	if status != 204 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	_, _ = cs.c.Write(b)
	ls.afterResponse(cs, keep, now)
}

func (ls *loopState) respondHead(cs *conn, status int, ctype string, n int, keep bool, now int64) {
	b := appendStatusLine(nil, status)
	b = append(b, corsHeaders...)
	b = append(b, "Content-Type: "+ctype+"\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\n"...)
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	_, _ = cs.c.Write(b)
	ls.afterResponse(cs, keep, now)
}

func appendStatusLine(b []byte, status int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	return append(b, "\r\n"...)
}

// afterResponse either reads the next request or closes after the bytes.
func (ls *loopState) afterResponse(cs *conn, keep bool, now int64) {
	if cs.state == stClosed {
		return
	}
	if keep {
		ls.startHead(cs, now)
		return
	}
	ls.closeAfterFlush(cs, ReasonNone, now)
}

// readyzBody is the /readyz answer, shared by both ports.
func (s *Server) readyzBody() (int, []byte) {
	ok, reasons := s.Ready()
	if ok {
		return 200, []byte(`{"status":"ready","configured":true}`)
	}
	b := []byte(`{"status":"not_ready","configured":`)
	b = strconv.AppendBool(b, s.opts.CallbackConfigured)
	b = append(b, `,"reasons":[`...)
	for i, r := range reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = sse.AppendJSONString(b, r)
	}
	return 503, append(b, "]}"...)
}

// ReadyzBody exposes the /readyz answer to the control port.
func (s *Server) ReadyzBody() (int, []byte) { return s.readyzBody() }
