package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// fault is a way the test backend fails on command, as a real backend does
// on a bad day.
type fault int32

const (
	faultNone   fault = iota
	faultRefuse       // the listener is closed: connections are refused
	faultHang         // requests get no answer (until the gateway gives up)
	fault503          // 503 Service Unavailable
	fault500          // 500 Internal Server Error
	fault429          // 429 Too Many Requests
	faultReset        // the connection is reset without an answer
	faultRandom       // each request draws one of the failures above, or succeeds
	faultCount
)

var faultNames = [...]string{"none", "refuse", "hang", "503", "500", "429", "reset", "random"}

func (f fault) String() string { return faultNames[f] }

// faults is the backend's failure switch. apply runs first in every request;
// set changes the mode at once (refuse closes the listener; leaving it opens
// it again on the same address).
type faults struct {
	addr    string
	mode    atomic.Int32
	actions atomic.Int32 // bit 0: connects fail, bit 1: disconnects fail
	mu      sync.Mutex
	hangs   chan struct{}
	failed  atomic.Int64
	// randomOK is the share (out of 100) of requests that succeed in faultRandom.
	randomOK int
}

// Which callbacks a fault applies to.
const (
	onConnect    = 1
	onDisconnect = 2
	onBoth       = onConnect | onDisconnect
)

func (b *backend) setFault(f fault, on int) {
	b.faults.set(b, f, on)
}

func (fs *faults) set(b *backend, f fault, on int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	prev := fault(fs.mode.Load())
	fs.actions.Store(int32(on))
	fs.mode.Store(int32(f))
	if prev == faultHang && fs.hangs != nil {
		close(fs.hangs)
		fs.hangs = nil
	}
	if f == faultHang && fs.hangs == nil {
		fs.hangs = make(chan struct{})
	}
	if f == faultRefuse && prev != faultRefuse {
		b.ln.Close() // Serve returns; new connections are refused
		return
	}
	if prev == faultRefuse && f != faultRefuse {
		ln, err := net.Listen("tcp", fs.addr)
		if err != nil {
			b.t.Errorf("backend: listening again on %s: %v", fs.addr, err)
			return
		}
		b.ln = ln
		go func() { _ = b.srv.Serve(ln) }()
	}
}

func (fs *faults) stop() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.hangs != nil {
		close(fs.hangs)
		fs.hangs = nil
	}
}

// apply fails the request if the current mode says so, and reports whether it did.
func (fs *faults) apply(w http.ResponseWriter, r *http.Request, action string) bool {
	f := fault(fs.mode.Load())
	if f == faultNone {
		return false
	}
	bit := int32(onConnect)
	if action == "disconnect" {
		bit = onDisconnect
	}
	if fs.actions.Load()&bit == 0 {
		return false
	}
	if f == faultRandom {
		if rand.N(100) < fs.randomOK {
			return false
		}
		f = fault(faultHang + rand.N(faultRandom-faultHang))
		if f == fault429 && action == "disconnect" {
			f = fault503 // a 429 answers a disconnect (CONTRACT.md section 5); random failures are ones it retries
		}
	}
	fs.failed.Add(1)
	switch f {
	case faultHang:
		fs.mu.Lock()
		ch := fs.hangs
		fs.mu.Unlock()
		select { // ch is nil in faultRandom: only the gateway's timeout ends the wait
		case <-ch:
		case <-r.Context().Done():
		case <-time.After(time.Minute): // bounded: a test never waits longer
		}
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	case fault503, fault500, fault429:
		code := map[fault]int{fault503: 503, fault500: 500, fault429: 429}[f]
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return true
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, http.StatusText(code))
		buf.Flush()
	case faultReset, faultRefuse:
		// faultRefuse: a request that was already in when the listener closed.
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		}
	}
	return true
}
