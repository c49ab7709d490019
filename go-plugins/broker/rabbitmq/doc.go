// Package rabbitmq is a [broker.Broker] backed by a RabbitMQ server (AMQP
// 0-9-1, through github.com/rabbitmq/amqp091-go).
//
// The package registers itself under the name "rabbitmq"; a blank import
// makes broker.Open("rabbitmq") and --broker=rabbitmq work:
//
//	import _ "github.com/openmicro/go-plugins/broker/rabbitmq"
//
// [New] builds a broker directly, with the generic broker options and this
// package's own ([Exchange], [Prefetch], [PublisherConfirms], ...).
//
// # Connecting
//
// Connect dials the first of [broker.Addrs] that answers (default
// [DefaultAddr], amqp://guest:guest@127.0.0.1:5672/). An address is an AMQP
// URL (amqp://user:pass@host:port/vhost, amqps://...) or a bare host:port
// (guest/guest, vhost "/"). With [broker.TLS] the broker speaks amqps with
// that config, also to addresses given as amqp:// or host:port (default
// port 5671 when no address is given). The connection carries the name of
// [ConnectionName], which the server shows in its connection list.
//
// # Topology
//
// Publish sends to one durable topic exchange ([Exchange], default
// "micro"), with the topic as routing key. The broker declares the exchange
// on every connection. A plain subscriber gets a queue of its own,
// exclusive, auto-deleted and named by the server, bound to the exchange
// with the topic as binding key: it sees every message published while it
// is subscribed, and loses its queue, and what was in it, with its
// connection. The members of a queue group ([broker.Queue]) share one
// durable queue named "exchange:topic:group" (hashed when that name would
// be ambiguous or too long), which stays when they leave, so messages
// published while no member is connected wait for the next. Because the
// exchange is a topic exchange, "*" (one word) and "#" (zero or more
// words) in a subscribed topic are wildcards over dot-separated words, and
// Event.Topic is the routing key the message was published with.
//
// # Messages
//
// The message header travels as AMQP headers (and Content-Type also as the
// content-type property), the body as the body. Messages are persistent
// unless [Transient] is given, and carry a message id and a timestamp. A
// handler sees AMQP header values of other clients as strings (numbers,
// booleans, decimals and timestamps in their usual text form); tables and
// arrays, such as the server's x-death, are left out. Publish refuses
// header names longer than 255 bytes ([ErrInvalidHeader]) and topics longer
// than 255 bytes ([broker.ErrInvalidTopic]).
//
// # Publishing
//
// Without [PublisherConfirms], Publish returns once the message is written
// to the connection. With it, Publish returns once the server confirmed the
// message, fails with [ErrNacked] when the server refuses it and, with
// [Mandatory], with [ErrUnroutable] when no queue took it. Publishing to a
// topic without subscribers is not an error otherwise.
//
// # Acknowledgement and redelivery
//
// Messages are acknowledged by the broker, never by the server on delivery.
// With auto-ack (the default) a handler that returns nil acks the message;
// one that returns an error or panics (the panic is recovered and logged)
// nacks it, which requeues it. With [broker.DisableAutoAck] the handler
// calls Event.Ack or Event.Nack, also after it has returned (until then
// the message holds one of the subscriber's [Prefetch] slots); an error
// returned without either still nacks. The first Ack or Nack settles a
// message; later calls do nothing.
//
// Events implement [broker.Rejecter]: Reject settles a message that can
// never be handled without requeue, to the [DeadLetterExchange] when one is
// set; a go-micro server rejects the events it cannot decode this way.
//
// A message that keeps failing, such as one its handler keeps failing on,
// must not go round forever: once a message has been redelivered
// [MaxRedeliveries] times (default 10) and fails again, it is rejected
// without requeue. The server then moves it to the [DeadLetterExchange]
// when one is set, and drops it otherwise; either way the broker logs a
// line naming its topic, message id and the last error. The count is the
// server's x-delivery-count where it keeps one (quorum queues, see
// [QueueArguments]) and otherwise the subscriber's own, from the
// redelivered flag and the message id.
//
// # Losing the connection
//
// When the connection (or a subscriber's channel) is lost, the broker
// reconnects by itself with backoff ([ReconnectBackoff]), trying the
// addresses in turn, declares the exchange again, and every live
// subscriber declares and binds its queue again and resumes consuming:
// the same Subscriber goes on without the caller doing anything. The
// broker logs the loss and the reconnection through [broker.Logger].
// Messages that were being handled when the connection went are
// redelivered by the server (their acks cannot reach it), so delivery is
// at least once. Publish and Subscribe called during an outage wait for
// the connection within their ctx, then go through or fail with an error
// wrapping [ErrUnavailable] and the ctx's error. With PublisherConfirms a
// message whose confirm was lost with the connection is sent again on the
// next, so none is lost and some may arrive twice.
//
// # Lifecycle
//
// Publish and Subscribe return [broker.ErrNotConnected] before Connect and
// after Disconnect. Unsubscribe stops delivery at once (no handler call
// starts after it returns) without waiting for running calls, so a handler
// may unsubscribe itself; the consumer is cancelled on the server in the
// background. Disconnect stops every subscriber, ends the handlers'
// contexts, waits within its ctx for running handler calls (so their acks
// still reach the server) and then closes the connection; when ctx ends
// first it closes the connection at once and returns the ctx's error, and
// calling it again waits for the rest. A broker may Connect again after
// Disconnect.
//
// Handlers run on goroutines of their subscriber ([Concurrency] at a
// time, default one, in the order the server delivers), so a handler may
// Publish, Subscribe or Unsubscribe without deadlock. A message that comes
// again (nacked, or unacked when the connection went) arrives after those
// the server had already sent ahead ([Prefetch]), so redelivery breaks the
// order, and the members of a queue group see the group's messages in no
// common order. Brokers are safe for concurrent use.
package rabbitmq
