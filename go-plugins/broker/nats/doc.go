// Package nats is a [broker.Broker] on NATS (https://nats.io): topics are
// NATS subjects, queue groups are NATS queue groups, and with [JetStream]
// messages are stored and redelivered until a subscriber acks them.
//
// The package registers itself under the name "nats"; a blank import makes
// broker.Open("nats") and --broker=nats work:
//
//	import _ "github.com/openmicro/go-plugins/broker/nats"
//
// [New] builds a broker as well, and takes this package's own options
// beside those of package broker.
//
// # Connecting
//
// Connect dials the servers of [broker.Addrs] in random order until one
// answers (NATS URLs such as
// nats://host:4222, tls://host:4222 or nats://user:password@host:4222, or
// plain host:port; default [DefaultAddr]), within its ctx and
// [DialTimeout]. It fails when no server answers, with an error that names
// the addresses (passwords and tokens hidden). With [broker.TLS] the
// connection uses that config. [NATSOptions] passes any nats.go option
// through, such as credentials.
//
// Once connected the broker never gives up: when the connection drops it
// reconnects forever, waiting between rounds as [ReconnectBackoff] says,
// and renews its subscriptions on the new connection, so subscribers
// resume by themselves. Meanwhile Publish keeps what it is given in a
// buffer of [ReconnectBuffer] bytes, sent once the connection is back,
// after its subscriptions are renewed (in core NATS, subscribers on other
// connections that are not back yet miss them); Publish fails when the
// buffer is full. Lost and
// regained connections are logged through [broker.Logger].
//
// # Messages
//
// A topic is the NATS subject, after [SubjectPrefix] if one is set. Topics
// to publish on are refused with [broker.ErrInvalidTopic] when empty, when
// holding white space or control characters, when a dot-separated token is
// empty ("a..b") or when they are the wildcards "*" or ">"; topics to
// subscribe to may use the wildcards ("orders.*", "orders.>") and
// Event.Topic then reports the subject the message came on.
//
// Message.Header travels as NATS headers and Message.Body as the payload;
// Publish writes them straight into the connection's buffer, making no copy
// of the message first. NATS trims the white space around header
// values and turns line breaks in them into spaces; a header key that NATS
// cannot carry (empty, or holding characters outside printable ASCII or
// any of "()/,:;<=>?@[\]{} and the double quote) fails Publish with
// [ErrInvalidHeader]. A message from another NATS client whose key has
// several values arrives with them joined by ", "; one whose header block
// is malformed arrives with its body and no header, and the malformed
// header is logged. The server bounds a message's size (1 MiB by default).
// Headers whose keys start with "Nats-" mean something to NATS; in
// JetStream mode, for instance, Nats-Msg-Id makes the stream drop
// duplicates of a message published twice.
//
// # Core NATS delivery
//
// Without [JetStream] delivery is at most once. Publish returns once the
// message is in the connection's buffer. Every subscriber gets each message
// published after Subscribe returned (Subscribe waits until the server
// knows of it); subscribers with the same queue group share the messages,
// each going to one member. A subscriber's handler runs on a goroutine of
// that subscriber, one message at a time, in the order they came; use
// several queue group members for parallel handling. Messages waiting for a
// slow handler are held in memory up to nats.go's limits (500,000 messages
// or 64 MiB per subscriber), beyond which they are dropped and the drop is
// logged.
//
// Core NATS cannot redeliver: Ack and Nack do nothing and return nil, and
// a message whose handler fails is gone (the failure is logged).
//
// # JetStream delivery
//
// With [JetStream] delivery is at least once. Publish waits, within its ctx
// (at most 5s when it has no deadline), for the stream to acknowledge that
// it stored the message; while the connection is down it waits for it to
// come back. A Publish that fails because its ctx ended while the
// connection was down may still be stored once it is back (the message
// waits in the reconnect buffer), so a retry may store it twice: set a
// Nats-Msg-Id header to have the stream drop the duplicate.
//
// Each subscriber consumes through a JetStream pull consumer with explicit
// acks, delivering the messages published after the consumer was first
// created:
//
//   - A subscriber with a queue group uses the durable consumer named after
//     the group and the subject. The members of the group share it, it
//     survives Unsubscribe, Disconnect and restarts of the process or the
//     server, and the next member to subscribe gets what was published
//     while none was there.
//   - A subscriber without a queue group does the same under [Durable]
//     when that is set. Otherwise it has a consumer of its own, deleted by
//     Unsubscribe and Disconnect, and by the server [DefaultInactiveThreshold]
//     after its client vanished.
//
// A handler that returns nil acks the message and one that returns an
// error (or panics) nacks it: JetStream redelivers it after
// [RedeliveryDelay], up to [MaxDeliver] deliveries in all. A failure on
// the last delivery is logged as an error saying the message was given
// up; the server then publishes a max-deliveries advisory
// ($JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>), which
// can feed a dead-letter stream. With [broker.DisableAutoAck] the handler
// calls Ack or Nack itself, also after it has returned; a message it
// settles neither way is redelivered after [AckWait], and its returned
// error is only logged. The first of Ack and Nack settles a message, later
// calls do nothing.
//
// Every topic must fall under the stream's subjects: Subscribe refuses
// other topics with [ErrNotInStream], and Publish fails on them.
//
// A subscriber whose consumer disappears while it runs (deleted by an
// operator, removed by the server after [DefaultInactiveThreshold] without
// pulls during a long partition) creates it again under the same name and
// goes on, logging a warning; what was published while the consumer was
// gone is not delivered to it.
//
// # Handlers
//
// A handler's ctx ends when its subscriber unsubscribes or the broker
// disconnects. A handler that returns an error or panics is logged and
// the subscriber goes on with the next message. A handler may Publish,
// Subscribe or Unsubscribe (itself too) without deadlock.
//
// # Lifecycle
//
// Publish and Subscribe return [broker.ErrNotConnected] before Connect and
// from the moment Disconnect begins (so a handler finishing during
// Disconnect cannot publish through this broker). Unsubscribe stops delivery before it returns (a call
// under way finishes; messages the client holds for the subscriber but has
// not handed to it are dropped, or in JetStream mode nacked, so another
// member or a later subscriber gets them) and ends the handler's ctx.
//
// Disconnect drains: it stops delivery to every subscriber, ends the
// handlers' contexts and waits, within its ctx, for the calls under way to
// return, over a connection still up so that their acks and nacks reach
// the server; then it deletes the consumers of its own, unsubscribes at the
// server, sends what Publish buffered and closes the connection. When ctx
// ends first it closes the connection at once and returns an error
// wrapping ctx's. Disconnecting while the server
// is unreachable drops the buffered publishes (logged). A broker may
// Connect again after Disconnect.
//
// Brokers, subscribers and events are safe for concurrent use.
package nats
