package cluster

import (
	"github.com/nats-io/nats.go"

	"ssegw/loop"
)

// dispatch applies what the broker delivers, in arrival order: it takes what
// is queued (up to maxDispatchMsgs messages), applies it with one Do, then
// answers the requests among it.
func (c *Cluster) dispatch() {
	defer c.done.Done()
	local := c.local.Load().Local
	var (
		msgs  []*nats.Msg
		spans []span
		cmds  []loop.Command
		recs  []record
	)
	for {
		select {
		case <-c.quit:
			return
		case m := <-c.in:
			msgs = append(msgs[:0], m)
		}
	more:
		for len(msgs) < maxDispatchMsgs {
			select {
			case m := <-c.in:
				msgs = append(msgs, m)
			default:
				break more
			}
		}
		c.m.received.Add(len(msgs))
		spans, cmds = spans[:0], cmds[:0]
		for _, m := range msgs {
			sp := span{msg: m, from: len(cmds)}
			if m.Subject == c.nodeSubj {
				var err error
				recs, err = parseRecords(m.Data, recs[:0])
				if err != nil {
					sp.bad = err
					c.m.dropped.Inc()
				} else {
					for _, r := range recs {
						cmd := loop.Command{Token: r.token, Close: r.close}
						if len(r.msg) > 0 {
							cmd.Frame = loop.NewRawFrame(r.msg)
						}
						cmds = append(cmds, cmd)
					}
				}
			} else if name, ok := c.chans.names.Load(m.Subject); ok {
				cmd := loop.Command{Publish: true, Channel: name.(string), Close: m.Header.Get(closeHeader) == "1"}
				data := m.Data
				if seq, withID, kept := c.livePosition(m); kept { // republished by the history: positioned
					cmd.Pos, data = seq, withID
				}
				if len(data) > 0 {
					cmd.Frame = loop.NewRawFrame(data)
				}
				if cmd.Frame != nil || cmd.Close {
					cmds = append(cmds, cmd)
				}
			}
			sp.to = len(cmds)
			spans = append(spans, sp)
		}
		results := make([]loop.CmdResult, len(cmds))
		var doErr error
		if len(cmds) > 0 {
			doErr = local.Do(cmds, results)
		}
		for i := range cmds {
			if cmds[i].Pos != 0 && doErr == nil { // a kept publish: its publisher may wait for it (history.go)
				c.applied.record(cmds[i].Pos, results[i].Connections())
			}
		}
		clear(cmds)
		for _, sp := range spans {
			if sp.msg.Reply == "" {
				continue
			}
			_ = sp.msg.Respond(sp.reply(results, doErr))
		}
		clear(msgs)
	}
}

// span is one received message and the commands it became.
type span struct {
	msg      *nats.Msg
	from, to int
	bad      error
}

func (sp span) reply(results []loop.CmdResult, doErr error) []byte {
	if sp.bad != nil {
		return append([]byte{replyMalformed}, sp.bad.Error()...)
	}
	out := make([]byte, 0, sp.to-sp.from)
	for i := sp.from; i < sp.to; i++ {
		out = append(out, resultCode(&results[i], doErr))
	}
	return out
}

func resultCode(r *loop.CmdResult, doErr error) byte {
	switch {
	case doErr != nil:
		return replyBusy
	case r.Status == 404:
		return replyNotFound
	case r.Status == 503:
		return replyBufferFull
	case r.Buffered:
		return replyBuffered
	}
	return replyOK
}
