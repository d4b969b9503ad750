package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// channels counts, per channel, the loops holding streams bound to it, and
// tells the manager goroutine which channels changed.
type channels struct {
	mu    sync.Mutex
	refs  map[string]int
	dirty map[string]struct{}
	kick  chan struct{}

	// names maps a subscribed subject to its channel, for the dispatcher.
	names  sync.Map // string -> string
	active atomic.Int64
	// subscribed holds the channels whose subscription was issued on the
	// connection (under mu): a replay waits for them (history.go).
	subscribed map[string]struct{}
}

// isSubscribed reports whether this gateway subscribes to a channel.
func (ch *channels) isSubscribed(name string) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	_, ok := ch.subscribed[name]
	return ok
}

// subscribePoll is how often waitSubscribed looks again.
const subscribePoll = 2 * time.Millisecond

// waitSubscribed waits until every channel's subscription was issued on
// the connection (so the broker handles it before any later request), for
// at most d; false if it did not happen or quit closed.
func (ch *channels) waitSubscribed(names []string, d time.Duration, quit <-chan struct{}) bool {
	deadline := time.Now().Add(d)
	for {
		all := true
		ch.mu.Lock()
		for _, n := range names {
			if _, ok := ch.subscribed[n]; !ok {
				all = false
				break
			}
		}
		ch.mu.Unlock()
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-quit:
			return false
		case <-time.After(subscribePoll):
		}
	}
}

func (ch *channels) init() {
	ch.refs = map[string]int{}
	ch.dirty = map[string]struct{}{}
	ch.subscribed = map[string]struct{}{}
	ch.kick = make(chan struct{}, 1)
}

// OnChannel is loop.Options.OnChannel. It runs on a loop goroutine: it only
// counts and wakes the manager, never touching the broker.
func (c *Cluster) OnChannel(name string, bound bool) {
	ch := &c.chans
	ch.mu.Lock()
	if bound {
		ch.refs[name]++
	} else if ch.refs[name]--; ch.refs[name] <= 0 {
		delete(ch.refs, name)
	}
	ch.dirty[name] = struct{}{}
	ch.mu.Unlock()
	select {
	case ch.kick <- struct{}{}:
	default:
	}
}

// manageChannels brings the subscriptions in line with the counts.
func (c *Cluster) manageChannels() {
	defer c.done.Done()
	ch := &c.chans
	subs := map[string]*nats.Subscription{}
	type change struct {
		name string
		want bool
	}
	var todo []change
	for {
		select {
		case <-c.quit:
			return
		case <-ch.kick:
		}
		ch.mu.Lock()
		for name := range ch.dirty {
			todo = append(todo, change{name, ch.refs[name] > 0})
		}
		clear(ch.dirty)
		ch.mu.Unlock()
		for _, t := range todo {
			sub := subs[t.name]
			switch {
			case t.want && sub == nil:
				subj := ChannelSubject(c.opts.Prefix, t.name)
				ch.names.Store(subj, t.name)
				s, err := c.nc.ChanSubscribe(subj, c.in)
				if err != nil {
					ch.names.Delete(subj)
					c.log.Warn("cluster: subscribe failed", "channel", t.name, "err", err)
					continue
				}
				_ = s.SetPendingLimits(-1, -1)
				subs[t.name] = s
				ch.active.Add(1)
				ch.mu.Lock()
				ch.subscribed[t.name] = struct{}{}
				ch.mu.Unlock()
			case !t.want && sub != nil:
				if err := sub.Unsubscribe(); err != nil {
					c.log.Debug("cluster: unsubscribe failed", "channel", t.name, "err", err)
				}
				ch.names.Delete(sub.Subject)
				delete(subs, t.name)
				ch.active.Add(-1)
				ch.mu.Lock()
				delete(ch.subscribed, t.name)
				ch.mu.Unlock()
			}
		}
		todo = todo[:0]
	}
}
