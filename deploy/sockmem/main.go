// Command sockmem measures what the kernel spends per idle TCP socket on
// this machine, for the kernel settings in deploy/sysctl.d (README,
// "Deployment"): it opens n loopback connections (2n sockets: both ends live
// in this process, each registered with epoll by Go's netpoller, as the
// gateway's gnet loops register theirs), and reports the growth of
// /proc/net/sockstat and of the kernel's slab caches (/proc/slabinfo, which
// needs root) per socket. Then it writes one small message on each
// connection without reading it, and reports the socket buffer memory that
// one unread message costs (sockstat's TCP "mem", in pages).
//
// It is a measurement: run it alone (`/work/helpers/measure go run
// ./deploy/sockmem` on the shared machine), on loopback only, bounded by n
// (2n descriptors must fit the open-file limit) and by -timeout.
//
// Everything runs on the main goroutine plus one accept goroutine; all
// sockets are closed before it exits.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults: 8,000 connections are 16,000 descriptors, under the 20,000 a
// process may hold on the shared machine, and enough that the slab figures
// rise well above their noise.
const (
	defaultConns   = 8000
	defaultPayload = 64
	defaultTimeout = 2 * time.Minute
	// settle is how long the kernel is given to finish its accounting
	// (deferred frees of the previous run, per-CPU slab caches) before a
	// reading.
	settle = 500 * time.Millisecond
	// pageSize is the unit of sockstat's "mem" fields.
	pageSize = 4096
)

var errTimeout = errors.New("sockmem: timed out")

func main() {
	n := flag.Int("n", defaultConns, "loopback connections to open (2n sockets)")
	payload := flag.Int("payload", defaultPayload, "bytes of the unread message written on each connection")
	timeout := flag.Duration("timeout", defaultTimeout, "bound on the whole run")
	flag.Parse()
	if err := run(*n, *payload, *timeout, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sockmem:", err)
		os.Exit(1)
	}
}

// reading is one look at the kernel's accounting.
type reading struct {
	sockets, tcpInuse, tcpMemPages int64
	slab                           map[string]int64 // cache -> bytes of its slabs
	slabOK                         bool
}

func run(n, payload int, timeout time.Duration, out io.Writer) error {
	deadline := time.Now().Add(timeout)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	time.Sleep(settle)
	before, err := read()
	if err != nil {
		return err
	}
	var clients, servers []net.Conn
	defer func() {
		for _, c := range append(clients, servers...) {
			c.Close()
		}
	}()
	for len(clients) < n {
		if time.Now().After(deadline) {
			return errTimeout
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return fmt.Errorf("dial #%d: %w", len(clients)+1, err)
		}
		clients = append(clients, c)
	}
	for len(servers) < n {
		select {
		case c := <-accepted:
			servers = append(servers, c)
		case <-time.After(time.Until(deadline)):
			return errTimeout
		}
	}
	time.Sleep(settle)
	idle, err := read()
	if err != nil {
		return err
	}
	msg := make([]byte, payload)
	for _, c := range servers {
		if _, err := c.Write(msg); err != nil {
			return err
		}
	}
	time.Sleep(settle)
	loaded, err := read()
	if err != nil {
		return err
	}
	report(out, n, payload, before, idle, loaded)
	return nil
}

func report(w io.Writer, n, payload int, before, idle, loaded reading) {
	socks := float64(2 * n)
	fmt.Fprintf(w, "%d loopback connections = %.0f sockets (both ends in this process, each in epoll)\n", n, socks)
	fmt.Fprintf(w, "sockstat: sockets used +%d, TCP inuse +%d, TCP mem +%d pages while idle\n",
		idle.sockets-before.sockets, idle.tcpInuse-before.tcpInuse, idle.tcpMemPages-before.tcpMemPages)
	if idle.slabOK {
		type delta struct {
			name  string
			bytes int64
		}
		var ds []delta
		var total int64
		for name, b := range idle.slab {
			if d := b - before.slab[name]; d != 0 {
				ds = append(ds, delta{name, d})
				total += d
			}
		}
		slices.SortFunc(ds, func(a, b delta) int { return int(b.bytes - a.bytes) })
		fmt.Fprintf(w, "slab growth per idle socket: %.0f B in all caches\n", float64(total)/socks)
		for _, d := range ds {
			if per := float64(d.bytes) / socks; per >= 8 || per <= -8 {
				fmt.Fprintf(w, "  %-20s %6.0f B\n", d.name, per)
			}
		}
	} else {
		fmt.Fprintln(w, "slab figures need root (/proc/slabinfo); run as root for them")
	}
	fmt.Fprintf(w, "one unread %d-byte message per connection: TCP mem +%d pages = %.0f B per connection\n", payload,
		loaded.tcpMemPages-idle.tcpMemPages, float64((loaded.tcpMemPages-idle.tcpMemPages)*pageSize)/float64(n))
}

func read() (reading, error) {
	r := reading{}
	f, err := os.Open("/proc/net/sockstat")
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 3 && fields[0] == "sockets:":
			r.sockets, _ = strconv.ParseInt(fields[2], 10, 64)
		case len(fields) >= 11 && fields[0] == "TCP:":
			r.tcpInuse, _ = strconv.ParseInt(fields[2], 10, 64)
			r.tcpMemPages, _ = strconv.ParseInt(fields[10], 10, 64)
		}
	}
	r.slab, err = readSlab()
	r.slabOK = err == nil
	return r, nil
}

// readSlab returns the bytes of each slab cache's slabs (num_slabs x
// pagesperslab pages): what the cache holds from the page allocator.
func readSlab() (map[string]int64, error) {
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 16 || strings.HasPrefix(fields[0], "#") || fields[0] == "slabinfo" {
			continue
		}
		pagesPerSlab, _ := strconv.ParseInt(fields[5], 10, 64)
		numSlabs, _ := strconv.ParseInt(fields[14], 10, 64)
		out[fields[0]] = numSlabs * pagesPerSlab * pageSize
	}
	return out, sc.Err()
}
