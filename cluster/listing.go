package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"ssegw/loop"
	"ssegw/sse"
)

// Cluster-wide listings (/internal/streams and /internal/channels with
// ?scope=cluster, CONTRACT.md section 6.4). The gateway that got the request
// asks every other one on PREFIX.list, by request with a reply inbox, and
// lists its own streams meanwhile. Each gateway answers with a run of
// messages to that inbox — its listing in chunks, headers Ssegw-Node (its
// id) and Ssegw-Seq (0, 1, …) — and a last one with Ssegw-Done: 1
// (Ssegw-Error with a reason when it could not list). The requester waits
// for the gateways that presence says are in the cluster, and for any other
// that answers; one that stays silent for gatherIdle (before its first chunk
// or between two), or whose run has a gap (a chunk dropped on the way), is
// named in "missing". Answers are streamed to the backend as they come.
//
// Request payload: 'S' then '1' (only the streams bound to a channel) or
// '0', then the channel name; or 'C' (channel counts). A stream chunk is
// NDJSON lines as on a single gateway; a channel-count chunk is NDJSON
// {"name":…,"streams":n} lines.

const (
	// listSegment is the listing subject under the prefix.
	listSegment = ".list"
	// gatherIdle is the contract's bound on a gateway's silence (2 s).
	gatherIdle = 2 * time.Second
	// gatherQueue bounds the answer chunks waiting to be written to the
	// backend (nats.go drops what does not fit; the gap names that gateway
	// as missing). A chunk is at most ~64 KB, so this is up to ~256 MB in
	// the worst case of a backend that stops reading while 4,096 chunks
	// arrive; normally a handful wait.
	gatherQueue = 4096
	// maxListAnswers bounds the listings this gateway answers at once for
	// others; past it, it answers with an error (and is named missing).
	maxListAnswers = 4
	// listAnswerTimeout bounds one answer for another gateway.
	listAnswerTimeout = 2 * time.Minute
	// gatherTick is how often the requester checks for silent gateways.
	gatherTick = 100 * time.Millisecond

	hdrNode  = "Ssegw-Node"
	hdrSeq   = "Ssegw-Seq"
	hdrDone  = "Ssegw-Done"
	hdrError = "Ssegw-Error"
)

// errBadListing answers a listing request of an unknown kind.
var errBadListing = errors.New("cluster: malformed listing request")

// ListStreams is the cluster's version of loop.Server.ListStreams: with
// q.Cluster it gathers every gateway's streams.
func (c *Cluster) ListStreams(ctx context.Context, q loop.StreamQuery, emit func([]byte) error) ([]uint16, error) {
	lb := c.local.Load()
	if lb == nil {
		return nil, ErrNotAttached
	}
	if !q.Cluster {
		return lb.ListStreams(ctx, q, emit)
	}
	q.Cluster = false
	req := []byte{'S', '0'}
	if q.Filter {
		req[1] = '1'
	}
	req = append(req, q.Channel...)
	return c.gather(ctx, req, func(ctx context.Context, out func([]byte) error) error {
		_, err := lb.ListStreams(ctx, q, out)
		return err
	}, emit)
}

// ChannelCounts is the cluster's version of loop.Server.ChannelCounts.
func (c *Cluster) ChannelCounts(ctx context.Context, cluster bool) (map[string]int64, []uint16, error) {
	lb := c.local.Load()
	if lb == nil {
		return nil, nil, ErrNotAttached
	}
	if !cluster {
		return lb.ChannelCounts(ctx, false)
	}
	counts := map[string]int64{}
	missing, err := c.gather(ctx, []byte{'C'}, func(ctx context.Context, out func([]byte) error) error {
		local, _, err := lb.ChannelCounts(ctx, false)
		if err != nil {
			return err
		}
		return sendCounts(local, out)
	}, func(chunk []byte) error {
		addCounts(counts, chunk)
		return nil
	})
	return counts, missing, err
}

