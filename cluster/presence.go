package cluster

import (
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Presence: which gateways are in the cluster right now, so a cluster-wide
// listing (/internal/streams?scope=cluster) knows whom to wait for and can
// name the ones that did not answer. Every gateway announces its node id on
// PREFIX.presence every presenceEvery (payload: the id in decimal; "-<id>"
// when it leaves) and keeps the ids it heard within presenceTTL. The
// announcer is one goroutine per gateway; the table is updated by nats.go's
// delivery goroutine for the presence subscription.

const (
	// presenceEvery is how often a gateway announces itself: one small
	// message per gateway per second, so a hundred gateways cost the broker
	// a hundred messages a second.
	presenceEvery = time.Second
	// presenceTTL is how long an announcement counts: three missed
	// announcements and the gateway is gone (it stopped, or lost the broker).
	presenceTTL = 3*presenceEvery + presenceEvery/2
	// presenceSegment is the presence subject under the prefix.
	presenceSegment = ".presence"
)

// peers is the presence table.
type peers struct {
	mu   sync.Mutex
	seen map[uint16]time.Time
}

func (p *peers) heard(m *nats.Msg) {
	s := string(m.Data)
	leaving := len(s) > 0 && s[0] == '-'
	if leaving {
		s = s[1:]
	}
	id, err := strconv.ParseUint(s, 10, 16)
	if err != nil || id == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if leaving {
		delete(p.seen, uint16(id))
		return
	}
	p.seen[uint16(id)] = time.Now()
}

// live lists the gateways heard within presenceTTL, other than self.
func (p *peers) live(self uint16) []uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []uint16
	for id, at := range p.seen {
		if time.Since(at) > presenceTTL {
			delete(p.seen, id)
			continue
		}
		if id != self {
			ids = append(ids, id)
		}
	}
	return ids
}

// startPresence subscribes to the presence subject and starts announcing.
func (c *Cluster) startPresence() error {
	c.peers.seen = map[uint16]time.Time{}
	subj := c.opts.Prefix + presenceSegment
	if _, err := c.nc.Subscribe(subj, c.peers.heard); err != nil {
		return err
	}
	me := []byte(strconv.Itoa(int(c.node)))
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		t := time.NewTicker(presenceEvery)
		defer t.Stop()
		for {
			_ = c.nc.Publish(subj, me)
			select {
			case <-c.quit:
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// leavePresence tells the others this gateway is gone (at Close).
func (c *Cluster) leavePresence() {
	_ = c.nc.Publish(c.opts.Prefix+presenceSegment, []byte("-"+strconv.Itoa(int(c.node))))
}

// Peers lists the other gateways currently in the cluster (presence).
func (c *Cluster) Peers() []uint16 { return c.peers.live(c.node) }
