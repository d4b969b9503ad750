package clients

import "testing"

// TestNodeEventSource: the npm package eventsource (4.1.1, Node.js >= 20) gets
// the events, ids and the retry-honouring reconnect with Last-Event-ID.
func TestNodeEventSource(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	b := startBackend(t, k)
	g := startGateway(t, k, b, nil)
	c := startNode(t, k, "eventsource.mjs")
	if c.version() != "4.1.1" {
		t.Errorf("eventsource %s installed, want 4.1.1 (clients/node/package-lock.json)", c.version())
	}
	t.Logf("client: eventsource %s on Node.js %s", c.version(), c.start.Node)
	checkEventsAndReconnect(t, c, g, b, scenarioOpts{ownIDOnly: true})
	checkResume(t, c, k, b)
}
