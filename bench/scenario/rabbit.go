package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/bench/loadclient"
	"ssegw/bench/sseparse"
	"ssegw/bench/stats"
)

// Defaults of the rabbit-fanout scenario.
const (
	// DefaultRabbitExchange is the gateway's topic exchange without a
	// RABBITMQ_ENV_PREFIX.
	DefaultRabbitExchange = "sse.events"
	// DefaultRoutingKey is the routing key every stream is bound to (the bench
	// backend's --bindings).
	DefaultRoutingKey = "bench"
	// DefaultRabbitPublishes is how many messages are published.
	DefaultRabbitPublishes = 10
	// rabbitSetupFloor is the slowest queue setup rate (streams per second)
	// the ready wait allows for (about 600-800/s measured in phase 1).
	rabbitSetupFloor = 150
	// amqpDialTimeout bounds the publisher's connection to the broker.
	amqpDialTimeout = 10 * time.Second
	// maxRabbitPublishes bounds one run's publishes.
	maxRabbitPublishes = 10_000
)

var (
	// ErrRemoteAMQP refuses a non-loopback broker URL without AllowRemote.
	ErrRemoteAMQP = errors.New("scenario: AMQP URL is not a loopback address (use --allow-remote)")
	// ErrBadAMQPURL reports an AMQP URL that is not amqp:// or amqps://.
	ErrBadAMQPURL = errors.New("scenario: bad AMQP URL")
	// ErrNotReady reports streams that did not all get "ready" in time.
	ErrNotReady = errors.New("scenario: streams did not all get ready in time")
)

// RabbitConfig configures the rabbit-fanout scenario: N streams on a gateway
// in RabbitMQ mode, each with its own queue bound to RoutingKey (the backend
// answers each connect with its own request_id), and Publishes messages
// published to the topic exchange, each fanned out by the broker to every
// queue. Common's target, ServerPID and MetricsURL are the AMQP gateway's.
type RabbitConfig struct {
	Common
	// Plain, if set, is a gateway without AMQP (same config otherwise): the
	// same N streams are opened there first, for its RSS per stream.
	Plain       *PlainGateway
	AMQPURL     string // the broker (the publisher's connection)
	Exchange    string // "": DefaultRabbitExchange
	RoutingKey  string // "": DefaultRoutingKey
	Publishes   int    // 0: DefaultRabbitPublishes
	PublishRate float64
	// ReadyTimeout bounds the wait for every stream's "ready" (its queue
	// declared, bound and consumed); 0: N at rabbitSetupFloor per second
	// plus openSlack.
	ReadyTimeout time.Duration
	// Drain bounds the wait for one publish's deliveries.
	Drain time.Duration
	// BrokerIdle, if positive, samples the broker's memory again this long
	// after the last publish (its queue processes hibernate when idle).
	BrokerIdle time.Duration
	Broker     *BrokerProbe // optional: the broker's memory and queue count
}

// PlainGateway is the gateway without AMQP that the same streams are held on.
type PlainGateway struct {
	Target     netip.AddrPort
	PID        int
	MetricsURL string // optional: its Go memory figures
	// PublishURL, if set, is its /internal/publish: the same publishes are
	// sent there to the same streams (body DefaultPublishBody: the streams'
	// channel must be "bench"), the same-run baseline of the fan-out.
	PublishURL string
}

// BrokerProbe reads the broker under test.
type BrokerProbe struct {
	PID int // the Erlang VM (beam.smp), for its RSS
	// Memory returns the broker's own figure of its memory in bytes
	// (rabbitmqctl status: memory total) and its breakdown; nil: not read.
	Memory func(context.Context) (int64, map[string]int64, error)
	// Queues counts the stream queues (sse.conn.*); nil: not counted.
	Queues func(context.Context) (int, error)
}

// GatewayMemory is one gateway's RSS with no streams and with the N streams
// open and ready.
type GatewayMemory struct {
	Target         string   `json:"target"`
	PID            int      `json:"pid"`
	Streams        int64    `json:"streams"`             // open at the client side at the second sample
	Ready          int64    `json:"ready"`               // of them, got "ready"
	Consumers      float64  `json:"consumers,omitempty"` // the gateway's own gauge (Common.MetricsGauge) with them ready
	RSSEmpty       int64    `json:"rss_bytes_no_streams"`
	RSSReady       int64    `json:"rss_bytes_streams_ready"`
	BytesPerStream float64  `json:"rss_bytes_per_stream"`
	GoEmpty        GoSample `json:"go_no_streams"`
	GoReady        GoSample `json:"go_streams_ready"`
}

