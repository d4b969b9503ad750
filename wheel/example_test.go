package wheel_test

import (
	"fmt"
	"time"

	"ssegw/wheel"
)

// A loop keeps one wheel; each connection embeds its Timer handles. Heartbeats
// are spread once with Jitter and then re-armed at due+interval, which keeps
// both their cadence and their spread.
func Example() {
	type conn struct {
		id        uint64
		heartbeat wheel.Timer
	}
	const interval = 15 * time.Second
	w := wheel.New(wheel.Config{Start: 0})
	rng := wheel.NewRand(1)
	conns := []*conn{{id: 0}, {id: 1}, {id: 2}}
	for _, c := range conns {
		c.heartbeat = w.Add(0, rng.Jitter(0, interval), c.id)
	}

	beats, now := 0, int64(0)
	onTimer := func(_ wheel.Timer, id uint64, due int64) {
		beats++ // write the heartbeat frame to conns[id] here
		conns[id].heartbeat = w.AddAt(now, due+int64(interval), id)
	}
	// The loop's ticker wakes it every 50 ms; each wakeup does bounded work
	// and, when Advance reports more, comes back sooner.
	for ; now <= int64(time.Minute); now += int64(50 * time.Millisecond) {
		w.Advance(now, 1000, onTimer)
	}
	fmt.Println(beats, w.Len())
	// Output: 12 3
}
