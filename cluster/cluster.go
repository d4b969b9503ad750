package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"

	"ssegw/loop"
)

// Limits and timings of the broker connection. None is a user knob.
const (
	// reconnectMin and reconnectMax bound the backoff between reconnect
	// attempts: it doubles from reconnectMin, capped, with up to half of it
	// added at random so that many gateways do not knock together.
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
	// reconnectBuffer bounds what is kept while the broker is away (publishes
	// for the other gateways); beyond it a publish reaches local streams only.
	reconnectBuffer = 8 << 20
	// pingInterval and maxPingsOut find a broker that vanished without a FIN
	// within about 15 s.
	pingInterval = 5 * time.Second
	maxPingsOut  = 3
	// connectTimeout bounds one TCP+handshake attempt to the broker.
	connectTimeout = 2 * time.Second
	// probeTimeout bounds the node-id uniqueness probe; an answer within it
	// means the id is taken, the broker's no-responders status that it is free.
	probeTimeout = time.Second
	// maxNodeIDDraws bounds the random draws for a free node id.
	maxNodeIDDraws = 16
	// forwardTimeout bounds the wait for the owner's answer to forwarded
	// sends; under loop's own commandWait so a wedged owner is told apart.
	forwardTimeout = 5 * time.Second
	// dispatchQueue is the depth of the queue every subscription delivers
	// into. nats.go drops what does not fit (a slow consumer), so it is deep:
	// 64Ki pointers cost 512 KiB.
	dispatchQueue = 1 << 16
	// maxDispatchMsgs bounds the messages applied by one loop.Server.Do, so
	// one call's buffers stay small and answers are not held back long.
	maxDispatchMsgs = 256
	// closeWait bounds the flush of what is queued for the broker at shutdown.
	closeWait = time.Second
)

// Errors of cluster mode.
var (
	ErrNoURL          = errors.New("cluster: NATS_URL is empty")
	ErrBadPrefix      = errors.New("cluster: subject prefix is not a valid NATS subject")
	ErrNodeIDTaken    = errors.New("cluster: node id is already used by another gateway")
	ErrNoFreeNodeID   = errors.New("cluster: no free node id found")
	ErrBrokerDown     = errors.New("cluster: not connected to the broker")
	ErrForwardTimeout = errors.New("cluster: the owning gateway did not answer in time")
	ErrOwnerBusy      = errors.New("cluster: the owning gateway's loops did not answer in time")
	ErrTooLarge       = errors.New("cluster: message larger than the broker's max payload")
	ErrNotAttached    = errors.New("cluster: no local gateway attached")
)

// Local is what a Cluster wraps: the gateway's own event loops
// (*loop.Server).
type Local interface {
	Do(cmds []loop.Command, results []loop.CmdResult) error
	WriteMetrics(w io.Writer)
	ReadyzBody() (status int, body []byte)
	ListStreams(ctx context.Context, q loop.StreamQuery, emit func([]byte) error) ([]uint16, error)
	ChannelCounts(ctx context.Context, cluster bool) (map[string]int64, []uint16, error)
	Position(ctx context.Context) (string, error)
	ReplayChunk(t [16]byte, frames []loop.ReplayFrame, st loop.ReplayStatus, through uint64) bool
}

// Options configure a Cluster.
type Options struct {
	URL    string // NATS_URL: one URL or several, comma-separated
	Prefix string // NATS_SUBJECT_PREFIX
	NodeID uint16 // NODE_ID; 0: draw a free one
	Name   string // connection name shown by the broker (optional)
	Logger *slog.Logger
	// History, if set, keeps the cluster's history in JetStream (history.go).
	History *HistoryOptions
}

