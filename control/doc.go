// Package control serves the backend's side of the gateway on the loopback
// control port (CONTRACT.md section 6): POST /internal/send, /internal/publish
// and /internal/batch, plus /metrics, /healthz and /readyz.
//
// It is a plain net/http server: a few backend connections, a goroutine each,
// is the right tool here. Handlers validate and encode on their own goroutine
// (an event is encoded once, into a pooled frame) and then hand commands to the
// event loops through loop.Server.Do, which returns when the loops have applied
// them. Handlers never touch connection state.
package control