// sendCounts writes channel counts as NDJSON chunks of about 64 KB.
func sendCounts(counts map[string]int64, out func([]byte) error) error {
	var b []byte
	for name, n := range counts {
		b = append(b, `{"name":`...)
		b = sse.AppendJSONString(b, name)
		b = append(b, `,"streams":`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, "}\n"...)
		if len(b) >= 64<<10 {
			if err := out(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if len(b) == 0 {
		return nil
	}
	return out(b)
}

func addCounts(counts map[string]int64, chunk []byte) {
	for _, line := range bytes.Split(chunk, []byte{'\n'}) {
		var cc struct {
			Name    string `json:"name"`
			Streams int64  `json:"streams"`
		}
		if len(line) > 0 && json.Unmarshal(line, &cc) == nil {
			counts[cc.Name] += cc.Streams
		}
	}
}

// answerer is one gateway's answer as the requester follows it.
type answerer struct {
	last time.Time
	seq  int
	done bool
	lost bool // silent too long, a gap, or an error: named missing
}

// gathered is one chunk for the requester: from a peer, or from the local
// listing (local true; data nil with done at its end).
type gathered struct {
	data  []byte
	done  bool
	err   error
	local bool
}

// gather runs a cluster-wide listing: local lists this gateway into its
// argument, the others answer req; every chunk goes to emit, in arrival
// order, from this goroutine.
func (c *Cluster) gather(ctx context.Context, req []byte, local func(context.Context, func([]byte) error) error, emit func([]byte) error) ([]uint16, error) {
	start := time.Now()
	state := map[uint16]*answerer{}
	for _, id := range c.Peers() {
		state[id] = &answerer{last: start}
	}
	inbox := c.nc.NewInbox()
	in := make(chan *nats.Msg, gatherQueue)
	sub, err := c.nc.ChanSubscribe(inbox, in)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(gatherQueue, -1)
	if err := c.nc.PublishRequest(c.opts.Prefix+listSegment, inbox, req); err != nil {
		for _, a := range state {
			a.lost = true
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mine := make(chan gathered, 1)
	go func(out chan<- gathered) {
		err := local(lctx, func(b []byte) error {
			select {
			case out <- gathered{data: append([]byte(nil), b...), local: true}:
				return nil
			case <-lctx.Done():
				return lctx.Err()
			}
		})
		select {
		case out <- gathered{done: true, err: err, local: true}:
		case <-lctx.Done():
		}
	}(mine)
	tick := time.NewTicker(gatherTick)
	defer tick.Stop()
	localDone := false
	var localErr, emitErr error
	for !localDone || !allSettled(state) {
		select {
		case g := <-mine:
			if g.done {
				localDone, localErr = true, g.err
				mine = nil
				continue
			}
			if emitErr == nil {
				emitErr = emit(g.data)
			}
		case m := <-in:
			if data, ok := follow(state, m); ok && len(data) > 0 && emitErr == nil {
				emitErr = emit(data)
			}
		case <-tick.C:
			for _, a := range state {
				if !a.done && !a.lost && time.Since(a.last) > gatherIdle {
					a.lost = true
				}
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if emitErr != nil {
			return nil, emitErr
		}
	}
	if localErr != nil {
		return nil, localErr
	}
	return missingOf(state), nil
}

// follow files one answer message and returns its chunk if it is to be used.
func follow(state map[uint16]*answerer, m *nats.Msg) ([]byte, bool) {
	id, err := strconv.ParseUint(m.Header.Get(hdrNode), 10, 16)
	if err != nil {
		return nil, false
	}
	a := state[uint16(id)]
	if a == nil { // a gateway presence did not know of yet
		a = &answerer{}
		state[uint16(id)] = a
	}
	if a.lost || a.done {
		return nil, false
	}
	a.last = time.Now()
	if seq, err := strconv.Atoi(m.Header.Get(hdrSeq)); err != nil || seq != a.seq {
		a.lost = true // a chunk went missing on the way: the answer is incomplete
		return nil, false
	}
	a.seq++
	if m.Header.Get(hdrDone) == "1" {
		a.done = true
		a.lost = m.Header.Get(hdrError) != ""
		return nil, false
	}
	return m.Data, true
}

func allSettled(state map[uint16]*answerer) bool {
	for _, a := range state {
		if !a.done && !a.lost {
			return false
		}
	}
	return true
}

func missingOf(state map[uint16]*answerer) []uint16 {
	ids := []uint16{}
	for id, a := range state {
		if a.lost {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// startListingAnswers subscribes to the listing subject.
func (c *Cluster) startListingAnswers() error {
	c.listSlots = make(chan struct{}, maxListAnswers)
	_, err := c.nc.Subscribe(c.opts.Prefix+listSegment, c.answerListing)
	return err
}

// answerListing answers another gateway's listing request from a goroutine
// of its own (at most maxListAnswers at once).
func (c *Cluster) answerListing(m *nats.Msg) {
	if m.Reply == "" || len(m.Data) == 0 {
		return
	}
	seq := 0
	send := func(data []byte, done bool, errText string) error {
		out := nats.NewMsg(m.Reply)
		out.Header.Set(hdrNode, strconv.Itoa(int(c.node)))
		out.Header.Set(hdrSeq, strconv.Itoa(seq))
		if done {
			out.Header.Set(hdrDone, "1")
		}
		if errText != "" {
			out.Header.Set(hdrError, errText)
		}
		out.Data = data
		seq++
		return c.nc.PublishMsg(out)
	}
	select {
	case c.listSlots <- struct{}{}:
	default:
		_ = send(nil, true, "busy")
		return
	}
	lb := c.local.Load()
	if lb == nil {
		<-c.listSlots
		_ = send(nil, true, "starting")
		return
	}
	req := append([]byte(nil), m.Data...)
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		defer func() { <-c.listSlots }()
		ctx, cancel := context.WithTimeout(context.Background(), listAnswerTimeout)
		defer cancel()
		go func() { // stop early when the gateway closes
			select {
			case <-c.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		chunk := func(b []byte) error { return send(b, false, "") }
		var err error
		switch req[0] {
		case 'S':
			q := loop.StreamQuery{Filter: len(req) > 1 && req[1] == '1'}
			if len(req) > 2 {
				q.Channel = string(req[2:])
			}
			_, err = lb.ListStreams(ctx, q, chunk)
		case 'C':
			var counts map[string]int64
			if counts, _, err = lb.ChannelCounts(ctx, false); err == nil {
				err = sendCounts(counts, chunk)
			}
		default:
			err = errBadListing
		}
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		_ = send(nil, true, errText)
	}()
}
