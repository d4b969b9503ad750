// Package rabbitmq is the Node SSEGateway's AMQP mode (CONTRACT.md section
// 10): a stream accepted with a string request_id and bindings gets a durable
// queue sse.conn.<request_id> bound to the topic exchange with those routing
// keys, and what is published there is written to the stream. It is a
// transport beside the event loops, like package cluster: the loops call
// Open and Close, and it calls them back through the Gateway interface.
package rabbitmq
