package rabbitmq

import (
	"fmt"
	"math"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Names and declare arguments, exactly as the Node SSEGateway's (its
// reference, section 7): a backend and an existing broker keep working.
const (
	// exchangeBase is the topic exchange's name, after "<prefix>." when
	// RABBITMQ_ENV_PREFIX is set.
	exchangeBase = "sse.events"
	// exchangeKind is the exchange type.
	exchangeKind = "topic"
	// queuePrefix starts every stream's queue name; the request_id follows,
	// unchanged (the env prefix is not applied to queues, as in Node).
	queuePrefix = "sse.conn."
	// maxName is AMQP's limit on a queue name, exchange name, routing key
	// and consumer tag (a shortstr). amqp091-go does not check it before
	// writing a frame: a longer one fails the frame's encoding, and the
	// library then closes the whole connection, taking every stream with it.
	// So it is checked here, per stream, first.
	maxName = 255
)

// ExchangeName is the exchange the Node service declares for an env prefix.
func ExchangeName(prefix string) string {
	if prefix == "" {
		return exchangeBase
	}
	return prefix + "." + exchangeBase
}

// QueueName is the queue of a stream with this request_id.
func QueueName(requestID string) string { return queuePrefix + requestID }

// queueArgs are the queue's declare arguments: x-expires, an integer as
// Node's amqplib sends it (RabbitMQ compares integer arguments by value
// across integer widths, so an existing queue declared by the Node service
// matches).
func queueArgs(ttlMS int64) amqp.Table {
	if ttlMS <= math.MaxInt32 {
		return amqp.Table{"x-expires": int32(ttlMS)}
	}
	return amqp.Table{"x-expires": ttlMS}
}

// checkName rejects a name the library would choke on (see maxName) or that
// is not UTF-8 (AMQP names are UTF-8 text).
func checkName(what, name string) error {
	if len(name) > maxName {
		return fmt.Errorf("%w: %s is %d bytes, more than AMQP's %d", ErrBadName, what, len(name), maxName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadName, what)
	}
	return nil
}
