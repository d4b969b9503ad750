package cluster

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"ssegw/loop"
)

// replies receives the answers to forwarded sends on one wildcard inbox, so
// the sends of a batch can be pipelined: published in command order, answered
// in any order.
type replies struct {
	prefix string // "<inbox>."
	seq    atomic.Uint64
	mu     sync.Mutex
	wait   map[uint64]chan *nats.Msg
}

func (r *replies) init() { r.wait = map[uint64]chan *nats.Msg{} }

func (r *replies) subscribe(c *Cluster) error {
	r.prefix = c.nc.NewInbox() + "."
	_, err := c.nc.Subscribe(r.prefix+"*", func(m *nats.Msg) {
		id, err := strconv.ParseUint(m.Subject[len(r.prefix):], 10, 64)
		if err != nil {
			return
		}
		r.mu.Lock()
		ch := r.wait[id]
		delete(r.wait, id)
		r.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	})
	return err
}

// expect registers a reply subject.
func (r *replies) expect() (string, uint64, chan *nats.Msg) {
	id := r.seq.Add(1)
	ch := make(chan *nats.Msg, 1)
	r.mu.Lock()
	r.wait[id] = ch
	r.mu.Unlock()
	return r.prefix + strconv.FormatUint(id, 10), id, ch
}

func (r *replies) forget(id uint64) {
	r.mu.Lock()
	delete(r.wait, id)
	r.mu.Unlock()
}

// outMsg is a request being built for one node: consecutive sends to that
// node's streams, with the indexes of their commands.
type outMsg struct {
	node uint16
	buf  []byte
	idx  []int
	id   uint64
	ch   chan *nats.Msg
}

// Do applies commands in order (control.Gateway): local ones with the local
// gateway, sends for other nodes' tokens by request to their owner, publishes
// both on the broker and locally. See the package doc for what is ordered.
func (c *Cluster) Do(cmds []loop.Command, results []loop.CmdResult) error {
	lb := c.local.Load()
	if lb == nil {
		releaseAll(cmds)
		return ErrNotAttached
	}
	local := lb.Local
	if !c.anyBroker(cmds) {
		return local.Do(cmds, results)
	}
	var (
		open    []*outMsg // at most one per node, in first-use order
		sent    []*outMsg
		firstEr error
		runFrom = -1 // start of the current run of local commands
	)
	maxPayload := int(c.nc.MaxPayload())
	if maxPayload <= 0 {
		maxPayload = 1 << 20
	}
	flushLocal := func(end int) {
		if runFrom >= 0 {
			if err := local.Do(cmds[runFrom:end], results[runFrom:end]); err != nil && firstEr == nil {
				firstEr = err
			}
			runFrom = -1
		}
	}
	send := func(om *outMsg) {
		if firstEr == nil {
			firstEr = c.sendOut(om)
		}
		if firstEr == nil {
			sent = append(sent, om)
		}
	}
	flushOpen := func() {
		for _, om := range open {
			send(om)
		}
		open = open[:0]
	}
	for i := range cmds {
		cmd := &cmds[i]
		results[i].Status = 200
		if cmd.Publish && cmd.Event != nil && c.opts.History != nil {
			// Kept: through the history, delivered here from its copy, in
			// order with what came before and after in this request.
			flushOpen()
			flushLocal(i)
			if firstEr == nil {
				firstEr = c.publishKept(cmd, &results[i])
			}
			continue
		}
		if cmd.Publish {
			flushOpen()
			if firstEr == nil {
				if err := c.publish(cmd); err != nil {
					firstEr = err
				}
			}
			if runFrom < 0 {
				runFrom = i
			}
			continue
		}
		node, ok := loop.TokenNode(cmd.Token)
		if !ok || node == c.node {
			if runFrom < 0 {
				runFrom = i
			}
			continue
		}
		flushLocal(i)
		var msg []byte
		if cmd.Frame != nil {
			msg = cmd.Frame.Message()
		}
		if recordSize(msg) > maxPayload {
			releaseFrame(cmd)
			if firstEr == nil {
				firstEr = ErrTooLarge
			}
			continue
		}
		var om *outMsg
		for _, o := range open {
			if o.node == node {
				om = o
			}
		}
		if om != nil && len(om.buf)+recordSize(msg) > maxPayload {
			send(om)
			open = removeOut(open, om)
			om = nil
		}
		if om == nil {
			om = &outMsg{node: node}
			open = append(open, om)
		}
		om.buf = appendRecord(om.buf, cmd.Token, msg, cmd.Close)
		om.idx = append(om.idx, i)
		releaseFrame(cmd)
	}
	flushOpen()
	flushLocal(len(cmds))
	if err := c.collect(sent, results); err != nil && firstEr == nil {
		firstEr = err
	}
	return firstEr
}

