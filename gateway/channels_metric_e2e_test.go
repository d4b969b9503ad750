package gateway_test

import (
	"testing"
	"time"
)

// TestChannelsGaugeCountsDistinctChannels: ssegw_channels counts each channel
// with streams once, however many loops and streams hold it, and drops it
// when its last stream leaves.
func TestChannelsGaugeCountsDistinctChannels(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "EVENT_LOOPS": "2"})
	channels := func() float64 { return scrapeControl(t, g)["ssegw_channels"] }
	if n := channels(); n != 0 {
		t.Fatalf("ssegw_channels %v before any stream", n)
	}
	var clients []*client
	for i, target := range []string{"/s?ch=a", "/s?ch=a,b", "/s?ch=b", "/s?ch=a", "/s?ch=c", "/s"} {
		c, _ := openStream(t, g, b, i+1, target)
		clients = append(clients, c)
	}
	if n := channels(); n != 3 {
		t.Fatalf("ssegw_channels %v with streams on a, b and c", n)
	}
	clients[4].conn.Close() // the only stream on c
	waitFor(t, "ssegw_channels to drop c", 5*time.Second, func() bool { return channels() == 2 })
	for _, c := range clients[:4] {
		c.conn.Close()
	}
	waitFor(t, "ssegw_channels to reach 0", 5*time.Second, func() bool { return channels() == 0 })
}

// TestReadyGauge: ssegw_ready follows /readyz.
func TestReadyGauge(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	if v := scrapeControl(t, g)["ssegw_ready"]; v != 1 {
		t.Fatalf("ssegw_ready %v on a configured gateway", v)
	}
	bare := startGateway(t, nil)
	if v := scrapeControl(t, bare)["ssegw_ready"]; v != 0 {
		t.Fatalf("ssegw_ready %v without CALLBACK_URL", v)
	}
}
