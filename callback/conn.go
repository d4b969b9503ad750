package callback

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Each worker owns at most one keep-alive connection to the backend and does
// its own reads and writes on it: no transport goroutines (net/http's client
// runs two per connection, and each hand-off between them waits for a free P
// while the event loops are busy writing a fan-out), no shared pool to lock.
// Responses are parsed by http.ReadResponse.

// readBufferBytes is each worker's read buffer for response heads and bodies.
const readBufferBytes = 4 << 10

// pipelineReadBufferBytes is a pipelining worker's read buffer: a batch's
// answers arrive together (32 plain answers are about 6 KB), and an answer
// cut at the buffer's end takes the general parser.
const pipelineReadBufferBytes = 16 << 10

// target is the parsed CALLBACK_URL.
type target struct {
	addr    string // host:port to dial
	host    string // Host header
	uri     string // request-target, query kept verbatim
	tls     *tls.Config
	reqHead []byte // the request head up to Content-Length's value
}

func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	t := &target{host: u.Host, uri: u.RequestURI(), addr: u.Host}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname()}
	}
	t.reqHead = []byte("POST " + t.uri + " HTTP/1.1\r\nHost: " + t.host +
		"\r\nUser-Agent: ssegw\r\nContent-Type: application/json\r\nContent-Length: ")
	return t, nil
}

// backendConn is one worker's connection.
type backendConn struct {
	nc  net.Conn
	raw syscall.RawConn // the TCP socket under nc, for the idle check
	br  *bufio.Reader
}

// errAborted means the client is stopping.
var errAborted = errors.New("callback: client stopped")

// conns tracks the connections in use, so Stop can abort them.
type conns struct {
	mu      sync.Mutex
	set     map[net.Conn]struct{}
	stopped bool
}

func (s *conns) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	if s.set == nil {
		s.set = map[net.Conn]struct{}{}
	}
	s.set[c] = struct{}{}
	return true
}

func (s *conns) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.set, c)
	s.mu.Unlock()
}

func (s *conns) abortAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for c := range s.set {
		_ = c.Close()
	}
}

// send posts the requests in reqs (one or, pipelined, several, each a whole
// request) in one write. A kept-alive connection the backend has closed
// meanwhile is noticed before anything is sent (it reads as EOF) and
// replaced, so a request is never sent twice.
func (w *worker) send(reqs []byte, deadline time.Time) error {
	if w.conn.nc != nil && !w.idleAlive() {
		w.closeConn()
	}
	if w.conn.nc == nil {
		if err := w.dial(deadline); err != nil {
			return err
		}
	}
	_ = w.conn.nc.SetDeadline(deadline)
	writes.Inc()
	if _, err := w.conn.nc.Write(reqs); err != nil {
		w.closeConn()
		return err
	}
	return nil
}

// appendRequest appends one callback request (head and body) to dst.
func (t *target) appendRequest(dst, body []byte) []byte {
	dst = append(dst, t.reqHead...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// readResponse reads the answer to the request just sent with the general
// parser (answer.go has the fast path).
func (w *worker) readResponse() (*http.Response, error) {
	resp, err := http.ReadResponse(w.conn.br, nil)
	if err != nil {
		w.closeConn()
		return nil, err
	}
	return resp, nil
}

// idleAlive checks a kept-alive connection without waiting: nothing to read
// (EAGAIN on a non-blocking peek of the socket) means the backend still holds
// it open; EOF, an error or stray bytes mean it must not carry a request.
func (w *worker) idleAlive() bool {
	if w.conn.br.Buffered() > 0 || w.conn.raw == nil {
		return false
	}
	alive := false
	err := w.conn.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = err == unix.EAGAIN
		return true // never wait
	})
	return err == nil && alive
}

func (w *worker) dial(deadline time.Time) error {
	d := net.Dialer{Deadline: deadline, KeepAlive: 30 * time.Second}
	nc, err := d.Dial("tcp", w.c.target.addr)
	if err != nil {
		return err
	}
	w.conn.raw, _ = nc.(*net.TCPConn).SyscallConn()
	if w.c.target.tls != nil {
		tc := tls.Client(nc, w.c.target.tls)
		_ = tc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	if !w.c.live.add(nc) {
		nc.Close()
		return errAborted
	}
	w.conn.nc = nc
	if w.conn.br == nil {
		size := readBufferBytes
		if w.c.opts.Pipeline > 1 {
			size = pipelineReadBufferBytes
		}
		w.conn.br = bufio.NewReaderSize(nc, size)
	} else {
		w.conn.br.Reset(nc)
	}
	return nil
}

func (w *worker) closeConn() {
	if w.conn.nc != nil {
		w.c.live.remove(w.conn.nc)
		_ = w.conn.nc.Close()
		w.conn.nc, w.conn.raw = nil, nil
	}
}

// finish reads what is left of a response body (bounded) so the connection
// can carry the next request, or closes it. announced reports a close the
// backend announced (Connection: close) after a whole answer: it then
// processed no request sent after that one (RFC 9112 section 9.6).
func (w *worker) finish(resp *http.Response) (announced bool) {
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody+1))
	_ = resp.Body.Close()
	if err != nil || n > maxResponseBody || resp.Close {
		w.closeConn()
		return err == nil && n <= maxResponseBody
	}
	return false
}

// receive reads and classifies the answer to the oldest request sent and
// not yet answered. closed reports that the backend announced a close after
// it (the connection is gone and nothing sent after it was processed); an
// error means no answer could be read (the connection is gone too).
func (w *worker) receive(wantBody bool) (res Result, closed bool, err error) {
	a, ok, err := peekAnswer(w.conn.br)
	if ok {
		res = a.result()
		if res.Outcome == Accepted && wantBody && !parseAcceptFast(a.body, &res) {
			parseAcceptBody(a.body, &res)
		}
		_, _ = w.conn.br.Discard(a.size)
		return res, false, nil
	}
	if err != nil {
		w.closeConn()
		return res, false, err
	}
	resp, err := w.readResponse()
	if err != nil {
		return res, false, err
	}
	res = classify(resp)
	if res.Outcome == Accepted && wantBody {
		parseAccept(resp.Body, &res)
	}
	return res, w.finish(resp), nil
}

// failed logs a callback that got no answer and says how it failed.
func (w *worker) failed(err error) Result {
	w.c.logFailure(fmt.Errorf("POST %s: %w", w.c.target.uri, err))
	if isTimeout(err) {
		return Result{Outcome: Timeout}
	}
	return Result{Outcome: Unavailable}
}
