// Package nats is a go-micro transport over NATS: go-micro's RPC streams
// travel as NATS messages, so a service opens no TCP port of its own and
// needs nothing but a connection to a NATS server.
//
// A blank import registers it under the name "nats", so that
// --transport=nats (or MICRO_TRANSPORT=nats) and
// --transport_address=host:4222 select it:
//
//	import _ "github.com/openmicro/go-plugins/transport/nats"
//
// or it is built directly with [NewTransport] and the generic options
// (transport.Addrs, default [DefaultAddr]; transport.TLS;
// transport.Timeout; transport.MaxMessageSize) and its own
// ([ConnOptions], [SubjectPrefix], [Window], [Keepalive], [MaxStreams],
// [Logger]).
//
// # Connection and addresses
//
// A Transport holds one NATS connection, opened by NewTransport and shared
// by all its listeners and streams; Close resets its streams, closes its
// listeners and then the connection. The connection reconnects for ever
// when the server goes away. The streams open at that moment fail with
// an error that matches [ErrConnectionLost] (what their peers sent
// meanwhile is lost, so they cannot go on), listeners survive (the client
// subscribes again), and Dial waits for the reconnect, within its ctx and
// transport.Timeout.
//
// Listen ignores a host:port address, such as the server's default
// "127.0.0.1:0", and subscribes to a fresh subject instead:
// [SubjectPrefix] + "." + a random id ("micro.transport.<id>"); any other
// address is taken as the subject itself. Listener.Addr returns the
// subject, which the go-micro server registers as its node's address and
// clients Dial. Listeners subscribe in a queue group, so several listeners
// on one subject share its streams. Listen returns once the NATS server
// has the subscription.
//
// # Streams
//
// Dial sends OPEN to the listener's subject, with its own stream subject
// as the reply subject, and waits for the listener's ACCEPT, sent from the
// subject of the stream at the listener's end. From then on each end
// publishes its frames to the other's subject. Every transport subscribes
// once to a wildcard of its stream subjects (under its connection's inbox
// prefix) and routes frames to its streams by the last token, which is
// random. A listener keeps at most [MaxStreams] streams open and refuses
// OPENs beyond it with RESET ([ErrRefused]).
//
// A Dial to a subject that nobody subscribes to fails at once with an
// error that matches nats.ErrNoResponders: every frame is published with
// a reply subject, and the NATS server answers such a message that finds
// no subscriber with a "503" status. The same status fails an open stream
// whose peer's connection is gone (its process died, say) with
// [ErrPeerGone]. A stream that still expects something from its peer and
// has heard nothing for [Keepalive] sends a PING, which the peer's
// transport answers with PONG: a dead peer is found by the NATS server's
// status as soon as the PING goes out, and a peer that cannot answer (hung,
// or cut off) fails the stream with [ErrPeerGone] after another Keepalive.
// Either way a stream whose peer vanished ends with an error within about
// three Keepalives (default 10s), instead of waiting for ever.
//
// # Frames
//
// Every NATS message of a stream carries one frame in its payload, and no
// NATS headers: a type byte, a flags byte, the sender's frame sequence
// number (uvarint) and a body. OPEN and ACCEPT carry the protocol version
// (1, in the flags) and the sender's window (uvarint); WINDOW carries a
// credit grant; RESET a code byte and a short reason; END, CLOSE, PING and
// PONG nothing. DATA carries one chunk of a message: the first chunk has
// the First flag and the message's length (uvarint), the last the Last
// flag. A message is encoded as a header block, uvarint(number of entries)
// followed by uvarint-length-prefixed keys and values, and then its body.
// NATS headers are not used for the message's headers because they cannot
// carry arbitrary bytes (binary values, CR LF, empty keys) and count
// against max_payload as one block that cannot be split.
//
// Core NATS keeps the order of one publisher's messages but drops them for
// slow consumers. The transport makes each stream reliable and ordered:
// the receiver checks the sequence numbers and fails the stream with
// [ErrProtocol] on a gap, and senders never outrun receivers (below), so
// nothing is dropped for a slow stream. Frames for a stream the receiving
// transport does not know are answered with RESET.
//
// # Flow control and limits
//
// Each end of a stream grants its peer [Window] bytes of credit (1 MiB by
// default; a DATA frame costs its chunk plus 64 bytes). Send waits,
// respecting its ctx, while the credit is used up; it may start one
// message whenever any credit is left, so a receiver buffers at most its
// window plus one message per stream. Recv grants the credit back in
// WINDOW frames once the application has read half a window. A slow reader
// holds up only its own stream. A peer that sends past its credit has the
// stream reset.
//
// transport.MaxMessageSize (default 4 MiB) bounds a message's encoded size,
// header block and body: Send refuses a larger one with
// transport.ErrMessageTooLarge, writes nothing and leaves the socket
// usable. A message larger than the NATS server's max_payload (1 MiB by
// default) is sent in chunks. A receiver given a message over its own
// limit resets the stream; both ends get an error matching
// transport.ErrMessageTooLarge and transport.ErrClosed.
//
// # Closing
//
// CloseSend sends END: the peer reads io.EOF after everything sent before.
// Close sends CLOSE (unless both ends had half-closed): the peer reads
// io.EOF after what was sent, and its Sends fail with transport.ErrClosed.
// Listener.Close, and Close of the transport, cut their streams with RESET:
// the peers get an error matching [ErrReset] rather than a clean io.EOF.
// Listener.Shutdown drains the listener's subscription, so that OPENs
// already on their way are refused with RESET ([ErrRefused]) rather than
// lost, refuses new streams, waits for the accepted ones to be closed
// within ctx and closes what is left.
//
// Streams are transport.DoneSocket values: Done closes once a stream can
// carry nothing more either way (closed at either end, reset, failed), not
// on a half-close, so that the go-micro server ends a stream handler's
// ctx as soon as its client goes away.
//
// # Trust
//
// NATS does not tell a subscriber who published a message, so anyone who
// can publish to a stream's subject can disrupt the stream: reset it, or
// break it with frames out of sequence. Stream subjects end in a random
// token, so that a client, which learns the subject of its own stream at
// the listener's end, cannot derive those of other clients' streams. A
// connection allowed to subscribe to a listener's subject, or to other
// connections' inboxes, sees stream subjects all the same: where clients
// do not trust each other, restrict them with NATS permissions or accounts
// (each with its own natsgo.CustomInboxPrefix).
//
// # Errors
//
// Every error a failed stream returns matches transport.ErrClosed, and one
// of [ErrPeerGone], [ErrConnectionLost], [ErrReset], [ErrRefused] or
// [ErrProtocol] says why. Send and Recv after Close return
// transport.ErrClosed; Recv returns the messages that arrived before a
// failure first. A cancelled ctx makes Send or Recv return ctx.Err() and
// leaves the stream intact. Received bodies are fresh and belong to the
// caller; Send copies the message before it returns.
//
// All values are safe for concurrent use.
package nats
