package loop

import (
	"net"
	"net/netip"
	"os"
	"strconv"

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
// at a fresh socket that never listens (dup3 replaces it atomically): the
// listening socket is closed, which takes it out of gnet's epoll set, and
// gnet's later close at Stop closes the stand-in. Connections still in the
// closed socket's accept queue are reset by the kernel; their clients retry.
// It returns how many listeners it closed.
func (s *Server) stopAccepting() int {
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
		s.log.Warn("drain: cannot list descriptors; the public listener stays open", "err", err)
		return 0
	}
	closed := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || !isListenerOf(fd, want) {
			continue
		}
		stand, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
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
