package nats

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/transport"
)

// Defaults of the plugin's own options and of the generic ones it reads.
const (
	// DefaultAddr is the NATS server dialled when transport.Addrs is not
	// given.
	DefaultAddr = "nats://127.0.0.1:4222"
	// DefaultSubjectPrefix starts the subjects that Listen picks (see
	// [SubjectPrefix]).
	DefaultSubjectPrefix = "micro.transport"
	// DefaultWindow is the credit, in bytes, that each end of a stream
	// grants its peer (see [Window]).
	DefaultWindow = 1 << 20
	// DefaultKeepalive is how long a stream waits in silence before it
	// asks its peer whether it is still there (see [Keepalive]).
	DefaultKeepalive = 10 * time.Second
	// DefaultMaxStreams is how many streams a listener keeps open at once
	// (see [MaxStreams]).
	DefaultMaxStreams = 4096
	// maxMessageSize caps transport.MaxMessageSize so that credit
	// arithmetic cannot overflow.
	maxMessageSize = 1 << 30
)

type (
	connOptionsKey   struct{}
	subjectPrefixKey struct{}
	windowKey        struct{}
	keepaliveKey     struct{}
	loggerKey        struct{}
	maxStreamsKey    struct{}
)

// ConnOptions adds options of the nats.go client (credentials, tokens,
// user and password, nkeys, reconnect settings, a custom inbox prefix,
// ...) to the connection the transport opens. They are applied after the
// transport's own settings (name "micro transport", Options.Timeout as the
// connect timeout, Options.TLS, reconnecting for ever); the transport then
// adds its connection event handlers, calling those given here as well.
// Servers come from transport.Addrs. natsgo.NoEcho must not be given: a
// transport dials its own listeners over its one connection. Default:
// none. Several ConnOptions add up.
func ConnOptions(opts ...natsgo.Option) transport.Option {
	return func(o *transport.Options) {
		prev, _ := o.Value(connOptionsKey{}).([]natsgo.Option)
		o.SetValue(connOptionsKey{}, append(append([]natsgo.Option(nil), prev...), opts...))
	}
}

// SubjectPrefix sets the prefix of the subjects Listen picks for a
// host:port address: prefix + "." + a random id. It must be a valid NATS
// subject without wildcards. Default: [DefaultSubjectPrefix]
// ("micro.transport").
func SubjectPrefix(prefix string) transport.Option {
	return func(o *transport.Options) { o.SetValue(subjectPrefixKey{}, prefix) }
}

// Window sets how many bytes each stream lets its peer send ahead of what
// the application has read (its credit). A Send waits while the peer's
// credit is used up; it may start one message whenever some credit is left,
// so a receiver buffers at most the window plus one message per stream.
// Values below 1 are ignored. Default: [DefaultWindow] (1 MiB).
func Window(bytes int) transport.Option {
	return func(o *transport.Options) { o.SetValue(windowKey{}, bytes) }
}

// Keepalive sets how long a stream that still expects something from its
// peer waits in silence before it sends a PING. A peer that does not
// answer within another d (or whose subject has no subscriber any more,
// which the NATS server reports at once) fails the stream with
// [ErrPeerGone]: a stream whose peer vanished ends within about 3*d. A
// zero or negative d turns the check off. Default: [DefaultKeepalive]
// (10s).
func Keepalive(d time.Duration) transport.Option {
	return func(o *transport.Options) { o.SetValue(keepaliveKey{}, d) }
}

// MaxStreams sets how many streams a listener keeps open at once: those
// accepted and not yet closed, including those not yet handed to Accept.
// An OPEN beyond the limit is refused with RESET, so that Dial fails with
// an error matching [ErrRefused]; a stream closing makes room again. It
// bounds what one listener holds for streams that clients (or anyone who
// can publish to its subject) open and never use or close. Values below 1
// are ignored. Default: [DefaultMaxStreams] (4096).
func MaxStreams(n int) transport.Option {
	return func(o *transport.Options) { o.SetValue(maxStreamsKey{}, n) }
}

// Logger sets where the transport logs connection events (lost,
// reconnected) and errors reported by the nats.go client. Default:
// transport.Options.Logger (cmd.Build passes the service's logger), else
// slog.Default().
func Logger(l *slog.Logger) transport.Option {
	return func(o *transport.Options) { o.SetValue(loggerKey{}, l) }
}

// settings are the options the transport reads, defaults applied.
type settings struct {
	addrs     []string
	tls       *tls.Config
	timeout   time.Duration
	maxMsg    int
	conn      []natsgo.Option
	prefix    string
	window    int64
	keepalive time.Duration
	streams   int
	log       *slog.Logger
}

func newSettings(opts ...transport.Option) (settings, error) {
	o := transport.NewOptions(opts...)
	s := settings{
		tls:       o.TLS,
		timeout:   o.Timeout,
		maxMsg:    o.MaxMessageSize,
		prefix:    DefaultSubjectPrefix,
		window:    DefaultWindow,
		keepalive: DefaultKeepalive,
		streams:   DefaultMaxStreams,
		log:       slog.Default(),
	}
	for _, a := range o.Addrs {
		for a := range strings.SplitSeq(a, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if !strings.Contains(a, "://") {
				a = "nats://" + a
			}
			s.addrs = append(s.addrs, a)
		}
	}
	if len(s.addrs) == 0 {
		s.addrs = []string{DefaultAddr}
	}
	if s.timeout <= 0 {
		s.timeout = transport.DefaultTimeout
	}
	if s.maxMsg <= 0 {
		s.maxMsg = transport.DefaultMaxMessageSize
	}
	s.maxMsg = min(s.maxMsg, maxMessageSize)
	if v, ok := o.Value(connOptionsKey{}).([]natsgo.Option); ok {
		s.conn = v
	}
	if v, ok := o.Value(subjectPrefixKey{}).(string); ok {
		if err := validSubject(v); err != nil {
			return s, fmt.Errorf("subject prefix %q: %w", v, err)
		}
		s.prefix = v
	}
	if v, ok := o.Value(windowKey{}).(int); ok && v > 0 {
		s.window = int64(min(v, maxMessageSize))
	}
	if v, ok := o.Value(keepaliveKey{}).(time.Duration); ok {
		s.keepalive = max(v, 0)
	}
	if v, ok := o.Value(maxStreamsKey{}).(int); ok && v > 0 {
		s.streams = v
	}
	if o.Logger != nil {
		s.log = o.Logger
	}
	if v, ok := o.Value(loggerKey{}).(*slog.Logger); ok && v != nil {
		s.log = v
	}
	return s, nil
}

// validSubject reports whether s can be published to: not empty, no
// whitespace or control characters, no empty tokens and no wildcards.
func validSubject(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidSubject)
	}
	if len(s) > 1024 {
		return fmt.Errorf("%w: %d bytes long", ErrInvalidSubject, len(s))
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return fmt.Errorf("%w: %q has an empty or wildcard token", ErrInvalidSubject, s)
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: %q holds whitespace or a control character", ErrInvalidSubject, s)
		}
	}
	return nil
}
