package loop

import "time"

// Budgets and limits of the event loops. Each has a reason; none is a tuning
// knob that users need (those are in package config).
const (
	// stepBudget bounds the writes one step does before it yields the loop back
	// to gnet. A loopback write costs ~20 µs of CPU (the kernel runs the
	// receiver's TCP path in the sender's context), so 512 writes keep a step
	// near 10 ms and new connections are accepted within a few steps even
	// during a 15k fan-out (target: p99 accept latency <= 50 ms).
	stepBudget = 512

	// expediteShare bounds the writes that connect results applied ahead of a
	// fan-out in progress may take from one step (see expediteConnects): half
	// the step, so a connect storm during a fan-out slows the fan-out down to
	// half speed but never stops it, and up to ~250 new streams a step (one
	// head+ready write each) still get their ready within one step.
	expediteShare = stepBudget / 2

	// maxBufferedPerConn bounds the sends buffered for a stream whose connect
	// callback is still pending; beyond it a send is refused with 503
	// BUFFER_FULL rather than growing memory without bound.
	maxBufferedPerConn = 256

	// maxInboundAfterHead bounds the bytes a client may send once its SSE
	// request is in (a browser sends none). Beyond it the stream is closed as a
	// protocol error.
	maxInboundAfterHead = 48 << 10 // counted in a uint16 (conn.inbound)

	// shedLingerMax bounds the sockets shed at accept that are kept half-closed
	// until the client's FIN; they are over the socket cap, so they come out of
	// the descriptor reserve. Past it, a shed socket is closed at once.
	shedLingerMax = 32

	// shedLingerTime bounds how long a half-closed shed socket waits for the
	// client's FIN.
	shedLingerTime = time.Second

	// lingerCheck is how often a connection that is closing after its last
	// bytes checks whether the kernel took them.
	lingerCheck = 50 * time.Millisecond

	// heartbeatSpreadMax caps the random amount taken off the first heartbeat
	// so that streams opened together do not beat together (Pushpin uses up to
	// 1 s); it is at most a tenth of the interval.
	heartbeatSpreadMax = time.Second

	// heartbeatGrid batches heartbeats: every stream's beats fall on multiples
	// of it, so a loop writes them in a few bursts a second instead of a
	// trickle. A burst costs less per write (on loopback the receiver is
	// already awake for the next one; a lone write pays for its wakeup), and
	// the grid is fine enough that streams opened together still spread out
	// (over interval/grid phases: 60 at the default 15 s). Measured at 15k
	// streams and 1 s beats (BENCHMARKS.md): 100 ms costs 1.20× the bare
	// write loop's CPU, 250 ms 1.11×, 500 ms no better than 250 ms.
	heartbeatGrid = 250 * time.Millisecond

	// shedRetryMin and shedRetryMax bound the randomised retry hint sent to a
	// shed request, so returning clients spread out over the window.
	shedRetryMin = 1000
	shedRetryMax = 10000

	// drainRetryMin and drainRetryMax bound the retry hint sent to streams
	// ended by a shutdown.
	drainRetryMin = 500
	drainRetryMax = 5000

	// commandWait bounds how long a control request waits for the loops to
	// apply its commands; only a wedged loop would hit it.
	commandWait = 10 * time.Second
)
