//go:build stress

package scenario

import (
	"context"
	"testing"
	"time"
)

// stressStreams is the load of the by-hand runs: more than one process may
// hold, so the fleet runs two worker processes.
const stressStreams = 15000

// stressHeartbeat is the heartbeat interval of the DESIGN.md CPU target.
const stressHeartbeat = time.Second

func stressCommon(s server) Common {
	c := common(s, 2)
	c.Streams = stressStreams
	c.Settle = time.Second
	return c
}

// TestStressFifteenThousand holds and fans out to 15,000 streams on the
// ceiling and the baseline server, checking every stream opens and every
// publish reaches every stream.
func TestStressFifteenThousand(t *testing.T) {
	for _, start := range []func(*testing.T, time.Duration) server{startCeiling, startBaseline} {
		s := start(t, stressHeartbeat)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		hold, err := Hold(ctx, HoldConfig{Common: stressCommon(s), Duration: 2 * time.Second})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if hold.Clients.Opened != stressStreams || hold.Clients.Failed != 0 {
			t.Fatalf("%s hold: %+v", s.name, hold.Clients)
		}
		t.Logf("%s hold slopes %+v", s.name, hold.Slopes)
		waitServerIdle(t, s)
		fan, err := Fanout(ctx, FanoutConfig{Common: stressCommon(s), PublishURL: s.control + "/internal/publish",
			PublishRate: 2, Duration: 3 * time.Second, LateStreams: 50})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if fan.Delivered != fan.Expected || fan.Expected != 6*stressStreams {
			t.Fatalf("%s fanout: delivered %d of %d", s.name, fan.Delivered, fan.Expected)
		}
		t.Logf("%s fanout latency %s, %.0f deliveries per CPU-second", s.name, fan.Latency, fan.DeliveriesPerCPUSec)
		waitServerIdle(t, s)
	}
}
