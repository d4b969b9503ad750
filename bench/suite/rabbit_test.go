package suite

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"ssegw/internal/rabbitbroker"
)

// TestRabbitFanoutTiny runs rabbit-fanout end to end at 50 streams: a private
// broker, the backend giving each stream its own request_id, both gateways
// (built by the test), three publishes fanned out by the broker. It is
// skipped only when rabbitmq-server is not installed (CI installs it:
// .ci/install-deps).
func TestRabbitFanoutTiny(t *testing.T) {
	gwExe, benchExe := binaries(t)
	const streams, publishes = 50, 3
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Rabbit(ctx, RabbitConfig{BenchExe: benchExe, GatewayExe: gwExe, Streams: streams, Procs: 2,
		Rate: 2000, Publishes: publishes, PublishRate: 5, Heartbeat: time.Second, Settle: 50 * time.Millisecond,
		BrokerIdle: 100 * time.Millisecond, MaxDuration: 2 * time.Minute})
	if errors.Is(err, rabbitbroker.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	var table bytes.Buffer
	res.WriteTable(&table)
	t.Log("\n" + table.String())
	if r.Plain == nil || r.Plain.Ready != streams || r.AMQP.Ready != streams || r.AMQP.Streams != streams {
		t.Fatalf("ready: plain %+v, AMQP %+v", r.Plain, r.AMQP)
	}
	if r.Plain.RSSEmpty <= 0 || r.Plain.RSSReady <= 0 || r.AMQP.RSSEmpty <= 0 || r.AMQP.RSSReady <= 0 {
		t.Fatalf("RSS not sampled: plain %+v, AMQP %+v", r.Plain, r.AMQP)
	}
	if r.AMQP.GoReady.Goroutines <= r.AMQP.GoEmpty.Goroutines || r.Plain.GoReady.HeapInuse <= 0 {
		t.Fatalf("Go figures not read: plain %+v, AMQP %+v", r.Plain, r.AMQP)
	}
	if r.AMQP.Consumers != streams {
		t.Fatalf("gateway's ssegw_rabbitmq_consumers = %v, want %d", r.AMQP.Consumers, streams)
	}
	b := r.Broker
	if b == nil || b.Queues != streams || b.Error != "" || b.Empty.RSSBytes <= 0 || b.Ready.RSSBytes <= 0 ||
		b.Empty.Total <= 0 || b.Ready.Total <= 0 || b.AfterPublishes.Total <= 0 || b.AfterIdle.Total <= 0 ||
		b.Ready.Parts["queue_procs"] <= 0 {
		t.Fatalf("broker: %+v", b)
	}
	if r.Publishes != publishes || r.PublishErrors != 0 || len(r.PerPublish) != publishes {
		t.Fatalf("publishes %d errors %d per publish %+v", r.Publishes, r.PublishErrors, r.PerPublish)
	}
	for _, p := range r.PerPublish {
		if p.Delivered != streams {
			t.Fatalf("publish %d: %d of %d delivered", p.Seq, p.Delivered, streams)
		}
	}
	want := int64(streams * publishes)
	if r.Expected != want || r.Delivered != want || r.Latency.Count != uint64(want) {
		t.Fatalf("expected %d delivered %d timed %d, want %d", r.Expected, r.Delivered, r.Latency.Count, want)
	}
	if r.GatewayDeliveries != float64(want) || r.GatewayAcks != float64(want) {
		t.Fatalf("gateway counted %v deliveries, %v acks, want %d", r.GatewayDeliveries, r.GatewayAcks, want)
	}
	if p := r.PlainPublishes; p == nil || p.Delivered != want || p.Expected != want || p.Latency.Count != uint64(want) || p.PublishErrors != 0 {
		t.Fatalf("plain publishes %+v", p)
	}
	if c := r.Clients; c.Failed != 0 || c.ServerClosed != 0 || c.Ready != streams {
		t.Fatalf("clients %+v", c)
	}
	if !strings.HasPrefix(res.Broker, "RabbitMQ ") {
		t.Fatalf("broker version %q", res.Broker)
	}
}
