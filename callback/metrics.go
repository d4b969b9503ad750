package callback

import (
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// inflight counts callbacks whose HTTP request is under way.
var inflight atomic.Int64

func init() {
	metrics.NewGauge(`ssegw_callbacks_in_flight`, func() float64 { return float64(inflight.Load()) })
}

// writes counts request writes to the backend (a pipelined batch is one).
var writes = metrics.NewCounter(`ssegw_callback_writes_total`)

// durations holds one latency histogram per action and outcome.
var durations [2][len(outcomeNames)]*metrics.PrometheusHistogram

func init() {
	for a := ActionConnect; a <= ActionDisconnect; a++ {
		for o := range outcomeNames {
			durations[a][o] = metrics.NewPrometheusHistogramExt(`ssegw_callback_duration_seconds{action="`+
				a.String()+`",outcome="`+outcomeNames[o]+`"}`, durationBuckets)
		}
	}
}

func observe(a Action, o Outcome, d time.Duration) {
	durations[a][o].Update(d.Seconds())
}
