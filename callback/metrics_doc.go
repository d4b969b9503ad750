package callback

import "ssegw/metricsdoc"

// durationBuckets are the upper bounds (seconds) of the callback latency
// histograms: a backend on the same network answers in milliseconds, a slow
// one in hundreds, and CALLBACK_TIMEOUT_MS (5 s by default) ends the wait,
// so the bounds run from 1 ms to past the default timeout.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

var _ = metricsdoc.Describe(
	metricsdoc.Gauge("ssegw_callbacks_in_flight", "Callbacks whose HTTP request to the backend is under way (bounded by CALLBACK_CONCURRENCY × CALLBACK_PIPELINE)."),
	metricsdoc.Counter("ssegw_callback_writes_total", "Writes of callback requests to the backend: one per callback, or one per pipelined batch (CALLBACK_PIPELINE); callbacks per write is the mean batch."),
	metricsdoc.Histogram("ssegw_callback_duration_seconds", "Time from sending a callback to its answer, by action (connect, disconnect) and outcome."),
	metricsdoc.Counter("ssegw_disconnect_retries_total", "Failed disconnect callbacks by outcome: retried (attempted again), delivered (a retry got through), given_up (DISCONNECT_RETRY_SECONDS passed), dropped (the retry queue was full)."),
	metricsdoc.Gauge("ssegw_disconnect_retries_pending", "Failed disconnect callbacks waiting for their next attempt."),
)
