package loadclient

import (
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"ssegw/bench/sseparse"
)

type streamState uint8

const (
	stConnecting streamState = iota // connect in progress
	stWriting                       // request partly written
	stAwaitHead                     // request sent, waiting for the response head
	stOpen                          // 200 head received, reading events
	stClosed
)

// readyEvent is the event name the gateway sends once a stream is accepted.
var readyEvent = []byte("ready")

// stream is one SSE connection; owned by its poller goroutine.
type stream struct {
	p        *poller
	fd       int
	group    uint8
	state    streamState
	req      []byte // the request this stream sends
	reqOff   int
	started  time.Time
	lastBeat int64 // monotonic nanos since started of the last comment, 0: none
	ready    bool  // the "ready" event arrived
	now      time.Time
	resp     sseparse.Response
	slot     *slot // Config.Track: the resuming client this connection serves
	resumed  bool  // sent Last-Event-ID
}

// connect starts one non-blocking connect from the next source address.
func (p *poller) connect(g int, now time.Time) {
	live := &p.live[g]
	fd, err := p.dial()
	if err != nil {
		live.connectErr.Add(1)
		p.reconnectLater(-1, nil)
		return
	}
	s := &stream{p: p, fd: fd, group: uint8(g), started: now, req: p.requestFor()}
	s.resp.Reset(s)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		live.connectErr.Add(1)
		p.reconnectLater(-1, nil)
		return
	}
	if p.cfg.Track {
		p.trackStart(s, g)
	}
	for len(p.streams) <= fd {
		p.streams = append(p.streams, nil)
	}
	p.streams[fd] = s
	p.inFlight++
	p.connectQ = append(p.connectQ, deadlineEntry{s, now.Add(p.cfg.ConnectTimeout)})
}

// requestFor is the request of the next stream: the shared one, or a copy
// of the head template with this stream's own bytes in its spans.
func (p *poller) requestFor() []byte {
	if p.cfg.Head == nil || len(p.cfg.Head.Spans) == 0 {
		return p.req
	}
	return p.cfg.Head.Vary(nil, p.rng)
}

// dial creates the socket, binds the source address and starts the connect.
func (p *poller) dial() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if !p.cfg.AllowRemote || p.cfg.Target.Addr().IsLoopback() {
		idx := (p.cfg.SourceOffset + p.id + p.opened*p.cfg.Pollers) % len(p.srcs)
		p.opened++
		unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: p.srcs[idx]}); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	sa := &unix.SockaddrInet4{Port: int(p.cfg.Target.Port()), Addr: p.cfg.Target.Addr().As4()}
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// handle dispatches one readiness event.
func (p *poller) handle(ev unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == p.wakefd {
		var b [8]byte
		unix.Read(p.wakefd, b[:])
		return
	}
	if fd >= len(p.streams) || p.streams[fd] == nil {
		return
	}
	s := p.streams[fd]
	if s.state == stConnecting || s.state == stWriting {
		if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			p.writable(s)
		}
		if s.state == stConnecting || s.state == stWriting {
			return
		}
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		p.readable(s)
	}
}

// writable completes the connect and writes the request.
func (p *poller) writable(s *stream) {
	live := &p.live[s.group]
	if s.state == stConnecting {
		soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil || soerr != 0 {
			p.fail(s, &live.connectErr)
			return
		}
		s.state = stWriting
		p.headQ = append(p.headQ, deadlineEntry{s, time.Now().Add(p.cfg.HandshakeTimeout)})
	}
	n, err := unix.Write(s.fd, s.req[s.reqOff:])
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			p.fail(s, &live.connectErr)
		}
		return
	}
	s.reqOff += n
	if s.reqOff < len(s.req) {
		return
	}
	s.state = stAwaitHead
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(s.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, s.fd, &ev); err != nil {
		p.fail(s, &live.connectErr)
	}
}

// readable reads once (level-triggered: more data wakes us again) and feeds
// the bytes to the stream's parser.
func (p *poller) readable(s *stream) {
	live := &p.live[s.group]
	n, err := unix.Read(s.fd, p.buf)
	if err != nil && errors.Is(err, unix.EAGAIN) {
		return
	}
	if err != nil || n == 0 {
		p.ended(s)
		return
	}
	live.bytes.Add(int64(n))
	s.now = time.Now()
	gotHead, perr := s.resp.Feed(p.buf[:n])
	if gotHead {
		p.headArrived(s)
		if s.state != stOpen {
			return
		}
	}
	if perr != nil {
		p.ended(s)
		return
	}
	if s.resp.BodyDone() {
		p.ended(s)
	}
}

func (p *poller) headArrived(s *stream) {
	live := &p.live[s.group]
	if s.resp.Head.Status != 200 {
		p.fail(s, &live.badStatus)
		return
	}
	if !s.resp.Head.EventStream {
		p.fail(s, &live.protocolErr) // a 200 that is not an event stream
		return
	}
	s.state = stOpen
	p.inFlight--
	live.opened.Add(1)
	live.active.Add(1)
	p.hists[s.group].open.Record(int64(s.now.Sub(s.started)))
	if p.cfg.ReadyOnOpen {
		live.ready.Add(1)
		s.ready = true
		p.hists[s.group].ready.Record(int64(s.now.Sub(s.started)))
	}
	if p.cfg.NoRead { // read no more: only a hang-up wakes us
		ev := unix.EpollEvent{Events: unix.EPOLLRDHUP, Fd: int32(s.fd)}
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, s.fd, &ev)
	}
}

