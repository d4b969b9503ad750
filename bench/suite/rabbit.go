package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"ssegw/bench/fleet"
	"ssegw/bench/loadclient"
	"ssegw/bench/scenario"
	"ssegw/internal/rabbitbroker"
)

// Defaults of `ssegw-bench rabbit-fanout`.
const (
	// DefaultRabbitHeartbeat is both gateways' heartbeat in the rabbit run:
	// the gateway's default, so heartbeats do not crowd the fan-out's CPU.
	DefaultRabbitHeartbeat = 15 * time.Second
	// DefaultRabbitMaxDuration bounds the whole run (broker boot ~7 s, the
	// plain streams, ~25 s of queue setup at 15,000, the publishes).
	DefaultRabbitMaxDuration = 15 * time.Minute
)

// RabbitConfig configures a rabbit-fanout run: a private broker, the bench
// backend answering every connect with its own request_id and the shared
// routing key, a gateway with RABBITMQ_URL and one without (otherwise the
// same), and scenario.RabbitFanout against them.
type RabbitConfig struct {
	BenchExe   string // the ssegw-bench binary (backend, client workers)
	GatewayExe string // the ssegw binary
	Command    string // the command line, for the record

	Streams, Procs int
	Rate           float64
	Publishes      int
	PublishRate    float64
	Heartbeat      time.Duration
	Settle         time.Duration
	ReadyTimeout   time.Duration // 0: the scenario's default
	Drain          time.Duration // 0: the scenario's default
	BrokerIdle     time.Duration // sample the broker again this long after the last publish (0: not)
	MaxDuration    time.Duration
	Progress       io.Writer
}

// RabbitResults is one rabbit-fanout run.
type RabbitResults struct {
	Machine  Machine                `json:"machine"`
	Broker   string                 `json:"broker"` // RabbitMQ and Erlang versions
	Started  time.Time              `json:"started"`
	Seconds  float64                `json:"seconds"`
	Command  string                 `json:"command"`
	Commands []string               `json:"commands"`
	Report   *scenario.RabbitReport `json:"report"`
}

func (c *RabbitConfig) defaults() error {
	if c.BenchExe == "" || c.GatewayExe == "" {
		return errors.New("suite: need the bench and gateway binaries")
	}
	if c.Streams <= 0 {
		c.Streams = DefaultStreams
	}
	if c.Procs <= 0 {
		c.Procs = min(DefaultProcs, max(1, c.Streams/1000))
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultRabbitHeartbeat
	}
	if c.Settle <= 0 {
		c.Settle = scenario.DefaultSettle
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultRabbitMaxDuration
	}
	return nil
}

