package gateway_test

import (
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialInNetns dials addr from inside the network namespace at path: the
// socket is created while this OS thread is in that namespace and stays there.
func dialInNetns(path, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	// The thread is left locked on purpose if restoring fails: the goroutine
	// then exits and the runtime discards the thread instead of reusing it.
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, err
	}
	fd, serr := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if serr == nil {
		serr = connectFD(fd, addr)
	}
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
		runtime.UnlockOSThread()
	}
	if serr != nil {
		return nil, serr
	}
	f := os.NewFile(uintptr(fd), "netns-conn")
	defer f.Close()
	return net.FileConn(f)
}

func connectFD(fd int, addr string) error {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return err
	}
	sa := &unix.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}
