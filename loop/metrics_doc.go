package loop

import "ssegw/metricsdoc"

// Bucket upper bounds of the loop's histograms (seconds or streams), chosen
// for what each measures; Prometheus' histogram_quantile interpolates inside
// a bucket, so the bounds sit where the answers that matter fall.
var (
	// fanoutBuckets: how many streams one publish reached, from none (a
	// channel without subscribers) to a million, in decades.
	fanoutBuckets = []float64{0, 1, 10, 100, 1000, 10000, 100000, 1000000}
	// stepLagBuckets: from a step being queued to it running. Tens of
	// microseconds when the loop is idle; a loop that reads and writes for
	// tens of milliseconds delays heartbeats, deadlines and fan-out by that
	// much, and past a second something is wrong.
	stepLagBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// stepDurationBuckets: one step's run. A step does at most stepBudget
	// writes of about 20 µs each on loopback, so a full step is about 10 ms;
	// the bounds reach well past that to show a step that overran.
	stepDurationBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}
)

var _ = metricsdoc.Describe(
	metricsdoc.Counter("ssegw_connections_accepted_total", "TCP connections accepted on the public port."),
	metricsdoc.Counter("ssegw_connections_closed_total", "Connections on the public port that have closed."),
	metricsdoc.Counter("ssegw_streams_opened_total", "Streams that got their ready event (connect callback accepted)."),
	metricsdoc.Counter("ssegw_slow_consumer_closes_total", "Streams closed because their unsent bytes passed WRITE_BUFFER_LIMIT_BYTES."),
	metricsdoc.Counter("ssegw_write_timeout_closes_total", "Streams closed because unsent bytes made no progress for WRITE_TIMEOUT_MS."),
	metricsdoc.Counter("ssegw_bad_requests_total", "Requests answered with a 4xx/5xx error for a malformed or oversized head."),
	metricsdoc.Counter("ssegw_head_timeouts_total", "Connections closed because no complete request head came within HEADER_TIMEOUT_MS."),
	metricsdoc.Counter("ssegw_publishes_total", "Publish commands applied (control port or broker)."),
	metricsdoc.Histogram("ssegw_publish_fanout_size", "Streams one publish reached on this gateway."),
	metricsdoc.Histogram("ssegw_loop_step_lag_seconds", "Time from an event-loop step being queued to it running: how late heartbeats, deadlines and commands are."),
	metricsdoc.Histogram("ssegw_loop_step_duration_seconds", "Time one event-loop step ran (bounded work: timers, fan-out chunks, commands)."),
	metricsdoc.Counter("ssegw_connects_total", "Connect callbacks answered, by outcome (accepted, rejected, backend_error, timeout, unavailable, server_error)."),
	metricsdoc.Counter("ssegw_connect_failures_answered_total", "Failed connects (timeout, unavailable, server_error) by how the browser was answered: retry (a retry hint) or status (an error status), per CONNECT_FAILURE."),
	metricsdoc.Counter("ssegw_disconnects_total", "Disconnect callbacks sent, by reason (client_closed, server_closed, error)."),
	metricsdoc.Counter("ssegw_shed_total", "Stream requests shed with 200 and a retry hint, by cause (shutting_down, too_many_connections, overloaded)."),

	metricsdoc.Gauge("ssegw_streams_open", "Streams open: accepted ones and those whose connect callback is pending."),
	metricsdoc.Gauge("ssegw_sockets_open", "Sockets open on the public port (streams, requests in flight, shed answers)."),
	metricsdoc.Gauge("ssegw_pending_connects", "Streams whose connect callback has not answered yet (bounded by MAX_PENDING_CONNECTS)."),
	metricsdoc.Gauge("ssegw_registered_tokens", "Stream tokens the control port can address."),
	metricsdoc.Gauge("ssegw_wheel_timers", "Timers in the event loops' timing wheels (heartbeats and deadlines)."),
	metricsdoc.Gauge("ssegw_max_connections", "The stream cap (MAX_CONNECTIONS, or what the open-file limit allows); beyond it requests are shed."),
	metricsdoc.Counter("ssegw_events_written_total", "SSE events written to streams (ready, backend events, retry hints)."),
	metricsdoc.Counter("ssegw_bytes_written_total", "Bytes written to streams, HTTP framing included."),
	metricsdoc.Counter("ssegw_write_calls_total", "Writes to stream sockets (several events for one stream may share one)."),
	metricsdoc.Counter("ssegw_heartbeats_total", "Heartbeat comments written to idle streams."),
	metricsdoc.Counter("ssegw_heartbeats_skipped_total", "Heartbeats not written because the stream still had unsent bytes."),
	metricsdoc.Counter("ssegw_connects_ahead_of_fanout_total", "Connect results applied ahead of a fan-out in progress, so new streams get ready without waiting for it."),
	metricsdoc.Gauge("ssegw_draining", "1 while the gateway drains for shutdown, else 0."),

	metricsdoc.Counter("ssegw_replays_total", "Streams that resumed from a position and replayed the history after it."),
	metricsdoc.Counter("ssegw_replayed_messages_total", "Kept messages written to resuming streams."),
	metricsdoc.Counter("ssegw_replay_failures_total", "Resuming streams ended with a retry hint because the cluster's history did not answer."),
	metricsdoc.Counter("ssegw_resyncs_total", "Resuming streams told to reload their state (event: resync), by reason (unknown, truncated)."),
	metricsdoc.Gauge("ssegw_history_messages", "Messages kept in the history (HISTORY_SIZE per channel)."),
	metricsdoc.Gauge("ssegw_history_bytes", "Memory of the kept messages, charged against HISTORY_MAX_BYTES."),
	metricsdoc.Gauge("ssegw_history_channels", "Channels with kept messages."),
	metricsdoc.Counter("ssegw_history_dropped_total", "Kept messages dropped, by reason: size (HISTORY_SIZE), age (HISTORY_TTL_SECONDS), bytes (HISTORY_MAX_BYTES)."),
)