// GoSample is a Go gateway's own memory figures from its /metrics.
type GoSample struct {
	Goroutines float64 `json:"goroutines"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	StackInuse float64 `json:"stack_inuse_bytes"`
}

func goSample(ctx context.Context, metricsURL string) GoSample {
	var g GoSample
	if metricsURL == "" {
		return g
	}
	g.Goroutines, _ = scrapeMetric(ctx, metricsURL, "go_goroutines")
	g.HeapInuse, _ = scrapeMetric(ctx, metricsURL, "go_memstats_heap_inuse_bytes")
	g.StackInuse, _ = scrapeMetric(ctx, metricsURL, "go_memstats_stack_inuse_bytes")
	return g
}

// BrokerSample is one reading of the broker's memory.
type BrokerSample struct {
	RSSBytes int64            `json:"rss_bytes"`          // the VM's RSS (/proc)
	Total    int64            `json:"memory_total_bytes"` // rabbitmqctl status: memory total (erlang)
	Parts    map[string]int64 `json:"memory_parts,omitempty"`
}

// BrokerMemory is the broker's memory with no queues, with the N queues, and
// after the publishes.
type BrokerMemory struct {
	PID            int          `json:"pid"`
	Queues         int          `json:"queues"` // sse.conn.* once all streams were ready (-1: not counted)
	Empty          BrokerSample `json:"no_queues"`
	Ready          BrokerSample `json:"queues_ready"`
	AfterPublishes BrokerSample `json:"after_publishes"`
	IdleSeconds    float64      `json:"idle_seconds,omitempty"`
	AfterIdle      BrokerSample `json:"after_idle"` // IdleSeconds after the last publish (streams still open)
	RSSPerQueue    float64      `json:"rss_bytes_per_queue"`
	TotalPerQueue  float64      `json:"memory_total_bytes_per_queue"`
	Error          string       `json:"error,omitempty"`
}

// PublishOutcome is one publish: how many streams got it before the next
// publish (or Drain), and how long the last of them took.
type PublishOutcome struct {
	Seq       int     `json:"seq"`
	Delivered int64   `json:"delivered"`
	Seconds   float64 `json:"seconds_to_last_delivery"`
	Error     string  `json:"error,omitempty"`
}

// PublishRun is a series of publishes, each to every stream and each waited
// for (within Drain) before the next.
type PublishRun struct {
	Publishes       int              `json:"publishes"`
	PublishErrors   int              `json:"publish_errors"`
	PerPublish      []PublishOutcome `json:"per_publish"`
	Expected        int64            `json:"expected_deliveries"`
	Delivered       int64            `json:"delivered"`
	Seconds         float64          `json:"seconds"`
	ServerCPU       float64          `json:"server_cpu_seconds"` // the gateway, during the publishes
	DeliveriesPerCS float64          `json:"deliveries_per_cpu_second"`
	Latency         Latency          `json:"latency"`
	LatencyHist     stats.Snapshot   `json:"latency_histogram_ns"`
}

// RabbitReport is the outcome of a rabbit-fanout run.
type RabbitReport struct {
	Scenario string `json:"scenario"`
	Procs    int    `json:"client_procs"`
	Streams  int    `json:"streams"`
	Exchange string `json:"exchange"`
	Key      string `json:"routing_key"`

	Plain *GatewayMemory `json:"plain_gateway,omitempty"` // the same streams without AMQP
	AMQP  GatewayMemory  `json:"amqp_gateway"`
	// ConsumerBytes is the AMQP gateway's RSS per stream minus the plain
	// gateway's: what a queue consumer costs (0 without Plain).
	ConsumerBytes float64 `json:"consumer_rss_bytes_per_stream"`
	// AMQPRSSAfter and AMQPGoAfter are the AMQP gateway's memory after the
	// publishes.
	AMQPRSSAfter int64    `json:"amqp_gateway_rss_bytes_after_publishes"`
	AMQPGoAfter  GoSample `json:"amqp_gateway_go_after_publishes"`

	OpenSeconds  float64 `json:"open_seconds"`  // N response heads (the 200 comes before the queue)
	ReadySeconds float64 `json:"ready_seconds"` // from the first connect until all N were ready
	SetupPerSec  float64 `json:"setups_per_second"`
	ReadyLatency Latency `json:"ready_latency"` // connect to "ready", per stream

	Broker *BrokerMemory `json:"broker,omitempty"`

	// The publishes to the exchange, fanned out by the broker.
	PublishRun
	BrokerCPU float64 `json:"broker_cpu_seconds"` // the broker, during the publishes
	// PlainPublishes are the same publishes through the plain gateway's
	// /internal/publish to the same streams (with PlainGateway.PublishURL).
	PlainPublishes *PublishRun `json:"plain_publishes,omitempty"`
	// The gateway's own counts over the publishes (with MetricsURL).
	GatewayDeliveries float64 `json:"gateway_rabbitmq_deliveries"`
	GatewayAcks       float64 `json:"gateway_rabbitmq_acks"`

	Clients      loadclient.Counters `json:"clients"`
	PlainClients loadclient.Counters `json:"plain_clients"`
	ClientCPU    float64             `json:"client_cpu_seconds"`
}

func (cfg *RabbitConfig) rabbitDefaults() error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if cfg.Exchange == "" {
		cfg.Exchange = DefaultRabbitExchange
	}
	if cfg.RoutingKey == "" {
		cfg.RoutingKey = DefaultRoutingKey
	}
	if cfg.Publishes == 0 {
		cfg.Publishes = DefaultRabbitPublishes
	}
	if cfg.PublishRate == 0 {
		cfg.PublishRate = 1
	}
	if cfg.Publishes < 0 || cfg.Publishes > maxRabbitPublishes || cfg.PublishRate < 0 {
		return ErrBadPublishRate
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = openSlack + time.Duration(float64(cfg.Streams)/rabbitSetupFloor*float64(time.Second))
	}
	u, err := url.Parse(cfg.AMQPURL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") {
		return fmt.Errorf("%w: %q", ErrBadAMQPURL, cfg.AMQPURL)
	}
	if !cfg.Client.AllowRemote && !IsLoopbackURL(u.Host) {
		return ErrRemoteAMQP
	}
	return nil
}

// RabbitFanout runs the rabbit-fanout scenario: the plain gateway's streams
// first (opened, ready, sampled, closed), then the AMQP gateway's, the
// broker sampled with no queues and with N, then the publishes.
func RabbitFanout(ctx context.Context, cfg RabbitConfig) (*RabbitReport, error) {
	if err := cfg.rabbitDefaults(); err != nil {
		return nil, err
	}
	rep := &RabbitReport{Scenario: "rabbit-fanout", Streams: cfg.Streams, Exchange: cfg.Exchange, Key: cfg.RoutingKey}
	if cfg.Plain != nil {
		if err := holdPlain(ctx, &cfg, rep); err != nil {
			return rep, fmt.Errorf("plain gateway: %w", err)
		}
	}
	pub, err := dialPublisher(ctx, &cfg)
	if err != nil {
		return rep, err
	}
	defer pub.close()
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return rep, err
	}
	rep.AMQP = GatewayMemory{Target: cfg.Client.Target.String(), PID: cfg.ServerPID}
	rep.AMQP.RSSEmpty = cfg.sampleServer(ctx, 0).RSSBytes
	rep.AMQP.GoEmpty = goSample(ctx, cfg.MetricsURL)
	if cfg.Broker != nil {
		rep.Broker = &BrokerMemory{PID: cfg.Broker.PID, Queues: -1}
		rep.Broker.Empty = cfg.Broker.sample(ctx, &rep.Broker.Error)
	}
	r, err := start(ctx, &cfg.Common, "rabbit-fanout")
	if err != nil {
		return rep, err
	}
	rep.Procs = r.fleet.Procs()
	err = r.rabbit(ctx, &cfg, pub, rep)
	res, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	if err != nil {
		return rep, err
	}
	g := res.Groups[0]
	rep.Latency = toLatency(g.Latency)
	rep.LatencyHist = g.Latency
	rep.ReadyLatency = toLatency(g.Ready)
	rep.Clients = g.Counters
	rep.ClientCPU = res.CPUSeconds
	return rep, nil
}

// holdPlain opens the N streams on the plain gateway, waits for their ready,
// samples its RSS, runs the same publishes through its /internal/publish
// (with PublishURL), and closes them.
func holdPlain(ctx context.Context, cfg *RabbitConfig, rep *RabbitReport) error {
	c := cfg.Common
	c.Client.Target, c.ServerPID, c.MetricsURL, c.MetricsGauge = cfg.Plain.Target, cfg.Plain.PID, cfg.Plain.MetricsURL, ""
	gm := &GatewayMemory{Target: c.Client.Target.String(), PID: c.ServerPID}
	rep.Plain = gm
	var pub *publisher
	if cfg.Plain.PublishURL != "" {
		var err error
		if pub, err = newPublisher(&FanoutConfig{Common: c, PublishURL: cfg.Plain.PublishURL}); err != nil {
			return err
		}
		rep.PlainPublishes = &PublishRun{}
	}
	if err := SleepCtx(ctx, c.Settle); err != nil {
		return err
	}
	gm.RSSEmpty = c.sampleServer(ctx, 0).RSSBytes
	gm.GoEmpty = goSample(ctx, c.MetricsURL)
	r, err := start(ctx, &c, "plain")
	if err != nil {
		return err
	}
	_, err = r.openReady(ctx, c.Streams, cfg.ReadyTimeout, gm)
	if err == nil {
		err = SleepCtx(ctx, c.Settle)
	}
	if err == nil {
		gm.RSSReady = c.sampleServer(ctx, gm.Streams).RSSBytes
		gm.GoReady = goSample(ctx, c.MetricsURL)
		gm.perStream()
	}
	if err == nil && pub != nil {
		_, err = r.publishSeries(ctx, cfg, func(ctx context.Context, seq int) error {
			_, err := pub.publish(ctx, seq)
			return err
		}, rep.PlainPublishes)
	}
	res, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	rep.PlainClients = res.Groups[0].Counters
	if pr := rep.PlainPublishes; pr != nil {
		pr.Latency, pr.LatencyHist = toLatency(res.Groups[0].Latency), res.Groups[0].Latency
	}
	return nil
}

func (g *GatewayMemory) perStream() {
	if g.Streams > 0 && g.RSSEmpty > 0 && g.RSSReady > 0 {
		g.BytesPerStream = float64(g.RSSReady-g.RSSEmpty) / float64(g.Streams)
	}
}

// openReady opens n streams and waits until every open one got "ready".
// Streams that do not get ready in time are an error (ErrNotReady).
func (r *run) openReady(ctx context.Context, n int, timeout time.Duration, gm *GatewayMemory) (time.Duration, error) {
	t0 := time.Now()
	r.setStatus("opening")
	if _, err := r.openTo(ctx, n); err != nil {
		return time.Since(t0), err
	}
	opened := time.Since(t0)
	r.setStatus("waiting for ready")
	var last loadclient.Counters
	err := waitUntil(ctx, timeout, func() (bool, error) {
		cs, err := r.fleet.Counters()
		last = cs[0]
		return err == nil && last.Ready >= last.Active, err
	})
	gm.Streams, gm.Ready = last.Active, last.Ready
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %d of %d open streams ready after %v", ErrNotReady, last.Ready, last.Active, timeout)
	}
	if err == nil && last.Active < int64(n) {
		err = fmt.Errorf("%w: %d of %d streams open (failed %d, closed by the server %d)",
			ErrOpenStuck, last.Active, n, last.Failed, last.ServerClosed)
	}
	return opened, err
}

func (r *run) rabbit(ctx context.Context, cfg *RabbitConfig, pub *amqpPublisher, rep *RabbitReport) error {
	t0 := time.Now()
	opened, err := r.openReady(ctx, cfg.Streams, cfg.ReadyTimeout, &rep.AMQP)
	rep.OpenSeconds = opened.Seconds()
	rep.ReadySeconds = time.Since(t0).Seconds()
	if rep.ReadySeconds > 0 {
		rep.SetupPerSec = float64(rep.AMQP.Ready) / rep.ReadySeconds
	}
	if err != nil {
		return err
	}
	if err := SleepCtx(ctx, cfg.Settle); err != nil {
		return err
	}
	sr := cfg.sampleServer(ctx, rep.AMQP.Streams)
	rep.AMQP.RSSReady, rep.AMQP.Consumers = sr.RSSBytes, sr.Gauge
	rep.AMQP.GoReady = goSample(ctx, cfg.MetricsURL)
	rep.AMQP.perStream()
	if rep.Plain != nil && rep.Plain.BytesPerStream != 0 && rep.AMQP.BytesPerStream != 0 {
		rep.ConsumerBytes = rep.AMQP.BytesPerStream - rep.Plain.BytesPerStream
	}
	if b := rep.Broker; b != nil {
		b.Ready = cfg.Broker.sample(ctx, &b.Error)
		if cfg.Broker.Queues != nil {
			q, err := cfg.Broker.Queues(ctx)
			if err != nil && b.Error == "" {
				b.Error = err.Error()
			}
			b.Queues = q
		}
		if n := float64(rep.AMQP.Streams); n > 0 {
			if b.Empty.RSSBytes > 0 && b.Ready.RSSBytes > 0 {
				b.RSSPerQueue = float64(b.Ready.RSSBytes-b.Empty.RSSBytes) / n
			}
			if b.Empty.Total > 0 && b.Ready.Total > 0 {
				b.TotalPerQueue = float64(b.Ready.Total-b.Empty.Total) / n
			}
		}
	}
	return r.publishRabbit(ctx, cfg, pub, rep)
}

// publishSeries sends cfg.Publishes publishes at cfg.PublishRate; after
// each it waits (within cfg.Drain) until every stream got it, so each
// publish's deliveries are counted alone. A publish whose deliveries take
// longer than the interval delays the next. It returns the server's sample
// after the last.
func (r *run) publishSeries(ctx context.Context, cfg *RabbitConfig, send func(context.Context, int) error,
	pr *PublishRun) (ServerSample, error) {
	before, err := r.fleet.Counters()
	if err != nil {
		return ServerSample{}, err
	}
	n := before[0].Active
	s0 := r.c.sampleServer(ctx, n)
	var interval time.Duration
	if cfg.PublishRate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.PublishRate)
	}
	t0 := time.Now()
	got := before[0].Events
	for i := 0; i < cfg.Publishes; i++ {
		if err := SleepCtx(ctx, time.Until(t0.Add(time.Duration(i)*interval))); err != nil {
			return s0, err
		}
		r.setStatus(fmt.Sprintf("publish %d/%d", i+1, cfg.Publishes))
		out := PublishOutcome{Seq: i}
		sent := time.Now()
		pr.Publishes++
		if err := send(ctx, i); err != nil {
			pr.PublishErrors++
			out.Error = err.Error()
			pr.PerPublish = append(pr.PerPublish, out)
			continue
		}
		pr.Expected += n
		werr := waitUntil(ctx, cfg.Drain, func() (bool, error) {
			cs, err := r.fleet.Counters()
			if err == nil {
				out.Delivered = cs[0].Events - got
			}
			return err == nil && out.Delivered >= n, err
		})
		out.Seconds = time.Since(sent).Seconds()
		if werr != nil && !errors.Is(werr, context.DeadlineExceeded) {
			return s0, werr
		}
		got += out.Delivered
		pr.PerPublish = append(pr.PerPublish, out)
	}
	after, err := r.fleet.Counters()
	if err != nil {
		return s0, err
	}
	pr.Seconds = time.Since(t0).Seconds()
	pr.Delivered = after[0].Events - before[0].Events
	s1 := r.c.sampleServer(ctx, after[0].Active)
	pr.ServerCPU = s1.CPUSeconds - s0.CPUSeconds
	if pr.ServerCPU > 0 {
		pr.DeliveriesPerCS = float64(pr.Delivered) / pr.ServerCPU
	}
	return s1, nil
}

// publishRabbit publishes to the exchange and reads the gateway's and the
// broker's figures around it.
func (r *run) publishRabbit(ctx context.Context, cfg *RabbitConfig, pub *amqpPublisher, rep *RabbitReport) error {
	m0 := r.gatewayCounts(ctx)
	b0 := cfg.Broker.cpu()
	s1, err := r.publishSeries(ctx, cfg, func(ctx context.Context, _ int) error {
		return pub.publish(ctx, cfg.Exchange, cfg.RoutingKey)
	}, &rep.PublishRun)
	if err != nil {
		return err
	}
	rep.AMQPRSSAfter = s1.RSSBytes
	if b1 := cfg.Broker.cpu(); b0 >= 0 && b1 >= 0 {
		rep.BrokerCPU = b1 - b0
	}
	rep.AMQPGoAfter = goSample(ctx, r.c.MetricsURL)
	m1 := r.gatewayCounts(ctx)
	rep.GatewayDeliveries, rep.GatewayAcks = m1[0]-m0[0], m1[1]-m0[1]
	if b := rep.Broker; b != nil {
		t := time.Now()
		b.AfterPublishes = cfg.Broker.sample(ctx, &b.Error)
		if cfg.BrokerIdle > 0 {
			r.setStatus("broker idle")
			if err := SleepCtx(ctx, time.Until(t.Add(cfg.BrokerIdle))); err != nil {
				return err
			}
			b.IdleSeconds = time.Since(t).Seconds()
			b.AfterIdle = cfg.Broker.sample(ctx, &b.Error)
		}
	}
	return nil
}

// gatewayCounts reads the gateway's delivery and ack counters (zero without
// a metrics URL).
func (r *run) gatewayCounts(ctx context.Context) [2]float64 {
	var out [2]float64
	if r.c.MetricsURL == "" {
		return out
	}
	for i, name := range []string{"ssegw_rabbitmq_deliveries_total", "ssegw_rabbitmq_acks_total"} {
		out[i], _ = scrapeMetric(ctx, r.c.MetricsURL, name)
	}
	return out
}

func (b *BrokerProbe) sample(ctx context.Context, errText *string) BrokerSample {
	s := BrokerSample{RSSBytes: b.rss()}
	if b.Memory != nil {
		var err error
		s.Total, s.Parts, err = b.Memory(ctx)
		if err != nil && *errText == "" {
			*errText = err.Error()
		}
	}
	return s
}

func (b *BrokerProbe) rss() int64 {
	if b == nil || b.PID <= 0 {
		return 0
	}
	return (&Common{ServerPID: b.PID}).sampleServer(context.Background(), 0).RSSBytes
}

// cpu is the broker's CPU seconds so far (-1: unknown).
func (b *BrokerProbe) cpu() float64 {
	if b == nil || b.PID <= 0 {
		return -1
	}
	s := (&Common{ServerPID: b.PID}).sampleServer(context.Background(), 0)
	if s.Error != "" {
		return -1
	}
	return s.CPUSeconds
}

// amqpPublisher publishes timestamped messages to the exchange on one
// channel with publisher confirms (a publish returns once the broker has
// routed it to every queue).
type amqpPublisher struct {
	conn *amqp.Connection
	ch   *amqp.Channel
}

func dialPublisher(ctx context.Context, cfg *RabbitConfig) (*amqpPublisher, error) {
	conn, err := amqp.DialConfig(cfg.AMQPURL, amqp.Config{Dial: amqp.DefaultDial(amqpDialTimeout)})
	if err != nil {
		return nil, fmt.Errorf("scenario: publisher: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("scenario: publisher channel: %w", err)
	}
	return &amqpPublisher{conn: conn, ch: ch}, nil
}

// publish sends {"data":"t=<nanos>"} (an unnamed event, as a send without a
// name) and waits for the broker's confirm.
func (p *amqpPublisher) publish(ctx context.Context, exchange, key string) error {
	body := append([]byte(`{"data":"`), sseparse.AppendTimestamp(nil, time.Now().UnixNano())...)
	body = append(body, `"}`...)
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	conf, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false,
		amqp.Publishing{ContentType: "application/json", Body: body})
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err == nil && !ok {
		err = errors.New("scenario: publish nacked by the broker")
	}
	return err
}

