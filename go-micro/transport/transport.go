// Package transport carries point-to-point messages between a client and a
// server: the layer beneath go-micro's RPC.
//
// The package holds the [Transport] interface, its types and options, and
// the name table through which implementations register themselves
// ([Register], [Lookup]). transport/http is the default and
// transport/memory works within one process; nats and rabbitmq live in
// go-plugins. transport/transporttest is the conformance suite every
// implementation runs.
//
// A [Socket] is one bidirectional stream of [Message] values. Dial opens a
// new stream to a listener (implementations may multiplex many streams over
// one pooled connection); the listener hands each new stream to its Accept
// callback. Either side may half-close with CloseSend: the peer's Recv then
// returns io.EOF once it has read everything sent before.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"
)

var (
	// ErrClosed is returned by operations on a closed socket, listener or
	// transport.
	ErrClosed = errors.New("transport: closed")
	// ErrMessageTooLarge is returned by Send for a message over the size
	// limit; the socket stays usable.
	ErrMessageTooLarge = errors.New("transport: message too large")
)

// Transport dials and listens. Implementations are safe for concurrent use.
type Transport interface {
	// Dial opens a new stream to the listener at addr.
	Dial(ctx context.Context, addr string, opts ...DialOption) (Socket, error)
	// Listen starts listening at addr (host:port; port 0 picks a free one).
	Listen(ctx context.Context, addr string, opts ...ListenOption) (Listener, error)
	// Close releases the transport's pooled connections; sockets dialled
	// through it are closed. It is idempotent.
	Close() error
	// String names the implementation, e.g. "http".
	String() string
}

// Message is one unit sent over a Socket.
type Message struct {
	Header map[string]string
	Body   []byte
}

// Socket is one bidirectional stream. Send may be called concurrently with
// Recv; concurrent Sends (or concurrent Recvs) are serialised.
type Socket interface {
	// Send writes m. It blocks while the peer is not keeping up (flow
	// control) and fails with ErrClosed once the socket is closed, or with
	// ErrMessageTooLarge, leaving the socket usable.
	Send(ctx context.Context, m *Message) error
	// Recv reads the next message into m. It returns io.EOF after the peer
	// half-closed or closed the stream and everything it sent was read.
	Recv(ctx context.Context, m *Message) error
	// CloseSend half-closes: the peer reads io.EOF after the messages sent
	// so far. The socket can still Recv.
	CloseSend() error
	// Close ends the stream in both directions and releases it. It is
	// idempotent.
	Close() error
	// Local and Remote are the addresses of the two ends.
	Local() string
	Remote() string
}

// DoneSocket is a Socket that can say when it has ended: Done returns a
// channel closed once the stream can carry nothing more either way
// (closed here, reset or closed by the peer, or its connection lost); a
// half-close by the peer does not close it. It is optional: the server
// uses it, when a socket has it, to end a stream handler's context as soon
// as the client goes away, even while the handler is not in Send or Recv.
// transport/http's sockets have it.
type DoneSocket interface {
	Socket
	Done() <-chan struct{}
}

// Listener accepts streams.
type Listener interface {
	// Addr is the address the listener is bound to, with the real port.
	Addr() string
	// Accept calls fn in a new goroutine for each accepted stream; fn owns
	// the socket and must close it. Accept blocks until the listener is
	// closed, then returns nil, or returns the error that stopped it.
	Accept(fn func(Socket)) error
	// Shutdown stops accepting connections and streams, then waits until
	// every accepted socket is closed or ctx ends, and then closes what is
	// left. It returns ctx's error if it had to cut sockets short.
	Shutdown(ctx context.Context) error
	// Close closes the listener and every accepted socket at once. It is
	// idempotent.
	Close() error
}

// Factory builds a Transport from options; implementations register one
// under their name with [Register].
type Factory func(opts ...Option) (Transport, error)

// Option configures a Transport when it is built.
type Option func(*Options)

// Options is the result of applying Option values. Implementations read the
// fields they support and ignore the rest.
type Options struct {
	// Addrs of the engine a transport runs over (nats, rabbitmq); unused by
	// http and memory.
	Addrs []string
	// TLS secures connections: a client config when dialling, a server
	// config (with certificates) when listening.
	TLS *tls.Config
	// Timeout bounds dialling a connection; default 5s.
	Timeout time.Duration
	// MaxMessageSize is the largest message body and header, together, in
	// bytes, that Send writes and Recv accepts; default 4 MiB.
	MaxMessageSize int
	// Logger receives what an implementation logs (connections lost and
	// regained, say); slog.Default() when nil. cmd.Build passes the
	// service's logger.
	Logger *slog.Logger

	// Values holds the settings of one implementation, set by that
	// implementation's own typed options (httpbroker.RegisterTTL, say) under
	// key types it does not export, and read back by it with Value. Other
	// implementations ignore them.
	Values map[any]any
}

// SetValue stores one implementation's setting under key. It is meant for
// the option functions of implementations, whose key types are unexported.
func (o *Options) SetValue(key, value any) {
	if o.Values == nil {
		o.Values = make(map[any]any)
	}
	o.Values[key] = value
}

// Value returns the setting stored under key by SetValue, or nil.
func (o *Options) Value(key any) any { return o.Values[key] }

// Defaults for Options.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxMessageSize = 4 << 20
)

// NewOptions applies opts over the defaults.
func NewOptions(opts ...Option) Options {
	o := Options{Timeout: DefaultTimeout, MaxMessageSize: DefaultMaxMessageSize}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Addrs sets the engine addresses. Default: the implementation's own.
func Addrs(addrs ...string) Option { return func(o *Options) { o.Addrs = addrs } }

// TLS secures connections. Default: plain.
func TLS(c *tls.Config) Option { return func(o *Options) { o.TLS = c } }

// Timeout bounds dialling a connection. Default: 5s.
func Timeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// MaxMessageSize limits a message's size in bytes. Default: 4 MiB.
func MaxMessageSize(n int) Option { return func(o *Options) { o.MaxMessageSize = n } }

// Logger sets where the transport logs. Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// DialOption configures one Dial call.
type DialOption func(*DialOptions)

// DialOptions is the result of applying DialOption values.
type DialOptions struct{}

// ListenOption configures one Listen call.
type ListenOption func(*ListenOptions)

// ListenOptions is the result of applying ListenOption values.
type ListenOptions struct{}
