package ceiling

import (
	"errors"

	"golang.org/x/sys/unix"
)

// responseHead is the SSE answer to every request.
var responseHead = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
	"Connection: keep-alive\r\nX-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n")

// cmdQueue is a loop's command channel capacity (publishes and heartbeats
// are paced by their callers, so this never fills in practice).
const cmdQueue = 64

// command asks a loop to write frame to all its streams (frame nil: stop).
type command struct {
	frame []byte
	reply chan int
}

// Per-descriptor states.
const (
	fdFree   uint8 = iota
	fdHead         // reading the request head (terminator progress in headProg)
	fdStream       // streaming
)

// loop owns one listener, one epoll instance and its sockets.
type loop struct {
	s        *Server
	lfd      int
	epfd     int
	wakefd   int
	limit    int
	paused   bool
	cmds     chan command
	done     chan struct{}
	state    []uint8 // by fd
	headProg []uint8 // by fd: bytes of "\r\n\r\n" matched so far
	pos      []int32 // by fd: index in streams
	streams  []int32
	buf      []byte
	events   []unix.EpollEvent
}

func newLoop(s *Server, lfd, limit int) (*loop, error) {
	l := &loop{s: s, lfd: lfd, limit: limit, cmds: make(chan command, cmdQueue), done: make(chan struct{}),
		buf: make([]byte, readBufferBytes), events: make([]unix.EpollEvent, epollBatch)}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(l.epfd)
		return nil, err
	}
	for _, fd := range []int{lfd, l.wakefd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(l.epfd)
			unix.Close(l.wakefd)
			return nil, err
		}
	}
	return l, nil
}

// post hands a command to the loop; after the loop stopped it answers 0.
func (l *loop) post(c command) {
	select {
	case l.cmds <- c:
		var one = [8]byte{1}
		unix.Write(l.wakefd, one[:])
	case <-l.done:
		if c.reply != nil {
			c.reply <- 0
		}
	}
}

// stop ends the loop and waits for it (only once: later calls just wait).
func (l *loop) stop() {
	l.post(command{})
	<-l.done
}

func (l *loop) run() {
	defer l.shutdown()
	for {
		n, err := unix.EpollWait(l.epfd, l.events, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for i := 0; i < n; i++ {
			switch fd := int(l.events[i].Fd); fd {
			case l.lfd:
				l.accept()
			case l.wakefd:
				var b [8]byte
				unix.Read(l.wakefd, b[:])
			default:
				l.readable(fd)
			}
		}
		if !l.commands() {
			return
		}
	}
}

// commands runs queued commands; false means stop.
func (l *loop) commands() bool {
	for {
		select {
		case c := <-l.cmds:
			if c.frame == nil {
				return false
			}
			c.reply <- l.writeAll(c.frame)
		default:
			return true
		}
	}
}

// writeAll is the bare write loop. A socket that cannot take the whole frame
// at once is closed (a torn frame would corrupt its stream).
func (l *loop) writeAll(frame []byte) int {
	n := 0
	for i := 0; i < len(l.streams); {
		fd := int(l.streams[i])
		w, err := unix.Write(fd, frame)
		if err != nil || w != len(frame) {
			l.s.c.short.Add(1)
			l.closeFD(fd) // swaps the last stream into slot i
			continue
		}
		n++
		i++
	}
	return n
}

func (l *loop) accept() {
	for !l.paused {
		if int(l.s.c.fds.Load()) >= l.limit-fdReserve {
			l.pause()
			return
		}
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				l.pause()
			}
			return
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			continue
		}
		l.grow(fd)
		l.state[fd], l.headProg[fd] = fdHead, 0
		l.s.c.fds.Add(1)
	}
}

// pause stops accepting until a socket closes (level-triggered epoll would
// otherwise spin on a listener it cannot accept from).
func (l *loop) pause() {
	l.paused = true
	l.s.c.paused.Add(1)
	ev := unix.EpollEvent{Fd: int32(l.lfd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, l.lfd, &ev)
}

func (l *loop) resume() {
	if !l.paused {
		return
	}
	l.paused = false
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.lfd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, l.lfd, &ev)
}

func (l *loop) grow(fd int) {
	for len(l.state) <= fd {
		l.state = append(l.state, fdFree)
		l.headProg = append(l.headProg, 0)
		l.pos = append(l.pos, -1)
	}
}

// readable skips request bytes until the end of the head, then starts the
// stream; on a streaming socket a read only detects the peer leaving.
func (l *loop) readable(fd int) {
	if fd >= len(l.state) || l.state[fd] == fdFree {
		return
	}
	n, err := unix.Read(fd, l.buf)
	if err != nil && errors.Is(err, unix.EAGAIN) {
		return
	}
	if err != nil || n == 0 {
		l.closeFD(fd)
		return
	}
	if l.state[fd] == fdHead && l.skipHead(fd, l.buf[:n]) {
		l.startStream(fd)
	}
}

// skipHead advances the end-of-head matcher (CRLF CRLF, or bare LF line
// ends); true at the end of the head. headProg: 1 after CR, 2 after a line
// end, 3 after a line end and CR.
func (l *loop) skipHead(fd int, b []byte) bool {
	m := l.headProg[fd]
	for _, c := range b {
		switch {
		case c == '\r' && m == 2:
			m = 3
		case c == '\r':
			m = 1
		case c == '\n' && (m == 2 || m == 3):
			return true
		case c == '\n':
			m = 2
		default:
			m = 0
		}
	}
	l.headProg[fd] = m
	return false
}

func (l *loop) startStream(fd int) {
	if w, err := unix.Write(fd, responseHead); err != nil || w != len(responseHead) {
		l.closeFD(fd)
		return
	}
	l.state[fd] = fdStream
	l.pos[fd] = int32(len(l.streams))
	l.streams = append(l.streams, int32(fd))
	l.s.c.open.Add(1)
	l.s.c.total.Add(1)
}

// closeFD closes a socket, swap-removing it from the stream list.
func (l *loop) closeFD(fd int) {
	if l.state[fd] == fdStream {
		i, last := l.pos[fd], len(l.streams)-1
		moved := l.streams[last]
		l.streams[i] = moved
		l.pos[moved] = i
		l.streams = l.streams[:last]
		l.pos[fd] = -1
		l.s.c.open.Add(-1)
	}
	l.state[fd] = fdFree
	l.s.c.fds.Add(-1)
	unix.Close(fd)
	l.resume()
}

func (l *loop) shutdown() {
	for fd, st := range l.state {
		if st != fdFree {
			l.closeFD(fd)
		}
	}
	unix.Close(l.lfd)
	unix.Close(l.epfd)
	unix.Close(l.wakefd)
	close(l.done)
	// Answer commands that raced with the stop so no caller waits forever.
	for {
		select {
		case c := <-l.cmds:
			if c.reply != nil {
				c.reply <- 0
			}
		default:
			return
		}
	}
}
