package rabbitmq

import "ssegw/metricsdoc"

var _ = metricsdoc.Describe(
	metricsdoc.Counter("ssegw_rabbitmq_deliveries_total", "Messages the broker delivered to this gateway's stream consumers."),
	metricsdoc.Counter("ssegw_rabbitmq_acks_total", "Deliveries acked: written to their stream's connection."),
	metricsdoc.Counter("ssegw_rabbitmq_ack_frames_total", "basic.ack frames sent (each acks one or, with multiple, several deliveries)."),
	metricsdoc.Counter("ssegw_rabbitmq_nacks_total", "Deliveries nacked, by cause: malformed (dropped), stream_closed or not_written (requeued)."),
	metricsdoc.Counter("ssegw_rabbitmq_reconnects_total", "Connections to the broker re-established after a loss."),
	metricsdoc.Counter("ssegw_rabbitmq_connect_failures_total", "Failed attempts to connect to the broker."),
	metricsdoc.Counter("ssegw_rabbitmq_setup_failures_total", "Stream queues that could not be declared, bound or consumed (their stream ended with error)."),
	metricsdoc.Counter("ssegw_rabbitmq_channel_resets_total", "AMQP channels reopened after the broker closed them."),
	metricsdoc.Gauge("ssegw_rabbitmq_connected", "1 while the broker connection is up, else 0."),
	metricsdoc.Gauge("ssegw_rabbitmq_consumers", "Stream queues being consumed."),
	metricsdoc.Gauge("ssegw_rabbitmq_deliveries_in_flight", "Deliveries handed to the event loops and not yet written or refused."),
)