func (p *amqpPublisher) close() {
	_ = p.ch.Close()
	_ = p.conn.Close()
}

// WriteTable prints the summary table.
func (f *RabbitReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "rabbit-fanout: %d streams, %d client process(es), exchange %s, routing key %q\n",
		f.Streams, f.Procs, f.Exchange, f.Key)
	if p := f.Plain; p != nil {
		fmt.Fprintf(w, "  plain gateway %s (no AMQP): %d streams ready, RSS %s -> %s: %.0f B/stream; %s\n",
			p.Target, p.Ready, mib(p.RSSEmpty), mib(p.RSSReady), p.BytesPerStream, p.GoReady.delta(p.GoEmpty, p.Streams))
	}
	a := f.AMQP
	fmt.Fprintf(w, "  AMQP gateway %s: %d streams ready, RSS %s -> %s: %.0f B/stream; %s\n",
		a.Target, a.Ready, mib(a.RSSEmpty), mib(a.RSSReady), a.BytesPerStream, a.GoReady.delta(a.GoEmpty, a.Streams))
	if f.Plain != nil {
		fmt.Fprintf(w, "  a queue consumer costs the gateway %.0f B of RSS per stream\n", f.ConsumerBytes)
	}
	fmt.Fprintf(w, "  open %.1fs, all ready %.1fs (%.0f queue setups/s); ready latency ms: %s\n",
		f.OpenSeconds, f.ReadySeconds, f.SetupPerSec, f.ReadyLatency)
	if b := f.Broker; b != nil {
		fmt.Fprintf(w, "  broker (pid %d): %d queues, RSS %s -> %s: %.0f B/queue; memory total %s -> %s: %.0f B/queue\n",
			b.PID, b.Queues, mib(b.Empty.RSSBytes), mib(b.Ready.RSSBytes), b.RSSPerQueue, mib(b.Empty.Total), mib(b.Ready.Total), b.TotalPerQueue)
		fmt.Fprintf(w, "  broker after the publishes: RSS %s, memory total %s\n", mib(b.AfterPublishes.RSSBytes), mib(b.AfterPublishes.Total))
		if b.IdleSeconds > 0 {
			fmt.Fprintf(w, "  broker %.0f s after the last publish: RSS %s, memory total %s\n", b.IdleSeconds, mib(b.AfterIdle.RSSBytes), mib(b.AfterIdle.Total))
		}
		fmt.Fprintf(w, "    %-22s %10s    %10s    %10s    %10s\n", "part", "no queues", "ready", "published", "idle")
		for _, name := range topParts(b.Empty.Parts, b.AfterPublishes.Parts, 6) {
			fmt.Fprintf(w, "    %-22s %10s -> %10s -> %10s -> %10s\n", name, mib(b.Empty.Parts[name]), mib(b.Ready.Parts[name]),
				mib(b.AfterPublishes.Parts[name]), mib(b.AfterIdle.Parts[name]))
		}
		if b.Error != "" {
			fmt.Fprintf(w, "  broker probe error: %s\n", b.Error)
		}
	}
	if p := f.PlainPublishes; p != nil {
		fmt.Fprintln(w, "  the same publishes through the plain gateway's /internal/publish:")
		p.writeTable(w)
	}
	fmt.Fprintln(w, "  publishes to the exchange, fanned out by the broker:")
	f.PublishRun.writeTable(w)
	fmt.Fprintf(w, "  broker CPU %.2fs; the AMQP gateway counted %.0f deliveries, %.0f acks\n",
		f.BrokerCPU, f.GatewayDeliveries, f.GatewayAcks)
	fmt.Fprintf(w, "  AMQP gateway after the publishes: RSS %s, %s\n", mib(f.AMQPRSSAfter), f.AMQPGoAfter.delta(a.GoEmpty, a.Streams))
	writeCounters(w, f.Clients, f.ClientCPU)
}

