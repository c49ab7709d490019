// Package rabbitmq is a go-micro transport.Transport that carries RPC
// streams over RabbitMQ (AMQP 0-9-1), for services that can reach each
// other only through the broker, or that want the broker's queues as
// their addresses.
//
// Import it for its side effect to make --transport=rabbitmq (and
// MICRO_TRANSPORT=rabbitmq) available; --transport_address gives the
// broker:
//
//	import _ "github.com/openmicro/go-plugins/transport/rabbitmq"
//
// or build one in code with [NewTransport] and pass it to
// server.Transport and client.Transport.
//
// # Addresses
//
// A listener is a queue. Listen with a host:port address, such as the
// server's default "127.0.0.1:0", or with an empty one, declares a queue
// with a unique name ("micro.transport." and 32 hex digits); any other
// address is used as the queue name (names starting with "amq." are
// RabbitMQ's and refused). Listener.Addr returns the name, the server
// registers it as its node's address, and clients Dial it. The queue is
// exclusive to the listener's AMQP connection, so RabbitMQ deletes it when
// the process dies; Close deletes it too. Listen on a name another
// connection, or another listener of the transport, holds fails with
// [ErrAddrInUse].
//
// # Connections
//
// A Transport opens one AMQP connection, at its first Dial or Listen,
// named by [ConnectionName] (the client property "connection_name"), to
// the first of Options.Addrs that answers within Options.Timeout (amqp://
// or amqps:// URLs, or host:port with the guest account; default
// [DefaultAddress]). With Options.TLS set, amqp:// URLs are dialled as
// amqps:// (port 5671 unless given) with a clone of that config. Each
// listener has a channel of its own; dialled streams share two more, one
// for their frames and one, in publisher-confirm mode, for opening them.
// When the connection is lost, every stream on it fails with an error
// matching transport.ErrClosed; the next Dial reconnects, and each
// listener reconnects by itself (backing off up to 5s), declares its
// queue again under the same name and goes on accepting. Close closes
// the listeners and dialled streams, telling their peers, deletes the
// transport's queues and closes the connection; it closes nothing else
// on the broker.
//
// # Frames
//
// Every frame is one AMQP message, published to the default exchange
// with the peer's queue as routing key. Its "type" property says what it
// is (open, data, end, reset, window, probe), its correlation id names the
// stream (128 random bits, which no one else can guess) and its reply-to
// is the sender's own queue. A data frame carries one
// transport.Message: its headers as AMQP headers (string values) and its
// body as the body. Header names RabbitMQ would refuse or act on ("CC"
// and "BCC" route copies elsewhere, and must be arrays), names longer
// than 255 bytes, the empty name and "micro.headers" itself travel in
// the one header "micro.headers", an array of alternating names and
// values. Frames are published transient and consumed without acks:
// the transport does its own flow control, and a stream does not outlive
// its connection anyway.
//
// Dial publishes the stream's open frame as a mandatory message, in
// publisher-confirm mode, and waits for the confirmation: when no queue
// has that name RabbitMQ returns the message first, and Dial fails fast
// with [ErrNoListener]. The stream's later frames, published after that
// confirmation, reach the queue after its open frame. The listener's
// answers go to an exclusive reply queue of the dialling transport
// ("micro.transport.<id>.reply.<n>"), one per connection, and reach their
// stream by correlation id.
// RabbitMQ's direct reply-to (amq.rabbitmq.reply-to) is not used: the
// transport cannot tell a unary call from a stream when it dials, and a
// server publishing to a direct reply-to address cannot learn that the
// client is gone (RabbitMQ reports every mandatory publish to such an
// address as unroutable, delivered or not), which the liveness checks
// below depend on.
//
// A listener takes frames only from diallers' reply queues (names of that
// form, which Listen refuses) and drops the rest unanswered, so that a
// forged open frame cannot join a listener to itself (a stream echoing to
// itself for ever) or to another listener, and a forged probe cannot make
// it send resets to a queue of the forger's choosing. It keeps at most
// [MaxStreams] streams open, refusing those beyond with a reset. RabbitMQ does not tell a consumer
// who published a message: anyone who can read a stream's frames can
// disrupt it, so where clients do not trust each other, keep them off
// each other's queues with RabbitMQ permissions.
//
// # Flow control and liveness
//
// Each side of a stream grants its peer 1 MiB of credit (message bytes
// plus 64 per message). Send waits, within its ctx, while the credit is
// spent; it may start one message whenever any credit is left, so a
// receiver buffers at most 1 MiB plus one message per stream. Recv
// returns credit in window frames as the application reads. A slow
// reader holds up only its own stream. A peer that sends beyond its
// credit has the stream reset. While RabbitMQ blocks the connection (a
// memory or disk alarm), Send waits for that too, within its ctx.
//
// Every [ProbeInterval] (default 1s) each side publishes, to each peer
// queue it has open streams with, a mandatory probe listing those
// streams. RabbitMQ returns a probe (or any frame) whose queue is gone,
// which fails the streams to that queue with an error matching
// transport.ErrClosed and [ErrNoListener]; a peer that does not know a
// listed stream (it closed it, or restarted) resets it. So a stream whose
// peer died ends within about ProbeInterval, plus the time RabbitMQ
// takes to notice the dead connection (at once for a closed socket,
// about two heartbeats, see [Heartbeat], for a silent one).
//
// # Limits and errors
//
// Options.MaxMessageSize (default 4 MiB) bounds a message: its header
// names and values plus its body. Send refuses a larger message with
// transport.ErrMessageTooLarge and sends nothing; the socket stays
// usable. A message over the receiver's own limit resets its stream, and
// both ends get an error matching transport.ErrMessageTooLarge and
// transport.ErrClosed. Keep the limit under RabbitMQ's max_message_size,
// or the broker closes the channel.
//
// Recv returns io.EOF once the peer half-closed (CloseSend) or closed the
// stream and every message before was read. Send after CloseSend or
// Close, or after the peer closed the stream, returns transport.ErrClosed;
// a stream ended for another reason (refused during Shutdown, lost
// connection, peer gone, malformed frame, flow control) returns an error
// that matches transport.ErrClosed and says why. Frames that cannot be
// tied to a stream are dropped; data for a stream the receiver does not
// know is answered with a reset. A cancelled ctx makes Send or Recv
// return ctx.Err() and leaves the stream intact. Received bodies belong
// to the caller.
//
// Listener.Shutdown refuses new streams (they are reset: their first Recv
// fails with an error matching transport.ErrClosed), waits for the accepted
// ones to be closed or for its ctx, then closes: accepted streams still
// open are closed and their diallers read io.EOF.
//
// Streams are transport.DoneSocket values: Done closes once a stream can
// carry nothing more either way (closed at either end, reset, its peer or
// connection lost), not on a half-close, so that the go-micro server ends
// a stream handler's ctx as soon as its client goes away.
//
// All values are safe for concurrent use.
package rabbitmq
