package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/internal/rabbitbroker"
	"ssegw/rabbitmq"
)

// TestRabbitMQInCluster: RabbitMQ mode and cluster mode together (a real
// RabbitMQ broker and a NATS server). A stream's queue is consumed by the
// gateway that holds it, once; a message published to the exchange with its
// routing key reaches the stream, and so does a /internal/publish to the same
// binding sent through the other gateway.
func TestRabbitMQInCluster(t *testing.T) {
	rb, err := rabbitbroker.Start()
	if err != nil {
		t.Fatalf("a real RabbitMQ broker: %v", err)
	}
	t.Cleanup(rb.Close)
	nb := startBroker(t)
	be := startBackend(t, "amqp.key")
	be.requestIDs.Store(true)
	prefix := fmt.Sprintf("cl%d", time.Now().UnixNano())
	env := map[string]string{"NATS_URL": nb.url(), "CALLBACK_URL": be.url(), "RABBITMQ_URL": rb.URL, "RABBITMQ_ENV_PREFIX": prefix}
	g1, g2 := startGateway(t, env), startGateway(t, env)
	for _, g := range []*gw{g1, g2} {
		waitFor(t, "readyz 200 (NATS and RabbitMQ connected)", 30*time.Second, func() bool { code, _ := g.readyz(); return code == 200 })
	}
	c := openStream(t, g2.PublicAddr(), be, 1)
	out, err := rb.Ctl("list_queues", "name", "consumers")
	if err != nil || !strings.Contains(out, "sse.conn."+c.token+"\t1\n") {
		t.Fatalf("the stream's queue with one consumer: %v\n%s", err, out)
	}
	conn, err := amqp.Dial(rb.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirm(rabbitmq.ExchangeName(prefix), "amqp.key", false, false,
		amqp.Publishing{Body: []byte(`{"event":"q","data":"via the broker"}`)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("publish not confirmed: %v %v", ok, err)
	}
	c.expect("event: q\ndata: via the broker\n\n")
	if code, body := g1.control("/internal/publish", `{"channel":"amqp.key","event":{"name":"p","data":"via the other gateway"}}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	c.expect("event: p\ndata: via the other gateway\n\n")
}
