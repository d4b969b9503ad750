package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	_ "ssegw/gateway" // every package the gateway links registers its metrics
	"ssegw/internal/testkit"
	"ssegw/metricsdoc"
)

// liveGateways starts the real gateway binary alone and in cluster mode
// (with an embedded NATS server), each with a backend and one open stream,
// so every family either mode writes is on their /metrics. A transport that
// adds its own families (a broker mode) adds its mode here.
func liveGateways(t *testing.T) map[string]*testkit.Child {
	t.Helper()
	b := startBackend(t, 0, 0)
	out := map[string]*testkit.Child{
		"alone":   testkit.StartChild(t, map[string]string{"CALLBACK_URL": b.url()}),
		"cluster": testkit.StartChild(t, map[string]string{"CALLBACK_URL": b.url(), "NATS_URL": startBroker(t)}),
	}
	for _, g := range out {
		openStream(t, g.Public)
	}
	return out
}

// TestMetricsDescribed: every family on a live gateway's /metrics has a help
// text and a type (metricsdoc), and promtool, which lints the page as
// Prometheus reads it, has nothing to say about it.
func TestMetricsDescribed(t *testing.T) {
	for mode, g := range liveGateways(t) {
		page := g.Metrics(t)
		if p := metricsdoc.Check(page); len(p) > 0 {
			t.Errorf("%s gateway: families without metadata on /metrics:\n  %s", mode, strings.Join(p, "\n  "))
		}
		out, code := tool(t, page, "promtool", "check", "metrics")
		if code != 0 || strings.TrimSpace(out) != "" {
			t.Errorf("%s gateway: promtool check metrics (exit %d):\n%s", mode, code, out)
		}
	}
}

// TestRegisteredMetricsDescribed: every metric the packages linked into the
// gateway register in the library's default set at start is described, in
// whatever mode it would show (a mode-specific metric in a set of its own is
// caught by TestMetricsDescribed once its mode is in liveGateways).
func TestRegisteredMetricsDescribed(t *testing.T) {
	var missing []string
	for _, name := range metrics.ListMetricNames() {
		family, _, _ := strings.Cut(name, "{")
		if _, ok := metricsdoc.Lookup(family); !ok && !slices.Contains(missing, family) {
			missing = append(missing, family)
		}
	}
	if len(missing) > 0 {
		t.Errorf("registered but not described (metricsdoc.Describe in the package that makes them):\n  %s", strings.Join(missing, "\n  "))
	}
}
