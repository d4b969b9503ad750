package loop

import (
	"github.com/panjf2000/gnet/v2"

	"ssegw/callback"
	"ssegw/httpparse"
	"ssegw/wheel"
)

// state is where a connection is in its life.
type state uint8

const (
	stHead    state = iota // reading a request head
	stPending              // SSE request in, connect callback in flight
	stStream               // streaming: ready sent, heartbeats armed
	stClosing              // ending: waiting for the kernel to take the last bytes
	stClosed               // gnet closed it (OnClose ran)
)

var stateNames = [...]string{"head", "pending", "stream", "closing", "closed"}

func (s state) String() string { return stateNames[s] }

// Reason is why a stream ended, as the disconnect callback names it.
type Reason uint8

const (
	ReasonNone         Reason = iota
	ReasonClientClosed        // the client went away
	ReasonServerClosed        // a close command or shutdown
	ReasonError               // write failure, slow consumer, protocol error
)

var reasonNames = [...]string{"", "client_closed", "server_closed", "error"}

func (r Reason) String() string { return reasonNames[r] }

// conn is one connection's state. It lives on its loop's goroutine only (see
// the package doc); other goroutines reach it only by posting ops that carry
// its token (or, for connect results, its pointer) back to the loop.
type conn struct {
	c       gnet.Conn
	head    []byte // exact-size copy of the SSE request head (for callbacks)
	token   token
	slot    uint32      // index in the loop's slab; wheel payloads carry it
	timer   wheel.Timer // head deadline, heartbeat or linger (one at a time)
	wtimer  wheel.Timer // write-progress deadline
	wmark   int32       // unsent bytes when the write-progress timer was armed
	state   state
	flags   connFlags
	reason  Reason // why we are closing it (set before we close)
	inbound uint16 // bytes received after the SSE head (saturating; see maxInboundAfterHead)
	parser  *httpparse.Parser
	opened  int64    // when the SSE request came in (ns since the server's epoch), for /internal/streams
	subs    []subRef // channel bindings
}

// connFlags are small booleans packed into two bytes.
type connFlags uint16

const (
	fChunked    connFlags = 1 << iota // HTTP/1.1 stream: chunked framing
	fKeepAlive                        // the connection may serve another request after this one
	fOwesDisc                         // connect callback returned 2xx, disconnect not yet sent
	fGone                             // the client left while the connect callback was pending
	fStream                           // counted in the open-stream gauge
	fRegistered                       // commands may reach it by token
	fShedLinger                       // shed at accept: half-closed, waiting for the client's FIN
	fFlushing                         // closing with bytes still queued: counted in Server.flushing
	fSetup                            // accepted, headers out, ready waits for setup work (setup.go)
	fQueue                            // has a RabbitMQ queue (queues.go): Close it when the stream ends
)

func (cs *conn) has(f connFlags) bool { return cs.flags&f != 0 }
func (cs *conn) set(f connFlags)      { cs.flags |= f }
func (cs *conn) clear(f connFlags)    { cs.flags &^= f }

// pending holds what a stream needs only while its connect callback is in
// flight, and then while its setup work runs (setup.go): sends that arrived
// meanwhile (and, in setup, deliveries from its queue), replayed in order
// after a 2xx and after the setup. It lives in the loop's pending map, keyed
// by slab slot, not in the conn: most of a stream's life it is not needed.
type pending struct {
	job      callback.Job    // the connect callback (openStream); its Ctx is this entry
	result   callback.Result // its answer, written by the worker before it posts (connectDone)
	cs       *conn           // whose entry it is
	ops      []op
	closeReq bool // a buffered close: later buffered items are dropped
	setup    int8 // setup tasks still running (fSetup)
	// The request's Last-Event-ID, kept only with history on (resume.go).
	lastEventID    string
	hasLastEventID bool
}
