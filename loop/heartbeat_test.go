package loop

import (
	"testing"
	"time"
)

// The first heartbeat lands on the grid, never later than one interval after
// ready, and no earlier than the interval minus the spread and one grid step.
func TestFirstBeat(t *testing.T) {
	const ms = int64(time.Millisecond)
	for _, iv := range []time.Duration{time.Second, 15 * time.Second} {
		for _, spread := range []time.Duration{0, 37 * time.Millisecond, min(heartbeatSpreadMax, iv/10)} {
			for now := int64(0); now < 2*int64(heartbeatGrid); now += 7 * ms {
				due := firstBeat(now, iv, spread)
				if due%int64(heartbeatGrid) != 0 {
					t.Fatalf("iv %v spread %v now %d: due %d off the grid", iv, spread, now, due)
				}
				if due > now+int64(iv) || due <= now+int64(iv-spread-heartbeatGrid) {
					t.Fatalf("iv %v spread %v now %d: first beat after %v", iv, spread, now, time.Duration(due-now))
				}
			}
		}
	}
}
