package loadclient

import (
	"sync/atomic"

	"ssegw/bench/stats"
)

// Counters are the running totals of one stream group. All are cumulative
// except Active.
type Counters struct {
	Requested    int64 `json:"requested"`     // streams asked for
	Opened       int64 `json:"opened"`        // got a 200 response head
	Active       int64 `json:"active"`        // open now
	Failed       int64 `json:"failed"`        // never opened (sum of the four below)
	ConnectErr   int64 `json:"connect_err"`   // socket, bind or connect failed
	Timeouts     int64 `json:"timeouts"`      // connect or handshake timeout
	BadStatus    int64 `json:"bad_status"`    // head with a status other than 200
	ProtocolErr  int64 `json:"protocol_err"`  // malformed, not text/event-stream, or closed before the head
	ServerClosed int64 `json:"server_closed"` // open stream ended by the server or an error
	Shed         int64 `json:"shed"`          // of ServerClosed: ended after a retry field and before "ready" (load shedding)
	ClientClosed int64 `json:"client_closed"` // closed by CloseGroup (open or still connecting)
	Reopened     int64 `json:"reopened"`      // shed streams re-opened in this group (Config.ReopenShed), part of Requested
	Events       int64 `json:"events"`        // data events other than "ready"
	Timestamped  int64 `json:"timestamped"`   // events carrying a send timestamp
	Ready        int64 `json:"ready"`         // "ready" events
	Heartbeats   int64 `json:"heartbeats"`    // comment lines
	Bytes        int64 `json:"bytes"`         // bytes read
	// Config.Track only (track.go): per-slot sequence checks.
	Slots      int64 `json:"slots,omitempty"`      // slots created (streams that resume as one)
	SeqSum     int64 `json:"seq_sum,omitempty"`    // sum over slots of the highest sequence seen
	Lost       int64 `json:"lost,omitempty"`       // sequences skipped within a slot (gaps)
	Duplicated int64 `json:"duplicated,omitempty"` // sequences at or below one the slot already had
	Resyncs    int64 `json:"resyncs,omitempty"`    // "resync" events
	Replayed   int64 `json:"replayed,omitempty"`   // events before "ready" on streams that sent Last-Event-ID
	Resumed    int64 `json:"resumed,omitempty"`    // connections that sent Last-Event-ID
}

// Add sums o into c.
func (c *Counters) Add(o Counters) {
	c.Requested += o.Requested
	c.Opened += o.Opened
	c.Active += o.Active
	c.Failed += o.Failed
	c.ConnectErr += o.ConnectErr
	c.Timeouts += o.Timeouts
	c.BadStatus += o.BadStatus
	c.ProtocolErr += o.ProtocolErr
	c.ServerClosed += o.ServerClosed
	c.Shed += o.Shed
	c.ClientClosed += o.ClientClosed
	c.Reopened += o.Reopened
	c.Events += o.Events
	c.Timestamped += o.Timestamped
	c.Ready += o.Ready
	c.Heartbeats += o.Heartbeats
	c.Bytes += o.Bytes
	c.Slots += o.Slots
	c.SeqSum += o.SeqSum
	c.Lost += o.Lost
	c.Duplicated += o.Duplicated
	c.Resyncs += o.Resyncs
	c.Replayed += o.Replayed
	c.Resumed += o.Resumed
}

// Outstanding is how many requested streams may still hold a socket: not
// failed, not ended by the server, not closed by the client.
func (c Counters) Outstanding() int64 {
	return c.Requested - c.Failed - c.ServerClosed - c.ClientClosed
}

// Settled is how many requested streams reached a final state (opened or failed).
func (c Counters) Settled() int64 { return c.Opened + c.Failed }

// liveCounters is the atomic form a poller updates and others read.
type liveCounters struct {
	requested, opened, active, connectErr, timeouts, badStatus, protocolErr,
	serverClosed, shed, clientClosed, reopened, events, timestamped, ready, heartbeats, bytes atomic.Int64
	slots, seqSum, lost, duplicated, resyncs, replayed, resumed atomic.Int64
}

func (l *liveCounters) load() Counters {
	c := Counters{
		Requested: l.requested.Load(), Opened: l.opened.Load(), Active: l.active.Load(),
		ConnectErr: l.connectErr.Load(), Timeouts: l.timeouts.Load(), BadStatus: l.badStatus.Load(),
		ProtocolErr: l.protocolErr.Load(), ServerClosed: l.serverClosed.Load(),
		Shed: l.shed.Load(), ClientClosed: l.clientClosed.Load(), Reopened: l.reopened.Load(), Events: l.events.Load(),
		Timestamped: l.timestamped.Load(), Ready: l.ready.Load(), Heartbeats: l.heartbeats.Load(),
		Bytes: l.bytes.Load(), Slots: l.slots.Load(), SeqSum: l.seqSum.Load(), Lost: l.lost.Load(),
		Duplicated: l.duplicated.Load(), Resyncs: l.resyncs.Load(), Replayed: l.replayed.Load(),
		Resumed: l.resumed.Load(),
	}
	c.Failed = c.ConnectErr + c.Timeouts + c.BadStatus + c.ProtocolErr
	return c
}

// groupHists are the histograms of one group, in nanoseconds.
type groupHists struct {
	latency   *stats.Histogram // event send timestamp to receipt (wall clock)
	open      *stats.Histogram // connect start to 200 response head
	ready     *stats.Histogram // connect start to the "ready" event
	heartbeat *stats.Histogram // gap between consecutive comments on one stream
}

func newGroupHists() groupHists {
	return groupHists{stats.New(), stats.New(), stats.New(), stats.New()}
}

// GroupResult is everything measured for one group.
type GroupResult struct {
	Counters     Counters       `json:"counters"`
	Latency      stats.Snapshot `json:"latency_ns"`
	Open         stats.Snapshot `json:"open_ns"`
	Ready        stats.Snapshot `json:"ready_ns"`
	HeartbeatGap stats.Snapshot `json:"heartbeat_gap_ns"`
}

// Result is what a Client (or a child process) reports.
type Result struct {
	Groups [MaxGroups]GroupResult `json:"groups"`
	// CPUSeconds is the client process's own CPU time (filled in by the
	// fleet, which knows the process), summed over processes by Merge.
	CPUSeconds float64 `json:"client_cpu_seconds"`
}

// Merge combines results from several clients (processes).
func Merge(rs ...Result) (Result, error) {
	var out Result
	for _, r := range rs {
		out.CPUSeconds += r.CPUSeconds
	}
	for g := range out.Groups {
		var acc [4]*stats.Histogram
		for i := range acc {
			acc[i] = stats.New()
		}
		for _, r := range rs {
			gr := r.Groups[g]
			out.Groups[g].Counters.Add(gr.Counters)
			for i, s := range []stats.Snapshot{gr.Latency, gr.Open, gr.Ready, gr.HeartbeatGap} {
				h, err := stats.FromSnapshot(s)
				if err != nil {
					return out, err
				}
				acc[i].Merge(h)
			}
		}
		out.Groups[g].Latency = acc[0].Snapshot()
		out.Groups[g].Open = acc[1].Snapshot()
		out.Groups[g].Ready = acc[2].Snapshot()
		out.Groups[g].HeartbeatGap = acc[3].Snapshot()
	}
	return out, nil
}
