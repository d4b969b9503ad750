package loop

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"github.com/panjf2000/gnet/v2/pkg/socket"
	"golang.org/x/sys/unix"
)

// stopAccepting closes the public listeners at the start of a drain
// (CONTRACT.md section 8: "the public listener stops accepting"), so a load
// balancer or a proxy in front moves new streams to another gateway at once
// instead of meeting this one's shed answers, and, with SO_REUSEPORT, the
// kernel hands new connections to the other gateway processes on the port.
//
// gnet has no call for it, and its accept loop takes any accept error as
// fatal, so the listeners cannot be shut down under it. Instead each
// listening socket of the public address (one per loop, SO_REUSEPORT) is
// found among the process's descriptors and its descriptor number is pointed
// at a stand-in socket that never gets a connection (standIn; dup3 replaces
// it atomically): the listening socket is closed, which takes it out of
// gnet's epoll set, and gnet's later close at Stop closes the stand-in. Connections still in the
// closed socket's accept queue are reset by the kernel; their clients retry.
// It returns how many listeners it closed.
func (s *Server) stopAccepting() int {
	fds, err := s.publicListeners()
	if err != nil {
		s.log.Warn("drain: cannot list descriptors; the public listener stays open", "err", err)
		return 0
	}
	closed := 0
	for _, fd := range fds {
		stand, err := standIn()
		if err != nil {
			continue
		}
		if unix.Dup3(stand, fd, unix.O_CLOEXEC) == nil {
			closed++
		}
		_ = unix.Close(stand)
	}
	return closed
}

// publicListeners finds the listening sockets of the public address (one
// per loop, SO_REUSEPORT) among the process's descriptors: gnet does not
// hand them out.
func (s *Server) publicListeners() ([]int, error) {
	want, err := netip.ParseAddrPort(s.opts.Addr)
	if err != nil {
		host, port, _ := net.SplitHostPort(s.opts.Addr)
		p, _ := strconv.Atoi(port)
		ip := netip.IPv4Unspecified()
		if a, err := netip.ParseAddr(host); err == nil {
			ip = a
		}
		want = netip.AddrPortFrom(ip, uint16(p))
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && isListenerOf(fd, want) {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}

// standIn is the socket a closed listener's descriptor is pointed at: a
// non-blocking, listening Unix socket under an autobound abstract name that
// nobody knows, so no connection ever arrives and accept says EAGAIN. gnet
// may already hold a readable event of the closed listener from the same
// epoll_wait: its accept then meets the stand-in, and any error but EAGAIN
// (a socket that does not listen answers EINVAL) would end the event loop,
// and with it the drain.
func standIn() (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// An empty name binds the socket to a fresh abstract address.
	if err := unix.Bind(fd, &unix.SockaddrUnix{}); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 1); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// isListenerOf reports whether fd is a listening TCP socket bound to want.
func isListenerOf(fd int, want netip.AddrPort) bool {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	var got netip.AddrPort
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		got = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		got = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	default:
		return false
	}
	return got.Port() == want.Port() && (got.Addr() == want.Addr().Unmap() ||
		(want.Addr().IsUnspecified() && got.Addr().IsUnspecified()))
}

// Reservation holds the public address's port for the server's whole life: a
// socket bound to it with SO_REUSEPORT (and not SO_REUSEADDR, which would let
// any SO_REUSEADDR socket bind beside a socket that is not listening) that
// never listens, so it takes no connection (the kernel routes only to
// listening sockets), the event loops' SO_REUSEPORT listeners bind beside it,
// no other socket can bind the port, and the kernel hands it out neither for
// port 0 nor as a connection's source port.
//
// Why: with SO_REUSEPORT every event loop binds its own listener, gnet binds
// them one after the other (the later ones after OnBoot), and a port chosen
// by the kernel for ":0" must be the same for all of them. Probing a free
// port and closing it before gnet binds left a window in which another socket
// could take it; and gnet reports a failed bind of its listener as
// "setsockopt: bad file descriptor" (it sets TCP keepalive on the descriptor
// its failed open already closed, hiding the bind error). ReservePort binds
// first, so a taken port is a clear "bind: address already in use", and holds
// the port until Close.
type Reservation struct {
	fd   int
	once sync.Once
	// Addr is host:port with the port the kernel chose for port 0.
	Addr string
}

// ReservePort binds addr (host:port, port 0 for any) as gnet will bind it.
func ReservePort(addr string) (*Reservation, error) {
	sa, family, tcpAddr, ipv6only, err := socket.GetTCPSockAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := reserve(fd, sa, ipv6only); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	r := &Reservation{fd: fd, Addr: addr}
	if tcpAddr.Port == 0 {
		bound, err := unix.Getsockname(fd)
		if err != nil {
			r.Close()
			return nil, os.NewSyscallError("getsockname", err)
		}
		host, _, _ := net.SplitHostPort(addr)
		r.Addr = net.JoinHostPort(host, strconv.Itoa(sockaddrPort(bound)))
	}
	return r, nil
}

func reserve(fd int, sa unix.Sockaddr, ipv6only bool) error {
	if ipv6only {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return os.NewSyscallError("bind", unix.Bind(fd, sa))
}

func sockaddrPort(sa unix.Sockaddr) int {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return 0
}

// Close gives the port up (after the engine has stopped). Safe to call more
// than once.
func (r *Reservation) Close() {
	r.once.Do(func() { _ = unix.Close(r.fd) })
}
