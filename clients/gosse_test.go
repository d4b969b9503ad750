package clients

import "testing"

// TestGoSSE: github.com/tmaxmax/go-sse's client (v0.12.0) gets the events,
// ids and the retry-honouring reconnect with Last-Event-ID.
func TestGoSSE(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	b := startBackend(t, k)
	g := startGateway(t, k, b, nil)
	c := newGoSSE(t, k)
	checkEventsAndReconnect(t, c, g, b, scenarioOpts{})
	checkResume(t, c, k, b)
}
