// Package metricsdoc holds what /metrics says about each metric family besides
// its samples: the help text and the Prometheus type, and writes the control
// port's /metrics with them, so that Prometheus, promtool and Grafana read
// every family as what it is.
//
// The metrics themselves are made with github.com/VictoriaMetrics/metrics
// where they are counted (loop/metrics.go, callback/metrics.go,
// cluster/cluster.go, ...). That library writes "# HELP <family>" with no
// text and cannot type a callback gauge as a counter; this package fills both
// in from one registry.
//
// # Adding a metric
//
// Make it as before, and describe its family in the same package, in that
// package's metrics_doc.go (one line per family):
//
//	var _ = metricsdoc.Describe(
//		metricsdoc.Counter("ssegw_widgets_total", "Widgets made, by kind."),
//	)
//
// A family without a description shows up on /metrics with an empty help
// text, and two tests in deploy/ fail, naming it: TestRegisteredMetricsDescribed
// (every metric registered when the gateway's packages start) and
// TestMetricsDescribed (the /metrics of live gateways, alone and in cluster
// mode, also linted by promtool). Latency and size histograms are metrics.NewPrometheusHistogramExt
// with bucket bounds chosen for what they measure (Prometheus'
// histogram_quantile needs "le" buckets; the library's own Histogram writes
// "vmrange" buckets, which only VictoriaMetrics reads).
//
// # What runs where
//
// Describe runs during package initialisation (a package-level var), before
// any scrape; the registry is read-only afterwards and read without a lock.
// Expose runs on the control server's handler goroutine, one scrape at a time
// or several at once; it holds no state between calls.
package metricsdoc
