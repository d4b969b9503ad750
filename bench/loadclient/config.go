// Package loadclient holds many SSE streams in one process without a goroutine
// per stream: non-blocking sockets on one or two epoll poller goroutines.
//
// Ownership: each poller goroutine owns its epoll instance, its streams (the
// sockets, their sseparse.Response state) and its histograms; nothing else
// touches them. Other goroutines talk to a poller only through its command
// channel (woken by an eventfd) and read its counters through atomics. A
// Client's exported methods are safe for concurrent use.
//
// Every stream binds a loopback source address from a range before connecting
// (spread over 127.0.0.1-127.0.0.254, with IP_BIND_ADDRESS_NO_PORT so the
// port is picked per 4-tuple), so ephemeral ports never run out. Connects are
// paced (Config.Rate) and bounded in flight; there are no retries. Every
// poller stops by itself after Config.MaxDuration.
package loadclient

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"ssegw/bench/heads"
)

const (
	// MaxStreamsPerProcess is the most streams one process may hold: the hard
	// open-file limit here is 20,000, and the rest is kept for the process's own
	// files, pipes and control connections.
	MaxStreamsPerProcess = 15000
	// MaxPollers bounds poller goroutines: the machine has 2 cores, more would
	// only contend with the server under test.
	MaxPollers = 2
	// MaxGroups is how many stream groups are counted apart (0: the streams a
	// scenario opens first, 1: streams opened later, while load runs).
	MaxGroups = 2
	// MaxInFlight bounds connects waiting for their response head, below the
	// server's listen backlog (somaxconn 4096) so SYNs are not dropped and
	// retried a second later, which would fake a slow accept.
	MaxInFlight = 1024
	// readBufferBytes is the per-poller read buffer shared by its streams.
	readBufferBytes = 256 << 10
	// epollBatch is the most readiness events taken per epoll_wait.
	epollBatch = 512
	// connectBurst bounds connects started per poller iteration so reads are
	// never starved by a long connect phase.
	connectBurst = 64
	// maxIdleWait bounds one epoll_wait so deadlines are checked at least this often.
	maxIdleWait = 50 * time.Millisecond
	// MaxRetryDelay caps the retry delay a shed stream waits before it is
	// re-opened (the gateway's hints are 1-10 s).
	MaxRetryDelay = 30 * time.Second
	// DefaultConnectTimeout bounds a TCP connect.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultHandshakeTimeout bounds the time from connected to response head.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultReconnectDelay is the wait before a ReconnectAll stream that
	// ended without a retry hint is re-opened.
	DefaultReconnectDelay = time.Second
	// DefaultMaxDuration bounds the life of a Client.
	DefaultMaxDuration = 30 * time.Minute
)

var (
	// ErrNotLoopback refuses a non-loopback target without AllowRemote.
	ErrNotLoopback = errors.New("loadclient: target is not a loopback address (use --allow-remote)")
	// ErrTooManyStreams refuses more streams than MaxStreamsPerProcess.
	ErrTooManyStreams = errors.New("loadclient: more streams than one process may hold")
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("loadclient: client closed")
	// ErrBadConfig reports an invalid configuration value.
	ErrBadConfig = errors.New("loadclient: bad configuration")
)

