package gateway

import (
	"sync"
	"sync/atomic"
)

// channelCount counts the channels that have streams bound on this gateway,
// for the ssegw_channels gauge. The loops report a channel's first stream on
// a loop and its last one leaving through loop.Options.OnChannel, on the loop
// goroutine: it only counts under a mutex (a loop reports a channel only when
// it appears or empties there, never per stream), then hands the news on to
// next (the cluster's OnChannel, when clustered).
type channelCount struct {
	mu   sync.Mutex
	refs map[string]int // loops holding streams bound to the channel
	n    atomic.Int64
	next func(name string, bound bool)
}

func (c *channelCount) onChannel(name string, bound bool) {
	c.mu.Lock()
	if c.refs == nil {
		c.refs = map[string]int{}
	}
	if bound {
		c.refs[name]++
	} else if c.refs[name]--; c.refs[name] <= 0 {
		delete(c.refs, name)
	}
	c.n.Store(int64(len(c.refs)))
	c.mu.Unlock()
	if c.next != nil {
		c.next(name, bound)
	}
}