// ended handles EOF, a read error or a protocol error.
func (p *poller) ended(s *stream) {
	if s.state == stOpen {
		p.live[s.group].serverClosed.Add(1)
		r := s.resp.Parser.Retry()
		shed := !s.ready && r >= 0
		if shed {
			p.live[s.group].shed.Add(1)
			if p.cfg.ReopenShed && !p.cfg.ReconnectAll {
				p.retryQ.push(time.Now().Add(min(time.Duration(r)*time.Millisecond, p.cfg.RetryCap)))
			}
		}
		if s.slot != nil && r >= 0 {
			s.slot.retry = r
		}
		p.reconnectLater(r, s.slot)
		p.live[s.group].active.Add(-1)
		s.state = stClosed
		p.drop(s)
		return
	}
	p.fail(s, &p.live[s.group].protocolErr)
}

// fail ends a stream that never opened, counting the cause.
func (p *poller) fail(s *stream, cause *atomic.Int64) {
	if s.state == stClosed {
		return
	}
	if s.state == stOpen {
		p.ended(s)
		return
	}
	cause.Add(1)
	p.inFlight--
	s.state = stClosed
	p.reconnectLater(-1, s.slot)
	p.drop(s)
}

// reconnectLater schedules a re-open of a stream that ended or failed
// (Config.ReconnectAll; hint is its retry hint in ms, -1: none).
func (p *poller) reconnectLater(hint int64, sl *slot) {
	if p.cfg.ReconnectAll && !p.stopping {
		p.retryQ.push(time.Now().Add(p.reconnectDelay(hint, sl)))
	}
}

// closeStream closes a stream at shutdown (not counted as a server close).
func (p *poller) closeStream(s *stream) {
	switch s.state {
	case stOpen:
		p.live[s.group].active.Add(-1)
	case stClosed:
	default:
		p.inFlight--
	}
	s.state = stClosed
	p.releaseSlot(s)
	unix.Close(s.fd)
}

// closeGroup closes every stream of group g (open or still connecting) and
// forgets the ones not started yet; they count as ClientClosed. Closing the
// re-open group also forgets the re-opens still waiting for their delay.
func (p *poller) closeGroup(g int) {
	live := &p.live[g]
	if g == p.cfg.ReopenGroup {
		p.retryQ = p.retryQ[:0]
	}
	live.clientClosed.Add(int64(p.todo[g]))
	p.todo[g] = 0
	for _, s := range p.streams {
		if s == nil || int(s.group) != g || s.state == stClosed {
			continue
		}
		p.closeStream(s)
		p.streams[s.fd] = nil
		live.clientClosed.Add(1)
	}
}

// drop unregisters and closes the socket.
func (p *poller) drop(s *stream) {
	p.streams[s.fd] = nil
	p.releaseSlot(s)
	unix.Close(s.fd) // closing removes it from the epoll set
}

// OnEvent is the sseparse.Handler callback (poller goroutine).
func (s *stream) OnEvent(ev *sseparse.Event) {
	live, h := &s.p.live[s.group], &s.p.hists[s.group]
	if s.slot != nil && len(ev.ID) > 0 { // an EventSource keeps the id of any event
		s.slot.lastID = append(s.slot.lastID[:0], ev.ID...)
	}
	if string(ev.Type) == string(readyEvent) {
		live.ready.Add(1)
		s.ready = true
		h.ready.Record(int64(s.now.Sub(s.started)))
		return
	}
	live.events.Add(1)
	if s.slot != nil {
		s.track(ev, live)
	}
	if ts, ok := sseparse.Timestamp(ev.Data); ok {
		live.timestamped.Add(1)
		h.latency.Record(s.now.UnixNano() - ts)
	}
}

// OnComment is the sseparse.Handler callback (poller goroutine).
func (s *stream) OnComment([]byte) {
	s.p.live[s.group].heartbeats.Add(1)
	at := int64(s.now.Sub(s.started))
	if s.lastBeat != 0 {
		s.p.hists[s.group].heartbeat.Record(at - s.lastBeat)
	}
	s.lastBeat = at
}

// retryQueue is a min-heap of re-open times (poller goroutine only).
type retryQueue []time.Time

func (q *retryQueue) push(t time.Time) {
	*q = append(*q, t)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].Before(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *retryQueue) pop() {
	h := *q
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < n && h[l].Before(h[small]) {
			small = l
		}
		if r := l + 1; r < n && h[r].Before(h[small]) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	*q = h
}

// reopenDue turns re-opens whose delay passed into streams to open.
func (p *poller) reopenDue(now time.Time) {
	g := p.cfg.ReopenGroup
	for len(p.retryQ) > 0 && !now.Before(p.retryQ[0]) {
		p.retryQ.pop()
		p.todo[g]++
		p.live[g].requested.Add(1)
		p.live[g].reopened.Add(1)
	}
}
