// Package http is go-micro's default transport: many streams multiplexed
// over pooled TCP (or TLS) connections that start as HTTP/1.1 and upgrade
// to a compact binary framing.
//
// Import it for its side effect to make --transport=http available
// (go-micro's defaults already do):
//
//	import _ "github.com/openmicro/go-micro/transport/http"
//
// # Connections
//
// A client opens TCP (TLS when Options.TLS is set; an empty ServerName is
// taken from the dialled host), sends "GET / HTTP/1.1" with
// "Connection: Upgrade" and "Upgrade: micro-mux/1", and waits for
// "101 Switching Protocols"; from then on both sides exchange frames. A
// request without that upgrade, such as curl's, gets 426 Upgrade Required
// with a short explanation. The listener reads the request with
// net/http.ReadRequest on its own buffered reader instead of running an
// http.Server and hijacking: the frames that follow the upgrade stay in the
// same buffer, and the listener owns every connection goroutine, which
// Shutdown and Close need. Options.Timeout bounds the dial and both
// handshakes, and each side reads at most 64 KiB before the upgrade is done
// (a larger request gets 431), so a client that connects and stalls, or
// sends an endless request, costs the server nothing once that passes.
// Transport.Close aborts the dials in progress. A Dial whose own ctx ends
// returns ctx's error; Dials that were waiting on its connection dial again.
//
// Dial reuses a pooled connection to the address, dialling one when there
// is none or when every pooled one carries 1024 streams; concurrent Dials
// share one dial. A connection that fails (read or write error, EOF) fails
// its streams with an error matching transport.ErrClosed and leaves the
// pool, so the next Dial redials. A connection told GOAWAY takes no new
// streams and closes after its last one. A connection without streams for
// 90 seconds is closed.
//
// A peer that stops reading cannot hold a connection forever: each batch
// of frames must be written within 30 seconds (a write deadline), or the
// connection is closed with an error that matches transport.ErrClosed and
// says the peer stopped reading, and every Send and Recv waiting on it
// returns that error. This applies to both ends.
//
// The listener keeps at most 4096 streams open per connection (accepted
// and not yet closed by the handler); a stream beyond that is refused with
// RESET, and its Send and Recv return an error that matches
// transport.ErrClosed and says refused, while the connection and its other
// streams carry on. Dial's pool opens at most 1024 streams per connection,
// well under the limit even while handlers finish streams the client has
// already closed.
//
// Listener.Shutdown sends GOAWAY, waits for the accepted sockets to close,
// then half-closes each connection and gives its client Options.Timeout to
// hang up. GOAWAY and the half-close go through the connection's control
// writer, so a client that stopped reading cannot hold Shutdown past its
// ctx.
//
// # Frames
//
// Every frame has a 10-byte header: type, flags, stream id (uint32) and
// payload length (uint32), big endian. DATA carries one whole message:
// uvarint(header block length), the header block as uvarint-length-prefixed
// key and value strings, then the body. The End flag on DATA half-closes
// (a DATA frame with no payload is a bare half-close). RESET (with a code),
// WINDOW (credit) and GOAWAY (last accepted stream id) carry 4 bytes.
// Client streams take odd ids in increasing order on their first frame; a
// stream is opened by its first frame, so the listener sees a dialled
// stream at its first Send or CloseSend.
//
// One goroutine per connection reads frames and queues messages on their
// streams; it never waits for an application. Another writes: Send,
// CloseSend, Close and the reader append whole frames to the connection's
// pending batch and wake it, and it writes everything pending in one
// system call, after letting the goroutines that are ready run first so
// that what they queue joins the batch. A lone streaming sender and many
// concurrent callers thus share system calls, and no application
// goroutine ever blocks on the network: Send waits, respecting its ctx,
// only while 256 KiB are pending. Send returns once the message is
// queued; the caller may reuse its Body at once.
//
// A unary call costs one frame each way: CloseSend, and a Close after the
// peer half-closed, set the End flag on the stream's last DATA frame when
// it is still pending (and send a bare End frame otherwise), and a stream
// half-closed by both sides ends without a RESET. Close sends RESET (code
// 0) only while the peer may still send.
//
// # Flow control and limits
//
// Each stream grants its peer 1 MiB of credit (message bytes plus 10 per
// frame). Send waits, respecting its ctx, while the credit is used up; it
// may start one message whenever any credit is left, so a receiver buffers
// at most 1 MiB plus one message per stream. Recv returns credit in
// WINDOW frames as the application reads. A slow reader holds up only its
// own stream. A peer that sends past its credit, or grants credit beyond
// 2^31-1 bytes, has the stream reset with a flow-control error.
//
// A frame of unknown type, a control frame whose payload is not 4 bytes,
// DATA on stream 0 or a truncated frame closes the connection; frames for
// streams that are unknown, already reset, or of the wrong parity are
// ignored. A peer that provokes RESET frames faster than it reads them is
// disconnected once 64 KiB of them are queued.
//
// Options.MaxMessageSize (default 4 MiB, at most about 2 GiB) bounds a
// message's encoded size:
// the header block with its length prefixes plus the body. Send refuses a
// larger message with transport.ErrMessageTooLarge and writes nothing. A
// received DATA frame over the receiver's own limit is skipped unread and
// its stream reset; both ends then get an error matching
// transport.ErrMessageTooLarge and transport.ErrClosed, and the connection
// goes on serving its other streams.
//
// # Errors
//
// Recv returns io.EOF once the peer half-closed or closed the stream and
// every message before was read. Send after CloseSend or Close, or after
// the peer closed the stream, returns transport.ErrClosed; a stream reset
// for another reason (refused during shutdown or over the stream limit,
// message too large, malformed message, flow control) returns an error
// that matches transport.ErrClosed and names the reason; a malformed
// message resets its stream and drops what was queued behind it. A
// connection that fails (lost, or its peer stopped reading) fails every
// Send and Recv on it with an error that matches transport.ErrClosed. A
// cancelled ctx makes Send or Recv return ctx.Err() and leaves the stream
// and its connection intact. Received bodies are freshly allocated and
// belong to the caller.
//
// All values are safe for concurrent use.
package http
