package rabbitmq

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

// Defaults of the transport's own settings.
const (
	// DefaultAddress is the RabbitMQ the transport connects to without
	// transport.Addrs.
	DefaultAddress = "amqp://guest:guest@127.0.0.1:5672/"
	// DefaultProbeInterval is how often open streams are checked.
	DefaultProbeInterval = time.Second
	// DefaultHeartbeat is the AMQP heartbeat interval.
	DefaultHeartbeat = 10 * time.Second
	// DefaultMaxStreams is how many streams a listener keeps open at once
	// (see [MaxStreams]).
	DefaultMaxStreams = 4096
)

type (
	connectionNameKey struct{}
	probeIntervalKey  struct{}
	heartbeatKey      struct{}
	dialerKey         struct{}
	maxStreamsKey     struct{}
)

// ConnectionName sets the name of the transport's AMQP connection, which
// RabbitMQ shows in its management UI and in rabbitmqctl list_connections
// (the client property connection_name). Default: "micro-transport-"
// followed by a random id of the transport.
func ConnectionName(name string) transport.Option {
	return func(o *transport.Options) { o.SetValue(connectionNameKey{}, name) }
}

// ProbeInterval sets how often the transport checks the streams it has
// open: it publishes a small mandatory message to each peer's queue,
// listing the streams it has with that peer. A peer whose queue is gone
// (its process died, or its listener closed) makes RabbitMQ return the
// message, and a peer that no longer knows a stream resets it, so an open
// stream to a dead peer fails within about this long. Default:
// DefaultProbeInterval (1s).
func ProbeInterval(d time.Duration) transport.Option {
	return func(o *transport.Options) { o.SetValue(probeIntervalKey{}, d) }
}

// Heartbeat sets the AMQP heartbeat interval negotiated with RabbitMQ,
// which bounds how long a silently broken connection to the broker goes
// unnoticed (about twice the interval). Default: DefaultHeartbeat (10s).
func Heartbeat(d time.Duration) transport.Option {
	return func(o *transport.Options) { o.SetValue(heartbeatKey{}, d) }
}

// MaxStreams sets how many streams a listener keeps open at once: those
// accepted and not yet closed by their handler. A stream opened beyond
// the limit is refused: its dialler's first Recv (or a Send) fails with
// an error matching transport.ErrClosed. A stream closing makes room
// again. It bounds what one listener holds for streams that clients (or
// anyone who can publish to its queue) open and never use or close.
// Values below 1 are ignored. Default: DefaultMaxStreams (4096).
func MaxStreams(n int) transport.Option {
	return func(o *transport.Options) { o.SetValue(maxStreamsKey{}, n) }
}

// dialFunc opens the TCP connection to the broker; tests replace it.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// withDialer replaces the TCP dialer (tests cut connections with it).
func withDialer(d dialFunc) transport.Option {
	return func(o *transport.Options) { o.SetValue(dialerKey{}, d) }
}

// settings are the options after defaults.
type settings struct {
	urls          []string // amqp:// or amqps:// URLs, tried in order
	name          string
	probeInterval time.Duration
	heartbeat     time.Duration
	maxStreams    int
	dial          dialFunc
	opts          transport.Options
	log           *slog.Logger // opts.Logger, else slog.Default()
}

func newSettings(id string, opts ...transport.Option) (settings, error) {
	o := transport.NewOptions(opts...)
	if o.Timeout <= 0 {
		o.Timeout = transport.DefaultTimeout
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	// Credit arithmetic is 32 bits; RabbitMQ itself stops far below.
	o.MaxMessageSize = min(o.MaxMessageSize, maxCredit-frameOverhead)
	s := settings{
		log:           o.Logger,
		name:          "micro-transport-" + id,
		probeInterval: DefaultProbeInterval,
		heartbeat:     DefaultHeartbeat,
		maxStreams:    DefaultMaxStreams,
		opts:          o,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if v, ok := o.Value(connectionNameKey{}).(string); ok && v != "" {
		s.name = v
	}
	if v, ok := o.Value(probeIntervalKey{}).(time.Duration); ok && v > 0 {
		s.probeInterval = v
	}
	if v, ok := o.Value(heartbeatKey{}).(time.Duration); ok && v > 0 {
		s.heartbeat = v
	}
	if v, ok := o.Value(maxStreamsKey{}).(int); ok && v > 0 {
		s.maxStreams = v
	}
	if v, ok := o.Value(dialerKey{}).(dialFunc); ok && v != nil {
		s.dial = v
	} else {
		var d net.Dialer
		s.dial = d.DialContext
	}
	addrs := o.Addrs
	if len(addrs) == 0 {
		addrs = []string{DefaultAddress}
	}
	for _, a := range addrs {
		u, err := engineURL(a, o.TLS != nil)
		if err != nil {
			return settings{}, err
		}
		s.urls = append(s.urls, u)
	}
	return s, nil
}

// engineURL turns an address into an AMQP URL: a bare host:port gets the
// guest account and the default vhost, and with TLS an amqp:// URL becomes
// amqps:// (whose default port is 5671).
func engineURL(addr string, useTLS bool) (string, error) {
	a := strings.TrimSpace(addr)
	if !strings.Contains(a, "://") {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", fmt.Errorf("transport/rabbitmq: address %q is neither an amqp:// URL nor host:port", addr)
		}
		a = "amqp://guest:guest@" + a + "/"
	}
	if useTLS {
		if rest, ok := strings.CutPrefix(a, "amqp://"); ok {
			a = "amqps://" + rest
		}
	}
	if _, err := amqp.ParseURI(a); err != nil {
		return "", fmt.Errorf("transport/rabbitmq: address %q: %w", redact(a), err)
	}
	return a, nil
}

// redact returns url without its password, for errors and logs.
func redact(url string) string {
	u, err := amqp.ParseURI(url)
	if err != nil {
		scheme, _, _ := strings.Cut(url, "://")
		return scheme + "://(unparsable)"
	}
	vhost := u.Vhost
	if vhost == "/" {
		vhost = ""
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) + "/" + vhost
}