// Rabbit runs rabbit-fanout. Everything it starts (broker, epmd, backend, both
// gateways, client workers) is stopped by its own PID before it returns.
func Rabbit(ctx context.Context, cfg RabbitConfig) (*RabbitResults, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()
	res := &RabbitResults{Machine: machine(), Started: time.Now().UTC(), Command: cfg.Command}
	defer func() { res.Seconds = time.Since(res.Started).Seconds() }()
	logf := func(format string, a ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "rabbit-fanout: "+format+"\n", a...)
		}
	}

	logf("starting a private RabbitMQ broker")
	b, err := rabbitbroker.Start()
	if err != nil {
		return res, err
	}
	defer b.Close()
	res.Broker = brokerVersion(b)
	maxDur := cfg.MaxDuration.String()
	be, err := startBenchServer(cfg.BenchExe, "backend", "--listen", "127.0.0.1:0", "--bindings", channel,
		"--request-ids", "--max-duration", maxDur)
	if err != nil {
		return res, err
	}
	defer be.stop()
	backendURL := "http://" + be.addr("listen")
	hb := max(1, int(cfg.Heartbeat/time.Second))
	plain, err := startGateway(ctx, cfg.GatewayExe, backendURL+"/cb", hb)
	if err != nil {
		return res, err
	}
	defer plain.stop()
	gw, err := startGateway(ctx, cfg.GatewayExe, backendURL+"/cb", hb, "RABBITMQ_URL="+b.URL)
	if err != nil {
		return res, err
	}
	defer gw.stop()
	res.Commands = []string{
		"rabbitmq-server (private: internal/rabbitbroker, " + b.URL + ")",
		quoteArgs([]string{"ssegw-bench", "backend", "--listen", be.addr("listen"), "--bindings", channel, "--request-ids"}),
		strings.Join(plain.env, " ") + " ssegw",
		strings.Join(gw.env, " ") + " ssegw",
	}

	brokerPID := b.BrokerPID()
	probe := &scenario.BrokerProbe{PID: brokerPID,
		Memory: func(context.Context) (int64, map[string]int64, error) { return brokerMemory(b) },
		Queues: func(context.Context) (int, error) { return brokerQueues(b) },
	}
	logf("broker pid %d, plain gateway pid %d, AMQP gateway pid %d", brokerPID, plain.PID(), gw.PID())
	common := scenario.Common{
		Client: loadclient.Config{Target: netip.MustParseAddrPort(gw.listen), Path: streamPath, Rate: cfg.Rate,
			MaxDuration: cfg.MaxDuration},
		Streams: cfg.Streams, Procs: cfg.Procs,
		Spawn:     &fleet.Spawn{Path: cfg.BenchExe, Args: []string{fleet.WorkerCommand}},
		ServerPID: gw.PID(), MetricsURL: "http://" + gw.control + "/metrics", MetricsGauge: "ssegw_rabbitmq_consumers",
		Settle: cfg.Settle, Progress: cfg.Progress,
	}
	res.Report, err = scenario.RabbitFanout(ctx, scenario.RabbitConfig{Common: common,
		Plain: &scenario.PlainGateway{Target: netip.MustParseAddrPort(plain.listen), PID: plain.PID(),
			MetricsURL: "http://" + plain.control + "/metrics", PublishURL: "http://" + plain.control + "/internal/publish"},
		AMQPURL: b.URL, RoutingKey: channel, Publishes: cfg.Publishes, PublishRate: cfg.PublishRate,
		ReadyTimeout: cfg.ReadyTimeout, Drain: cfg.Drain, BrokerIdle: cfg.BrokerIdle, Broker: probe})
	return res, err
}

// brokerStatus is the part of `rabbitmqctl status --formatter json` read here.
type brokerStatus struct {
	Version string                     `json:"rabbitmq_version"`
	Erlang  string                     `json:"erlang_version"`
	Memory  map[string]json.RawMessage `json:"memory"` // bytes per part, "total" an object
}

func readStatus(b *rabbitbroker.Broker) (brokerStatus, error) {
	var st brokerStatus
	out, err := b.Ctl("status", "--formatter", "json")
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(out), &st)
	return st, err
}

// brokerMemory is the broker's own memory total (erlang:memory(total), the
// "erlang" figure of rabbitmqctl status's memory total) and its breakdown
// (queue_procs, binary, mnesia, ...).
func brokerMemory(b *rabbitbroker.Broker) (int64, map[string]int64, error) {
	st, err := readStatus(b)
	if err != nil {
		return 0, nil, err
	}
	parts := map[string]int64{}
	for name, raw := range st.Memory {
		var v int64
		if json.Unmarshal(raw, &v) == nil {
			parts[name] = v
		}
	}
	var total map[string]int64
	if err := json.Unmarshal(st.Memory["total"], &total); err != nil {
		return 0, parts, fmt.Errorf("rabbitmqctl status: memory total: %v", err)
	}
	v, ok := total["erlang"]
	if !ok {
		return 0, parts, errors.New("rabbitmqctl status: no erlang memory total")
	}
	return v, parts, nil
}

func brokerVersion(b *rabbitbroker.Broker) string {
	st, err := readStatus(b)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	erl := strings.Fields(st.Erlang) // "Erlang/OTP 25 [erts-13.1.5] [source] ..."
	return "RabbitMQ " + st.Version + ", " + strings.Join(erl[:min(3, len(erl))], " ")
}

// brokerQueues counts the stream queues (sse.conn.*).
func brokerQueues(b *rabbitbroker.Broker) (int, error) {
	out, err := b.Ctl("list_queues", "name", "--no-table-headers")
	if err != nil {
		return -1, err
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "sse.conn.") {
			n++
		}
	}
	return n, sc.Err()
}

// WriteTable prints the run.
func (r *RabbitResults) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "rabbit-fanout on %s (%d cores), %s, %s, %.0f s\n", r.Machine.CPU, r.Machine.Cores,
		r.Broker, r.Started.Format("2006-01-02 15:04 UTC"), r.Seconds)
	if r.Report != nil {
		r.Report.WriteTable(w)
	}
}
