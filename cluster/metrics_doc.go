package cluster

import "ssegw/metricsdoc"

var _ = metricsdoc.Describe(
	metricsdoc.Counter("ssegw_cluster_forwarded_sends_total", "Sends and closes forwarded to the gateway that holds the stream."),
	metricsdoc.Counter("ssegw_cluster_forward_errors_total", "Forwarded sends whose owner did not answer in time or answered something unreadable."),
	metricsdoc.Counter("ssegw_cluster_broker_publishes_total", "Publishes this gateway sent to the broker."),
	metricsdoc.Counter("ssegw_cluster_received_messages_total", "Messages received from the broker (channel publishes and forwarded sends)."),
	metricsdoc.Counter("ssegw_cluster_dropped_messages_total", "Broker messages dropped: this gateway fell too far behind (slow consumer) or a record was malformed."),
	metricsdoc.Counter("ssegw_cluster_reconnects_total", "Reconnections to the broker."),
	metricsdoc.Counter("ssegw_cluster_publish_broker_failures_total", "Publishes that could not be sent to the broker (applied locally only)."),
	metricsdoc.Gauge("ssegw_cluster_broker_connected", "1 while the broker connection is up, else 0."),
	metricsdoc.Gauge("ssegw_cluster_node_id", "This gateway's node id in the cluster (carried in its tokens)."),
	metricsdoc.Gauge("ssegw_cluster_channel_subscriptions", "Channel subjects this gateway subscribes to (channels with streams here)."),
	metricsdoc.Gauge("ssegw_cluster_dispatch_queue", "Broker messages waiting for the dispatcher."),
)