// Config describes the streams a Client opens.
type Config struct {
	Target      netip.AddrPort // IPv4 server address
	AllowRemote bool           // permit a non-loopback Target
	Path        string         // request-target, e.g. "/events?channel=bench"
	Host        string         // Host header; Target when empty
	Headers     []string       // extra header lines, "Name: value"
	// Head, when set, is the whole request head every stream sends instead
	// of the one built from Path, Host and Headers; each stream fills its
	// varying spans with bytes of its own (heads.Template.Vary), as the
	// users of a real fleet differ.
	Head *heads.Template
	// SourceFirst..SourceLast is the loopback source range (default
	// 127.0.0.1-127.0.0.254); SourceOffset shifts where this process starts in it.
	SourceFirst, SourceLast netip.Addr
	SourceOffset            int
	Rate                    float64 // connects per second for the whole Client; 0: no pacing
	ConnectTimeout          time.Duration
	HandshakeTimeout        time.Duration
	MaxDuration             time.Duration
	Pollers                 int
	// ReopenShed re-opens a stream shed by the server (ended after a retry
	// field and before "ready") once its retry delay has passed, as a browser
	// does, in group ReopenGroup; the delay is capped at RetryCap (0 or
	// more than MaxRetryDelay: MaxRetryDelay).
	ReopenShed  bool
	ReopenGroup int
	RetryCap    time.Duration
	// NoRead makes streams stop reading once their response head arrived,
	// like a client that stalls: the server's send buffers fill (for the
	// kernel memory figures of README.md "Sizing").
	NoRead bool
	// ReadyOnOpen counts a stream as ready when its 200 event-stream head
	// arrives: for servers that send no "ready" event (nginx+nchan answers
	// once the subscription is set up), so storm times them the same way.
	ReadyOnOpen bool
	// Track makes every stream a resuming client, as a browser tab's
	// EventSource is: a slot (track.go) that outlives its connections keeps
	// the last event id received and the highest publish sequence ("s=<n>"
	// in the data) seen; a new connection takes a free slot and sends its id
	// as Last-Event-ID. Each event is checked against the slot's sequence
	// (Counters.Lost, Duplicated, Resyncs, Replayed).
	Track bool
	// ReconnectAll re-opens every stream that ends or fails (not only shed
	// ones), in group ReopenGroup, after the server's retry hint (capped at
	// RetryCap), else the slot's last hint, else DefaultReconnectDelay: an
	// EventSource that keeps coming back. Streams closed by CloseGroup are
	// not re-opened.
	ReconnectAll bool
}

// withDefaults fills zero values and validates.
func (c Config) withDefaults() (Config, error) {
	if !c.Target.IsValid() || !c.Target.Addr().Is4() {
		return c, fmt.Errorf("%w: target must be an IPv4 address:port", ErrBadConfig)
	}
	if !c.Target.Addr().IsLoopback() && !c.AllowRemote {
		return c, ErrNotLoopback
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " \r\n") {
		return c, fmt.Errorf("%w: path %q", ErrBadConfig, c.Path)
	}
	if c.Head != nil && !c.Head.Valid() {
		return c, fmt.Errorf("%w: head template", ErrBadConfig)
	}
	if c.Host == "" {
		c.Host = c.Target.String()
	}
	if !c.SourceFirst.IsValid() {
		c.SourceFirst = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !c.SourceLast.IsValid() {
		c.SourceLast = netip.AddrFrom4([4]byte{127, 0, 0, 254})
	}
	if !c.SourceFirst.Is4() || !c.SourceLast.Is4() || c.SourceLast.Less(c.SourceFirst) {
		return c, fmt.Errorf("%w: source range", ErrBadConfig)
	}
	c.ConnectTimeout = orDefault(c.ConnectTimeout, DefaultConnectTimeout)
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.MaxDuration = orDefault(c.MaxDuration, DefaultMaxDuration)
	if c.Pollers <= 0 {
		c.Pollers = 1
	}
	if c.RetryCap <= 0 || c.RetryCap > MaxRetryDelay {
		c.RetryCap = MaxRetryDelay
	}
	if c.Pollers > MaxPollers || c.Rate < 0 || c.ReopenGroup < 0 || c.ReopenGroup >= MaxGroups {
		return c, fmt.Errorf("%w: pollers %d rate %v", ErrBadConfig, c.Pollers, c.Rate)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Validate fills zero values and checks c, as New does.
func (c Config) Validate() (Config, error) { return c.withDefaults() }

// Request is the request every stream sends.
func (c Config) Request() []byte { return c.request() }

// SourceAddrs lists the source address range.
func (c Config) SourceAddrs() [][4]byte { return c.sourceAddrs() }

// request builds the request every stream sends (the template's head as
// captured when Head is set; streams vary it, see poller.requestFor).
func (c Config) request() []byte {
	if c.Head != nil {
		return c.Head.Head
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n", c.Path, c.Host)
	for _, h := range c.Headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// sourceAddrs lists the source range.
func (c Config) sourceAddrs() [][4]byte {
	var out [][4]byte
	for a := c.SourceFirst; a.IsValid() && !c.SourceLast.Less(a); a = a.Next() {
		out = append(out, a.As4())
	}
	return out
}