// delta describes the growth from base per stream.
func (g GoSample) delta(base GoSample, streams int64) string {
	if streams <= 0 || g.Goroutines == 0 {
		return "no Go figures"
	}
	n := float64(streams)
	return fmt.Sprintf("per stream: %.2f goroutines, heap %.0f B, stacks %.0f B",
		(g.Goroutines-base.Goroutines)/n, (g.HeapInuse-base.HeapInuse)/n, (g.StackInuse-base.StackInuse)/n)
}

// topParts names the k memory parts that grew most from a to b.
func topParts(a, b map[string]int64, k int) []string {
	names := make([]string, 0, len(b))
	for name := range b {
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int {
		return cmp.Compare(b[y]-a[y], b[x]-a[x])
	})
	return names[:min(k, len(names))]
}

func (p *PublishRun) writeTable(w io.Writer) {
	fmt.Fprintf(w, "    publishes %d (errors %d): deliveries %d of %d expected in %.1fs\n",
		p.Publishes, p.PublishErrors, p.Delivered, p.Expected, p.Seconds)
	for _, o := range p.PerPublish {
		fmt.Fprintf(w, "      publish %d: %d delivered, last after %.0f ms %s\n", o.Seq, o.Delivered, o.Seconds*1000, o.Error)
	}
	fmt.Fprintf(w, "    delivery latency ms: %s\n", p.Latency)
	fmt.Fprintf(w, "    gateway CPU %.2fs: %.0f deliveries per CPU-second\n", p.ServerCPU, p.DeliveriesPerCS)
}