// anyBroker reports whether any command needs the broker.
func (c *Cluster) anyBroker(cmds []loop.Command) bool {
	for i := range cmds {
		if cmds[i].Publish {
			return true
		}
		if node, ok := loop.TokenNode(cmds[i].Token); ok && node != c.node {
			return true
		}
	}
	return false
}

// publish sends a publish to the channel's subject. The frame stays with the
// command (it is applied locally afterwards).
func (c *Cluster) publish(cmd *loop.Command) error {
	m := &nats.Msg{Subject: ChannelSubject(c.opts.Prefix, cmd.Channel)}
	if cmd.Frame != nil {
		m.Data = cmd.Frame.Message()
	}
	if cmd.Close {
		m.Header = nats.Header{closeHeader: []string{"1"}}
	}
	if int64(len(m.Data)) > c.nc.MaxPayload() && c.nc.MaxPayload() > 0 {
		return ErrTooLarge
	}
	if err := c.nc.PublishMsg(m); err != nil {
		// The broker is away and its reconnect buffer full (or the connection
		// closed): local streams still get the publish.
		c.m.publishDropped.Inc()
		c.log.Debug("cluster: publish not sent to the broker", "channel", cmd.Channel, "err", err)
		return nil
	}
	c.m.brokerPublishes.Inc()
	return nil
}

// sendOut publishes one request for forwarded sends.
func (c *Cluster) sendOut(om *outMsg) error {
	if !c.nc.IsConnected() {
		return ErrBrokerDown
	}
	reply, id, ch := c.replies.expect()
	om.id, om.ch = id, ch
	err := c.nc.PublishMsg(&nats.Msg{Subject: NodeSubject(c.opts.Prefix, om.node), Reply: reply, Data: om.buf})
	if err != nil {
		c.replies.forget(id)
		return ErrBrokerDown
	}
	c.m.forwarded.Add(len(om.idx))
	return nil
}

// collect waits for the owners' answers and fills the results.
func (c *Cluster) collect(sent []*outMsg, results []loop.CmdResult) error {
	if len(sent) == 0 {
		return nil
	}
	deadline := time.NewTimer(forwardTimeout)
	defer deadline.Stop()
	var firstErr error
	for _, om := range sent {
		var m *nats.Msg
		select {
		case m = <-om.ch:
		case <-deadline.C:
			for _, o := range sent {
				c.replies.forget(o.id)
			}
			c.m.forwardErrors.Inc()
			return ErrForwardTimeout
		}
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			// No responders: no gateway has this node id any more, so its
			// streams are gone.
			for _, i := range om.idx {
				results[i].Status = 404
			}
			continue
		}
		if len(m.Data) != len(om.idx) {
			c.m.forwardErrors.Inc()
			if firstErr == nil {
				firstErr = ErrBadReply
			}
			continue
		}
		for k, i := range om.idx {
			switch m.Data[k] {
			case replyOK:
			case replyBuffered:
				results[i].Buffered = true
			case replyNotFound:
				results[i].Status = 404
			case replyBufferFull:
				results[i].Status = 503
			default:
				c.m.forwardErrors.Inc()
				if firstErr == nil {
					firstErr = ErrOwnerBusy
				}
			}
		}
	}
	return firstErr
}

func removeOut(list []*outMsg, om *outMsg) []*outMsg {
	for i, o := range list {
		if o == om {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func releaseFrame(cmd *loop.Command) {
	if cmd.Frame != nil {
		cmd.Frame.Release()
		cmd.Frame = nil
	}
}

func releaseAll(cmds []loop.Command) {
	for i := range cmds {
		releaseFrame(&cmds[i])
	}
}