// Cluster is one gateway's membership in a cluster. It implements
// control.Gateway around the Local it is attached to.
type Cluster struct {
	opts     Options
	log      *slog.Logger
	nc       *nats.Conn
	node     uint16
	nodeSubj string
	nodeSub  *nats.Subscription
	local    atomic.Pointer[localBox]
	in       chan *nats.Msg
	quit     chan struct{}
	done     sync.WaitGroup

	chans     channels
	replies   replies
	peers     peers         // presence.go
	listSlots chan struct{} // listing.go: answers under way for other gateways

	// history.go (nil/unused without Options.History)
	hist    atomic.Pointer[clusterHistory]
	histErr atomic.Pointer[errBox]
	replayQ chan replayJob
	applied applied

	metrics *metrics.Set
	m       counters

	closeOnce sync.Once
}

type localBox struct{ Local }

// counters are this Cluster's metrics (one set per Cluster, so that several
// gateways in one test process keep their own).
type counters struct {
	forwarded, forwardErrors, brokerPublishes, received, dropped, reconnects, publishDropped *metrics.Counter
}

// Connect connects to the broker (or keeps trying in the background when it is
// down), settles the node id and subscribes to the node subject. Attach it to
// the local gateway before it serves.
func Connect(o Options) (*Cluster, error) {
	if o.URL == "" {
		return nil, ErrNoURL
	}
	if !validPrefix(o.Prefix) {
		return nil, fmt.Errorf("%w: %q", ErrBadPrefix, o.Prefix)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Cluster{opts: o, log: o.Logger, in: make(chan *nats.Msg, dispatchQueue), quit: make(chan struct{}), metrics: metrics.NewSet()}
	c.m = counters{
		forwarded:       c.metrics.NewCounter(`ssegw_cluster_forwarded_sends_total`),
		forwardErrors:   c.metrics.NewCounter(`ssegw_cluster_forward_errors_total`),
		brokerPublishes: c.metrics.NewCounter(`ssegw_cluster_broker_publishes_total`),
		received:        c.metrics.NewCounter(`ssegw_cluster_received_messages_total`),
		dropped:         c.metrics.NewCounter(`ssegw_cluster_dropped_messages_total`),
		reconnects:      c.metrics.NewCounter(`ssegw_cluster_reconnects_total`),
		publishDropped:  c.metrics.NewCounter(`ssegw_cluster_publish_broker_failures_total`),
	}
	c.metrics.NewGauge(`ssegw_cluster_broker_connected`, func() float64 {
		if c.nc != nil && c.nc.IsConnected() {
			return 1
		}
		return 0
	})
	c.metrics.NewGauge(`ssegw_cluster_node_id`, func() float64 { return float64(c.node) })
	c.metrics.NewGauge(`ssegw_cluster_channel_subscriptions`, func() float64 { return float64(c.chans.active.Load()) })
	c.metrics.NewGauge(`ssegw_cluster_dispatch_queue`, func() float64 { return float64(len(c.in)) })

	nc, err := nats.Connect(o.URL,
		nats.Name(o.Name),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff),
		nats.ReconnectBufSize(reconnectBuffer),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.Timeout(connectTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.log.Warn("cluster: broker connection lost", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.m.reconnects.Inc()
			c.log.Info("cluster: broker connection back; subscriptions renewed", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			c.log.Info("cluster: broker connected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				c.m.dropped.Inc()
			}
			c.log.Warn("cluster: broker error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", o.URL, err)
	}
	c.nc = nc
	c.replies.init()
	if err := c.replies.subscribe(c); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.settleNode(o.NodeID); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.startPresence(); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.startListingAnswers(); err != nil {
		nc.Close()
		return nil, err
	}
	c.chans.init()
	c.done.Add(1)
	go c.manageChannels()
	if o.History != nil {
		if err := c.startHistory(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// backoff is the delay before reconnect attempt n (1-based).
func backoff(attempts int) time.Duration {
	d := reconnectMin
	for i := 1; i < attempts && d < reconnectMax; i++ {
		d *= 2
	}
	d = min(d, reconnectMax)
	return d + rand.N(d/2+1)
}

// settleNode subscribes to a node subject nobody else answers on.
func (c *Cluster) settleNode(want uint16) error {
	draws := 0
	for {
		id := want
		if id == 0 {
			id = uint16(1 + rand.N(65535))
			draws++
		}
		subj := NodeSubject(c.opts.Prefix, id)
		sub, err := c.nc.ChanSubscribe(subj, c.in)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		if !c.nc.IsConnected() {
			c.log.Warn("cluster: broker not reachable at start; node id not checked for uniqueness", "node_id", id)
		} else if c.nodeTaken(subj) {
			_ = sub.Unsubscribe()
			if want != 0 {
				return fmt.Errorf("%w: NODE_ID=%d", ErrNodeIDTaken, want)
			}
			if draws >= maxNodeIDDraws {
				return ErrNoFreeNodeID
			}
			continue
		}
		c.node, c.nodeSubj, c.nodeSub = id, subj, sub
		return nil
	}
}

// nodeTaken asks a node subject: any answer, or none in time, means another
// gateway holds it (NoEcho keeps our own subscription out of it).
func (c *Cluster) nodeTaken(subj string) bool {
	if err := c.nc.Flush(); err != nil {
		return false
	}
	_, err := c.nc.Request(subj, nil, probeTimeout)
	return !errors.Is(err, nats.ErrNoResponders)
}

// NodeID is the id to put in loop.Options.NodeID.
func (c *Cluster) NodeID() uint16 { return c.node }

// Attach sets the local gateway and starts applying what the broker delivers.
func (c *Cluster) Attach(l Local) {
	c.local.Store(&localBox{l})
	c.done.Add(1)
	go c.dispatch()
}

// Connected reports whether the broker connection is up.
func (c *Cluster) Connected() bool { return c.nc.IsConnected() }

// ReadyReasons is loop.Options.ReadyExtra: the broker connection.
func (c *Cluster) ReadyReasons() []string {
	if !c.nc.IsConnected() {
		return []string{"NATS not connected"}
	}
	return c.historyReasons()
}

// WriteMetrics writes the local gateway's metrics and the cluster's.
func (c *Cluster) WriteMetrics(w io.Writer) {
	if l := c.local.Load(); l != nil {
		l.WriteMetrics(w)
	}
	c.metrics.WritePrometheus(w)
}

// ReadyzBody is the local gateway's (which asks ReadyReasons).
func (c *Cluster) ReadyzBody() (int, []byte) {
	if l := c.local.Load(); l != nil {
		return l.ReadyzBody()
	}
	return 503, []byte(`{"status":"not_ready","configured":false,"reasons":["starting"]}`)
}

// Position is the cluster's latest published position (its history in
// JetStream), or the local gateway's answer without history.
func (c *Cluster) Position(ctx context.Context) (string, error) {
	if c.opts.History != nil {
		h := c.hist.Load()
		if h == nil {
			return "", ErrHistoryUnavailable
		}
		p, err := h.store.Latest(ctx)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrHistoryUnavailable, err)
		}
		return p.String(), nil
	}
	if l := c.local.Load(); l != nil {
		return l.Position(ctx)
	}
	return "", loop.ErrHistoryOff
}

// Subscriptions is the number of channel subjects subscribed (for tests and
// the metrics).
func (c *Cluster) Subscriptions() int { return int(c.chans.active.Load()) }

// Close flushes what is queued for the broker, stops the goroutines and
// closes the connection. Call it after the loops have drained.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		c.leavePresence()
		_ = c.nc.FlushTimeout(closeWait)
		close(c.quit)
		c.nc.Close()
		c.done.Wait()
	})
}

// flushWait bounds Flush.
const flushWait = 5 * time.Second

// Flush waits until the broker has processed everything this gateway sent,
// its subscriptions included (tests; operators' tools).
func (c *Cluster) Flush() error { return c.nc.FlushTimeout(flushWait) }
