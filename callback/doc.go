// Package callback talks to the backend: it POSTs the connect and disconnect
// callbacks of CONTRACT.md section 5 and turns each answer into an Outcome.
//
// Who runs what: a fixed pool of worker goroutines (CALLBACK_CONCURRENCY of them)
// owns every HTTP request to the backend; nothing else blocks on the backend.
// Event loops submit jobs without blocking (Connect, Disconnect) and get the
// result of a connect back through the job's Done function, which runs on the
// worker goroutine and must only hand the result over (the gateway posts it to
// the connection's loop). A job's Head (the raw request head) is immutable once
// submitted, so workers read it without locks.
//
// Each worker owns one keep-alive connection and carries one callback on it
// at a time, or with CALLBACK_PIPELINE several: the callbacks already queued
// behind the one it takes, written in one write and answered in order
// (pipeline.go has the rules: what counts as processed when a connection
// fails mid-batch, and the timeout of each answer). In a connect storm that
// cut the gateway's CPU per stream set up by a quarter and the backend's by
// as much (BENCHMARKS.md "Connect path").
//
// Queues are bounded: connects by the caller's admission control
// (MAX_PENDING_CONNECTS, enforced before a job is made), disconnects by the
// number of open connections (each accepted connection yields at most one).
//
// The payload is encoded by hand (AppendPayload), byte-compatible with the
// Node.js SSEGateway: key order action, reason, token, request{url, headers};
// headers lowercased, merged with Node's rules, latin-1 values decoded as Node
// does, JSON escaped as JSON.stringify does.
//
// Answers are read without allocating in the common case (answer.go,
// accept.go): a status line, plain headers and a Content-Length body already
// in the worker's buffer are parsed in place, and a 2xx body's request_id,
// since and bindings are read by one walk after json.Valid. Anything else
// goes to http.ReadResponse and the map decoding, untouched, so every answer
// has the outcome it had. Measured on the connect storm of issue 18
// (BENCHMARKS.md "Connect path"): 36 allocations per connect callback were 5,
// and the gateway's CPU per stream set up fell by a fifth with the loop's
// single head+ready write.
package callback
