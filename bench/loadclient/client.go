package loadclient

import (
	"sync"
	"time"
)

// Client opens and holds SSE streams on its pollers.
type Client struct {
	cfg     Config
	pollers []*poller
	mu      sync.Mutex // guards closed and req
	closed  bool
	req     int64 // streams requested so far, all groups (pollers count theirs later)
}

// New starts the pollers; no stream is opened until Open.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	req, srcs := cfg.request(), cfg.sourceAddrs()
	deadline := time.Now().Add(cfg.MaxDuration)
	for i := 0; i < cfg.Pollers; i++ {
		p, err := newPoller(i, cfg, req, srcs, deadline)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.pollers = append(c.pollers, p)
		go p.run()
	}
	return c, nil
}

// Open asks for n more streams in group g (0 <= g < MaxGroups), spread over
// the pollers. It returns at once; watch Counters for progress.
func (c *Client) Open(g, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if g < 0 || g >= MaxGroups || n < 0 {
		return ErrBadConfig
	}
	// Streams that may hold a socket: requested minus those gone (the
	// pollers' counts of gone streams lag, which only errs on the safe side).
	out := c.req
	for g := range MaxGroups {
		cs := c.Counters(g)
		out += cs.Reopened - cs.Failed - cs.ServerClosed - cs.ClientClosed
	}
	if out+int64(n) > MaxStreamsPerProcess {
		return ErrTooManyStreams
	}
	c.req += int64(n)
	per, extra := n/len(c.pollers), n%len(c.pollers)
	for i, p := range c.pollers {
		k := per
		if i < extra {
			k++
		}
		if k > 0 {
			p.send(command{kind: cmdOpen, group: g, n: k})
		}
	}
	return nil
}

// CloseGroup closes every stream of group g, open or not yet open, and
// returns once every poller did (their sockets are then closed).
func (c *Client) CloseGroup(g int) error {
	if g < 0 || g >= MaxGroups {
		return ErrBadConfig
	}
	for _, p := range c.pollers {
		reply := make(chan Result, 1)
		if !p.send(command{kind: cmdCloseGroup, group: g, reply: reply}) {
			continue
		}
		select {
		case <-reply:
		case <-p.done:
		}
	}
	return nil
}

// Counters sums the live counters of group g over the pollers.
func (c *Client) Counters(g int) Counters {
	var out Counters
	for _, p := range c.pollers {
		out.Add(p.live[g].load())
	}
	return out
}

// Result collects counters and histograms from every poller. While pollers
// run, each hands over a copy between two iterations.
func (c *Client) Result() (Result, error) {
	var parts []Result
	for _, p := range c.pollers {
		r, err := p.result()
		if err != nil {
			return Result{}, err
		}
		parts = append(parts, r)
	}
	return Merge(parts...)
}

// Close stops every poller, closing all streams, and waits for them.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	for _, p := range c.pollers {
		p.send(command{kind: cmdStop})
	}
	for _, p := range c.pollers {
		<-p.done
	}
}
