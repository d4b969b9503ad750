package gateway

import (
	"io"

	"github.com/VictoriaMetrics/metrics"

	"ssegw/control"
	"ssegw/metricsdoc"
)

var _ = metricsdoc.Describe(
	metricsdoc.Gauge("ssegw_channels", "Channels with at least one stream bound to them on this gateway."),
	metricsdoc.Gauge("ssegw_ready", "1 while /readyz answers 200 (configured, not draining, broker connected in cluster mode), else 0."),
)

// withGatewayMetrics adds the gateway's own metrics (one set per gateway, so
// several gateways in one test process keep theirs apart) to what the
// control port's /metrics writes.
type withGatewayMetrics struct {
	control.Gateway
	set    *metrics.Set
	extras []interface{ WriteMetrics(io.Writer) } // transports with sets of their own (RabbitMQ)
}

func (w withGatewayMetrics) WriteMetrics(out io.Writer) {
	w.Gateway.WriteMetrics(out)
	w.set.WritePrometheus(out)
	for _, e := range w.extras {
		e.WriteMetrics(out)
	}
}

func (g *Gateway) gatewayMetrics(commands control.Gateway) control.Gateway {
	set := metrics.NewSet()
	set.NewGauge(`ssegw_channels`, func() float64 { return float64(g.channels.n.Load()) })
	set.NewGauge(`ssegw_ready`, func() float64 {
		if ok, _ := g.Loop.Ready(); ok {
			return 1
		}
		return 0
	})
	w := withGatewayMetrics{Gateway: commands, set: set}
	if g.Rabbit != nil {
		w.extras = append(w.extras, g.Rabbit)
	}
	return w
}
