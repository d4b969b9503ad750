// Package loop is the gateway's gnet v2 event handler: it accepts browser
// connections, parses their request heads with httpparse, answers the public
// routes of CONTRACT.md section 4, holds SSE streams, and applies the backend's
// commands to them.
//
// # Who owns what
//
// One rule: everything about a connection happens on its event loop's
// goroutine. A connection's state (struct conn), its loop's timing wheel, its
// loop's channel index, head store (package headstore) and connection slab
// are touched only there: in the gnet callbacks (OnOpen, OnTraffic, OnClose)
// and in the loop's "step" runnable.
//
// Other goroutines never touch connection state. They hand work to a loop
// through its inbox (a mutex-guarded slice of ops, the one structure of a
// loop that other goroutines write):
//   - control-port handlers (package control) call Server.Do, which reads the
//     owning loop and slab slot out of each token itself (a token carries
//     them, see token.go; there is no token map to share or lock), appends
//     ops to those loops' inboxes and waits for their results; the loop finds
//     the connection in its slab and compares the whole token;
//   - callback workers (package callback) post connect results the same way.
//
// Each loop has one dispatcher goroutine. It sleeps until its inbox gets work
// or the loop's wheel has a timer due, then runs one step on the loop with
// EventLoop.Execute and waits for it to finish before it starts the next. A
// step does a bounded amount of work (stepBudget writes): it advances the wheel
// (heartbeats, deadlines) and applies inbox ops, resuming a large fan-out where
// the previous step stopped. A connect result that arrives while a fan-out is
// in progress is applied at the start of the next step, ahead of the fan-out
// (with at most half the step's budget), so a new stream waits one step for
// its ready, not for the whole fan-out. Feeding steps from outside the loop, one at a
// time, is what keeps a big fan-out from starving accepts and reads: gnet
// drains its task queue to empty on every wake-up (DESIGN.md section 2).
//
// Because every write to a connection happens on its loop, in inbox order,
// bytes reach each socket in the order the control port accepted the commands.
//
// # Disconnect exactly once
//
// A connection whose connect callback returned 2xx is "accepted" and owes the
// backend one disconnect callback. Every path that ends it (client close, close
// command, slow consumer, shutdown, a client that left while the callback was
// pending) runs on the loop and calls sendDisconnect, which sends the disconnect
// only if the connection still owes it. No locks are needed for the guarantee.
//
// # Where the rest lives
//
//   - setup.go: the setup phase between an accepted connect and `ready`, for
//     streams that wait for a RabbitMQ queue (queues.go) or a history replay
//     (resume.go); what arrives meanwhile is held and follows `ready`.
//   - resume.go: replays of the history (package history) in bounded steps,
//     and the rule that keeps replay and live publishes from overlapping.
//   - queues.go: the RabbitMQ transport's callbacks (package rabbitmq runs
//     beside the loops), posted to the owning loop like every other op.
//   - listing.go: /internal/streams and /internal/channels, handed out by
//     the loops a bounded chunk per op.
//   - heads.go: a stream's plain head serves its connect callback; once the
//     connect is accepted the loop keeps only what its head store (package
//     headstore) makes of it, and gives a plain head back to the disconnect
//     job.
//   - drain.go, listener.go: shutdown — the public listener closed, streams
//     ended within the window, the deadline's cut; and ReservePort, which
//     holds the public port (bound, never listening) from before gnet binds
//     it until the engine has stopped.
package loop
