package scenario

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestRabbitConfigChecks(t *testing.T) {
	base := Common{Streams: 1}
	base.Client.Target = netip.MustParseAddrPort("127.0.0.1:1")
	for _, tc := range []struct {
		url    string
		remote bool
		want   error
	}{
		{"http://127.0.0.1:5672/", false, ErrBadAMQPURL},
		{"", false, ErrBadAMQPURL},
		{"amqp://guest:guest@10.1.2.3:5672/", false, ErrRemoteAMQP},
		{"amqps://broker.example:5671/", false, ErrRemoteAMQP},
	} {
		c := base
		c.Client.AllowRemote = tc.remote
		_, err := RabbitFanout(context.Background(), RabbitConfig{Common: c, AMQPURL: tc.url})
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: err %v, want %v", tc.url, err, tc.want)
		}
	}
	if _, err := RabbitFanout(context.Background(), RabbitConfig{Common: base, AMQPURL: "amqp://127.0.0.1:1/",
		Publishes: maxRabbitPublishes + 1}); !errors.Is(err, ErrBadPublishRate) {
		t.Errorf("too many publishes: %v", err)
	}
	if _, err := RabbitFanout(context.Background(), RabbitConfig{AMQPURL: "amqp://127.0.0.1:1/"}); !errors.Is(err, ErrNoStreams) {
		t.Errorf("no streams: %v", err)
	}
	cfg := RabbitConfig{Common: base, AMQPURL: "amqp://localhost:1/"}
	if err := cfg.rabbitDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.Exchange != DefaultRabbitExchange || cfg.RoutingKey != DefaultRoutingKey ||
		cfg.Publishes != DefaultRabbitPublishes || cfg.PublishRate != 1 || cfg.ReadyTimeout <= openSlack {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestTopParts(t *testing.T) {
	a := map[string]int64{"x": 10, "y": 0, "z": 5}
	b := map[string]int64{"x": 11, "y": 100, "z": 50, "w": 7}
	if got := topParts(a, b, 3); !slices.Equal(got, []string{"y", "z", "w"}) {
		t.Fatalf("topParts %v", got)
	}
	if got := topParts(nil, nil, 3); len(got) != 0 {
		t.Fatalf("topParts of nothing %v", got)
	}
}

func TestGoSampleDelta(t *testing.T) {
	base := GoSample{Goroutines: 10, HeapInuse: 1000, StackInuse: 2000}
	g := GoSample{Goroutines: 30, HeapInuse: 31000, StackInuse: 62000}
	if got, want := g.delta(base, 10), "per stream: 2.00 goroutines, heap 3000 B, stacks 6000 B"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got := (GoSample{}).delta(base, 10); got != "no Go figures" {
		t.Fatalf("%q", got)
	}
}
