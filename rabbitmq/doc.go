// Package rabbitmq is the Node SSEGateway's AMQP mode (CONTRACT.md section
// 10; the Node service's behaviour is reference/original-ssegateway.md
// section 7): with RABBITMQ_URL set, a stream accepted with a string
// request_id and non-empty bindings gets a durable queue
// sse.conn.<request_id> bound to a topic exchange with those routing keys,
// and every message published there is written to the stream like a send. A
// client that comes back with the same request_id within the queue's TTL gets
// what was published while it was away. It is a transport beside the event
// loops, like package cluster: the loops call Open and Close, and the
// transport calls them back through the Gateway interface; it never touches a
// connection.
//
// # What runs where
//
// One *Transport per gateway process, one AMQP connection (amqp091-go, the
// official client; its own automatic recovery is off: reconnecting is done
// here, because the streams must be told ready again). Goroutines:
//
//   - the manager (1): owns the stream table (token -> stream) and the
//     connection's life: it connects in the background (a dial goroutine per
//     attempt, so Close keeps being handled while it waits), retries with
//     jittered capped backoff (each wait drawn from [d/2, d], d doubling from
//     1 s to 30 s as in Node, reset after a success), and after a reconnect
//     hands every live stream back to its lane for re-setup. It calls
//     Gateway.StreamFailed.
//   - the lanes (16 per connection, `lanes`), each with two AMQP channels of
//     its own: a declare channel for its streams' exchange, queue and binding
//     declares, and a consume channel for their consumers, acks, nacks and
//     cancels. A stream is given to a lane round-robin at Open and keeps it.
//     A lane does one RPC at a time (amqp091-go's channels are not safe for
//     concurrent use), so lanes bound the setups in flight. Lanes call
//     Gateway.StreamReady.
//   - per consumer: amqp091-go's own goroutine (consumers.buffer: it moves
//     deliveries from the connection's reader into the consumer's Go channel)
//     and one forwarder of ours that receives from that channel into the
//     dispatcher's single queue. The library gives each consumer its own
//     channel, and receiving from thousands of channels takes a goroutine each
//     or reflect.Select, which was measured 4-14x slower and allocates a
//     Delivery per receive case per call (BENCHMARKS.md, "Receiving from one
//     Go channel per consumer"). That is two goroutines per stream, and
//     nothing else per stream: at 10,000 consumers against a real broker, 2.00
//     goroutines, 2.7 KB of Go heap, 4.2 KB of goroutine stacks and 8.3 KB of
//     RSS per consumer (the forwarder's stack stays at Go's 2 KiB minimum:
//     dispatch.go; the broker holds another ~40 KB per queue);
//     TestGoroutinesPerConsumer checks the two, cost_stress_test.go measures
//     the rest. Through the whole gateway at 15,000 streams (ssegw-bench
//     rabbit-fanout, BENCHMARKS.md phase 2): 7.2 KB of RSS per idle consumer
//     over the same stream without AMQP (8.0 before the forwarder's stack
//     change), and ~12 KB once it has delivered (the two goroutines' stacks
//     grow from 4.2 to 8.2 KB per consumer).
//   - the dispatcher (1): turns each delivery into a frame (loop.NewFrame of
//     the parsed sse.Event in the gateway's EVENT_FORMAT, exactly as a send)
//     and calls Gateway.Deliver. It keeps the last body's frame: a publish the
//     broker fans out reaches this gateway as one delivery per stream, back to
//     back, with one body, so it is parsed and encoded once and the frame
//     (reference-counted) shared.
//   - amqp091-go's connection reader and heartbeater.
//
// Open and Close only enqueue (a mutex-guarded slice and a wake-up), so the
// event loops call them directly. Every queue between the goroutines is
// bounded by what can be outstanding: per stream an Open, a Close and a setup
// result; per delivery one settle, and deliveries per consumer are bounded by
// the prefetch (10, `prefetch`); the forwarders' queue to the dispatcher has
// a fixed depth and holds them back when full (never drops).
//
// # The interface towards the gateway
//
// The loops implement Gateway (StreamReady, StreamFailed, Deliver); see its
// doc for each method's goroutine and ordering. Token is an alias of [16]byte
// so that package loop implements it without importing this package. The
// order for one token: StreamReady(false) once; then Delivers; after a
// reconnect (or after its consume channel failed) StreamReady(true) and more
// Delivers; or StreamFailed, after which nothing but a Deliver already under
// way (answer it done(false)). Calls can race with Close: the gateway ignores
// calls for streams it has ended.
//
// # Names, arguments, messages: as the Node service
//
// Exchange "<RABBITMQ_ENV_PREFIX>.sse.events" (or "sse.events"), topic,
// durable unless RABBITMQ_ENV_AUTO_DELETE, auto-delete if it is. Queue
// "sse.conn.<request_id>" (no prefix, request_id unchanged): durable, not
// exclusive, not auto-delete, x-expires = RABBITMQ_QUEUE_TTL_MS as an
// integer; bound to each binding key in order; never unbound or deleted by
// the gateway. Consumed with manual acks, not exclusive, prefetch 10 per
// consumer, so two streams with one request_id compete round-robin as in
// Node. A body {"event":"<name>","data":"<string>"} is written as a send
// with that name and data (unnamed when event is absent or ""); properties
// and headers are ignored.
//
// Acks and nacks: a delivery is acked once the gateway reports it queued on
// the connection (done(true)). A malformed body (not a JSON object; data
// missing or not a string; event not a string or holding CR, LF or NUL;
// over 1 MiB) is nacked without requeue and counted. A delivery for a stream
// that has ended, or that the gateway could not write (done(false)), is
// nacked with requeue, after its consumer is cancelled (so the broker does not
// hand it straight back): it waits in the queue for the next consumer of that
// request_id. Acks leave on a 5 ms tick per consume channel, gathered into
// basic.ack(multiple) frames over the settled prefix of the channel's delivery
// tags (ackWindow: never over a tag that was not written); about 20 deliveries
// per frame in a fan-out.
//
// Delivery is at least once, as in Node: a message written but not yet acked
// when the connection (or its channel) is lost is delivered again after the
// re-establishment. Deliveries that had not reached the gateway yet are
// dropped unacked when their channel is gone, so they are not written twice.
//
// # Failures and what the gateway sees
//
//   - Broker down (at start or later): ReadyReasons gives "RabbitMQ not
//     connected" (/readyz 503) and Open answers ErrUnavailable (the gateway
//     answers the stream as a connect failure with code RABBITMQ_UNAVAILABLE,
//     per CONNECT_FAILURE). Streams already ready stay open (heartbeats go
//     on) and are re-established after the reconnect: re-declared, re-bound,
//     re-consumed and told StreamReady(true). A stream not yet ready when the
//     connection is lost fails (ErrBrokerLost), as Node fails a stream whose
//     setup is interrupted; a re-establishment that fails fails its stream.
//   - A declare or bind the broker refuses (a queue left with other
//     arguments: PRECONDITION_FAILED; an exclusive queue of another
//     connection) closes only that lane's declare channel: that stream fails
//     (ErrSetup, with the broker's reason), the next declare reopens the
//     channel, no other stream notices.
//   - A name AMQP cannot carry (a queue name or binding key over 255 bytes,
//     or not UTF-8) fails its stream (ErrBadName) before anything is sent:
//     amqp091-go does not check it, and a frame it cannot encode makes it
//     close the whole connection.
//   - A consume the broker refuses (another application holds an exclusive
//     consumer on the queue: ACCESS_REFUSED) closes that lane's consume
//     channel and every consumer on it: that stream fails, the lane's other
//     streams are re-established on a new channel and told ready again
//     (1/16 of the streams); so is a consume channel the broker closes for
//     any other reason.
//   - The broker cancelling a consumer (its queue deleted) ends that stream
//     with ErrConsumerCancelled, as Node ends it with error.
//   - The exchange existing with other flags (e.g. declared by hand as
//     durable while RABBITMQ_ENV_AUTO_DELETE=true) fails every connection
//     attempt: the transport stays "not connected", logs the broker's reason
//     and retries with the backoff (Node looped through reconnects too).
//   - An auto-delete exchange that lost its last binding is declared again
//     with every stream's setup (without waiting for the answer), so a bind
//     never finds it missing.
//
// # Stop
//
// Stop hands no more deliveries to the gateway, cancels every consumer,
// waits (within its context) for the deliveries already handed over, acks
// the written ones, and closes the connection; the broker requeues the rest.
// Nothing that was not written is ever acked. Call it after the loops have
// drained their streams; the Gateway is not told about streams still open.
//
// # Deliberate differences from the Node service
//
//   - One bad declaration fails only its own stream (Node: a channel error
//     on its one shared channel, a reconnect and a re-establishment of every
//     stream); over-long names are refused before they can close the
//     connection.
//   - A delivery the gateway could not write, or one in flight to a stream
//     that ended, is requeued (Node: nack without requeue for an unknown
//     consumer, i.e. lost), so a client returning with the same request_id
//     within the TTL gets it.
//   - event:null is malformed and dropped (Node took its write-error path,
//     requeued it, and hit it again on every resume: a poison message); a
//     name with CR, LF or NUL is refused as on the control port; the names
//     ready and rejected are ordinary names (as for sends, package sse).
//   - Reconnect backoff is jittered.
//   - The old connection is always closed (Node leaked it after a channel
//     error); the exchange is re-declared with every setup.
//   - EVENT_FORMAT applies (Node always wrote the envelope).
//
// # For the README (phase 2 draft)
//
// RabbitMQ mode. Set RABBITMQ_URL (amqp:// or amqps://, amqplib's defaults
// for what is left out) to turn on the Node SSEGateway's AMQP transport. A
// connect answer with a string request_id and non-empty bindings gets the
// durable queue sse.conn.<request_id>, bound to the topic exchange
// <RABBITMQ_ENV_PREFIX>.sse.events (sse.events without a prefix; declared
// auto-delete and not durable with RABBITMQ_ENV_AUTO_DELETE=true) with each
// binding as routing key; it expires RABBITMQ_QUEUE_TTL_MS (default 300000)
// after its last consumer. Publish {"event":"<name>","data":"<string>"} to the
// exchange with a routing key: every stream bound to it receives the event as
// a send would write it. ready is written once the queue is consuming, and
// again after a broker reconnect. While the broker is down, /readyz says
// "RabbitMQ not connected" and new streams that need it get a connect failure
// with code RABBITMQ_UNAVAILABLE; a queue that cannot be set up ends its
// stream with disconnect reason error. A client returning with the same
// request_id within the TTL receives what was published meanwhile; two
// streams with one request_id share its messages round-robin. Metrics:
// ssegw_rabbitmq_connected, _consumers, _deliveries_total, _acks_total,
// _ack_frames_total, _nacks_total{cause="malformed"|"stream_closed"|
// "not_written"}, _reconnects_total, _connect_failures_total,
// _setup_failures_total,
// _channel_resets_total, _deliveries_in_flight. Differences from the Node
// service: above.
package rabbitmq
