package loop

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReservePortHoldsThePort: a reserved port 0 gets a concrete port that
// no plain listener can take while the reservation lasts (the kernel does
// not hand it out either), that SO_REUSEPORT listeners (the event loops') can
// still bind and accept on, and that is free again after Close.
func TestReservePortHoldsThePort(t *testing.T) {
	r, err := ReservePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if strings.HasSuffix(r.Addr, ":0") || !strings.HasPrefix(r.Addr, "127.0.0.1:") {
		t.Fatalf("reserved %q", r.Addr)
	}
	if ln, err := net.Listen("tcp", r.Addr); err == nil {
		ln.Close()
		t.Fatalf("a plain listener took the reserved port %s", r.Addr)
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("plain listener: %v, want address in use", err)
	}
	// The server binds beside the reservation, as gnet does (SO_REUSEPORT).
	s := New(Options{Addr: r.Addr, EventLoops: 2})
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	select {
	case <-s.Booted():
	case err := <-done:
		t.Fatalf("engine beside the reservation: %v", err)
	}
	c, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatalf("dial the engine: %v", err)
	}
	c.Close()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-done
	r.Close()
	r.Close() // twice is fine
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	ln.Close()
}

// TestReservePortTaken: a port another socket holds is a clear bind error.
func TestReservePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := ReservePort(ln.Addr().String()); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "bind") {
		t.Fatalf("reserve a taken port: %v", err)
	}
	if _, err := ReservePort("127.0.0.1:notaport"); err == nil {
		t.Fatal("bad port accepted")
	}
}

// TestStopAcceptingLeavesAWouldBlock: once the drain has closed the public
// listeners, accept on their descriptors — what gnet does with a readable
// event it already took from epoll — says EAGAIN, which gnet ignores, not an
// error that would end its event loop (a stand-in that does not listen says
// EINVAL); and new connections are refused.
func TestStopAcceptingLeavesAWouldBlock(t *testing.T) {
	r, err := ReservePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := New(Options{Addr: r.Addr, EventLoops: 2})
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	<-s.Booted()
	defer func() { _ = s.Stop(t.Context()); <-done }()
	want := netip.MustParseAddrPort(r.Addr)
	var fds []int
	end := time.Now().Add(5 * time.Second)
	for len(fds) < 2 { // gnet binds the second loop's listener after OnBoot
		if time.Now().After(end) {
			t.Fatalf("listeners found: %v", fds)
		}
		fds = fds[:0]
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && isListenerOf(fd, want) {
				fds = append(fds, fd)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if n := s.stopAccepting(); n != 2 {
		t.Fatalf("closed %d listeners, want 2", n)
	}
	for _, fd := range fds {
		if _, _, err := unix.Accept(fd); err != unix.EAGAIN {
			t.Fatalf("accept on closed listener %d: %v, want EAGAIN", fd, err)
		}
	}
	if c, err := net.Dial("tcp", r.Addr); err == nil {
		c.Close()
		t.Fatal("a connection after the listeners closed")
	}
}

// TestUserTimeoutOnEveryAcceptedSocket: every connection the server
// accepts carries TCP_USER_TIMEOUT, also when the clients connect all at
// once as the server boots.
func TestUserTimeoutOnEveryAcceptedSocket(t *testing.T) {
	r, err := ReservePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const timeoutMS, n = 1234, 150
	s := New(Options{Addr: r.Addr, EventLoops: 2, MaxSockets: 1000, HeaderTimeout: time.Minute, MaxHeaderBytes: 4096,
		TCPUserTimeout: timeoutMS * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	<-s.Booted()
	defer func() { _ = s.Stop(t.Context()); <-done }()
	clients := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], _ = net.Dial("tcp", r.Addr)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	waitUntil(t, "all connections accepted", func() bool { return s.Sockets() == n })
	if got, without := userTimeouts(t, r.Addr, timeoutMS); got != n || without != 0 {
		t.Fatalf("%d accepted sockets, %d of them without TCP_USER_TIMEOUT %d ms", got, without, timeoutMS)
	}
}

// userTimeouts counts this process's connected sockets on addr's port and
// those of them whose TCP_USER_TIMEOUT is not ms.
func userTimeouts(t *testing.T, addr string, ms int) (accepted, without int) {
	t.Helper()
	port := netip.MustParseAddrPort(addr).Port()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getsockname(fd)
		in4, ok := sa.(*unix.SockaddrInet4)
		if err != nil || !ok || in4.Port != int(port) {
			continue
		}
		if _, err := unix.Getpeername(fd); err != nil {
			continue // a listener or the reservation
		}
		accepted++
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); err != nil || v != ms {
			without++
		}
	}
	return accepted, without
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
