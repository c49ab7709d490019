package mqtt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openmicro/go-micro/broker"
)

// Defaults of the options.
const (
	// DefaultAddress is the server dialled without [broker.Addrs].
	DefaultAddress = "tcp://127.0.0.1:1883"
	// DefaultQoS is the QoS of publications and subscriptions.
	DefaultQoS = 1
	// DefaultKeepAlive is the MQTT keep-alive interval.
	DefaultKeepAlive = 30 * time.Second
	// DefaultConnectTimeout bounds one connection attempt.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxReconnectInterval caps the back-off between reconnection
	// attempts.
	DefaultMaxReconnectInterval = 10 * time.Second
	// DefaultMaxPending is how many messages may wait for one subscriber
	// (or one queue group of a broker) before more are dropped.
	DefaultMaxPending = 4096
)

// errOption is wrapped by New's errors for an option it cannot use.
var errOption = errors.New("broker/mqtt: invalid option")

const (
	// maxKeepAlive is the longest keep-alive MQTT can carry (16 bits of
	// seconds).
	maxKeepAlive = 65535 * time.Second
	// maxClientID leaves room in MQTT's 65535 bytes for a queue group's
	// suffix.
	maxClientID = 1024
)

// config holds the settings of this broker alone, set through its own
// options.
type config struct {
	qos            byte
	clientID       string
	cleanSession   bool
	shared         bool
	username       string
	password       string
	hasCredentials bool
	keepAlive      time.Duration
	connectTimeout time.Duration
	maxReconnect   time.Duration
	maxPending     int
	onError        func(error)
}

type (
	qosKey            struct{}
	clientIDKey       struct{}
	cleanSessionKey   struct{}
	sharedKey         struct{}
	credentialsKey    struct{}
	keepAliveKey      struct{}
	connectTimeoutKey struct{}
	maxReconnectKey   struct{}
	maxPendingKey     struct{}
	errorHandlerKey   struct{}
)

type credentials struct{ user, password string }

// QoS sets the MQTT quality of service of every publication and
// subscription: 0 (at most once), 1 (at least once) or 2 (exactly once
// between client and server). Default: [DefaultQoS] (1). New fails on
// other values.
func QoS(q byte) broker.Option {
	return func(o *broker.Options) { o.SetValue(qosKey{}, q) }
}

// ClientID sets the MQTT client identifier of the broker's connection. The
// connection of a queue group gets id + "-q-" + group. Two live clients with
// one id push each other off the server, so give each process its own.
// New fails for an id that is not UTF-8 or is longer than 1024 bytes.
// Default: a random id ("micro-" and 17 random characters) per connection.
func ClientID(id string) broker.Option {
	return func(o *broker.Options) { o.SetValue(clientIDKey{}, id) }
}

// CleanSession chooses whether the server forgets the broker's session
// (subscriptions and unacknowledged messages) when it disconnects. With
// false the server keeps them across disconnections, and messages of QoS 1
// and 2 published meanwhile are delivered on reconnection; that needs a
// stable [ClientID]. Default: true.
func CleanSession(clean bool) broker.Option {
	return func(o *broker.Options) { o.SetValue(cleanSessionKey{}, clean) }
}

// SharedSubscriptions declares whether the server supports shared
// subscriptions ($share/<group>/<topic>, MQTT 5 and many 3.1.1 servers such
// as Mosquitto 1.6 and later), through which queue groups work. With false
// Subscribe with [broker.Queue] fails with [ErrQueueUnsupported]. Default:
// true (a server that refuses the subscription is detected from its
// SUBACK).
func SharedSubscriptions(supported bool) broker.Option {
	return func(o *broker.Options) { o.SetValue(sharedKey{}, supported) }
}

// Credentials sets the user name and password sent in CONNECT. Default:
// none, or those in the address (tcp://user:password@host:1883).
func Credentials(user, password string) broker.Option {
	return func(o *broker.Options) { o.SetValue(credentialsKey{}, credentials{user, password}) }
}

// KeepAlive sets the MQTT keep-alive interval, after which a silent
// connection is pinged (and dropped when the ping goes unanswered). MQTT
// carries it in whole seconds (a fraction is dropped) from 1s to 65535s;
// New fails outside that range. Default: [DefaultKeepAlive].
func KeepAlive(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(keepAliveKey{}, d) }
}

// ConnectTimeout bounds one attempt to connect to a server (Connect's ctx
// may end it sooner) and each hand-over of a packet to the connection; New
// fails unless it is above 0. Default: [DefaultConnectTimeout].
func ConnectTimeout(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(connectTimeoutKey{}, d) }
}

// MaxReconnectInterval caps the exponential back-off between attempts to
// reconnect after the connection is lost; New fails unless it is above 0.
// Default: [DefaultMaxReconnectInterval].
func MaxReconnectInterval(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(maxReconnectKey{}, d) }
}

// MaxPending bounds the messages received but not yet handed to a
// subscriber's handler (for a queue group: to any of the broker's members).
// Past it messages are dropped and reported as a [*DeliveryError] wrapping
// [ErrOverflow]. With QoS 1 and 2 the server's in-flight window usually
// keeps far fewer waiting. New fails for n below 1. Default:
// [DefaultMaxPending].
func MaxPending(n int) broker.Option {
	return func(o *broker.Options) { o.SetValue(maxPendingKey{}, n) }
}

// ErrorHandler sets a function called with a [*DeliveryError] for each
// message received but dropped without reaching a handler: a payload that
// is not an envelope, or a full subscriber ([MaxPending]). Such messages
// are also logged at warn level. It runs on the connection's receiving
// goroutine: keep it short and do not block. Default: none.
func ErrorHandler(f func(err error)) broker.Option {
	return func(o *broker.Options) { o.SetValue(errorHandlerKey{}, f) }
}

// newConfig reads this package's options out of o over the defaults.
func newConfig(o *broker.Options) (config, error) {
	c := config{
		qos:            DefaultQoS,
		cleanSession:   true,
		shared:         true,
		keepAlive:      DefaultKeepAlive,
		connectTimeout: DefaultConnectTimeout,
		maxReconnect:   DefaultMaxReconnectInterval,
		maxPending:     DefaultMaxPending,
	}
	if q, ok := o.Value(qosKey{}).(byte); ok {
		if q > 2 {
			return c, fmt.Errorf("broker/mqtt: QoS %d: want 0, 1 or 2", q)
		}
		c.qos = q
	}
	if id, ok := o.Value(clientIDKey{}).(string); ok {
		if !utf8.ValidString(id) || len(id) > maxClientID {
			return c, fmt.Errorf("%w: client id %q is not UTF-8 of at most %d bytes", errOption, id, maxClientID)
		}
		c.clientID = id
	}
	if v, ok := o.Value(cleanSessionKey{}).(bool); ok {
		c.cleanSession = v
	}
	if v, ok := o.Value(sharedKey{}).(bool); ok {
		c.shared = v
	}
	if v, ok := o.Value(credentialsKey{}).(credentials); ok {
		c.username, c.password, c.hasCredentials = v.user, v.password, true
	}
	if d, ok := o.Value(keepAliveKey{}).(time.Duration); ok {
		// MQTT counts it in whole seconds in 16 bits, and 0 turns pings off.
		if d < time.Second || d > maxKeepAlive {
			return c, fmt.Errorf("%w: keep-alive %v outside 1s..%v", errOption, d, maxKeepAlive)
		}
		c.keepAlive = d
	}
	if d, ok := o.Value(connectTimeoutKey{}).(time.Duration); ok {
		if d <= 0 {
			return c, fmt.Errorf("%w: connect timeout %v not above 0", errOption, d)
		}
		c.connectTimeout = d
	}
	if d, ok := o.Value(maxReconnectKey{}).(time.Duration); ok {
		if d <= 0 {
			return c, fmt.Errorf("%w: max reconnect interval %v not above 0", errOption, d)
		}
		c.maxReconnect = d
	}
	if n, ok := o.Value(maxPendingKey{}).(int); ok {
		if n < 1 {
			return c, fmt.Errorf("%w: max pending %d below 1", errOption, n)
		}
		c.maxPending = n
	}
	if f, ok := o.Value(errorHandlerKey{}).(func(error)); ok {
		c.onError = f
	}
	if !c.cleanSession && c.clientID == "" {
		return c, errors.New("broker/mqtt: CleanSession(false) needs a stable ClientID")
	}
	return c, nil
}

// serverURLs turns the configured addresses into the URLs paho dials. An
// address without a scheme gets tcp:// (tls:// with TLS) and one without a
// port gets 1883 (8883 with TLS). With TLS, tcp:// and mqtt:// become
// tls:// and ws:// becomes wss://.
func serverURLs(addrs []string, secure bool) ([]string, error) {
	var out []string
	for _, a := range addrs {
		for _, a := range strings.Split(a, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if !strings.Contains(a, "://") {
				a = "tcp://" + a
			}
			u, err := url.Parse(a)
			if err != nil {
				return nil, fmt.Errorf("broker/mqtt: address %q: %w", a, err)
			}
			switch u.Scheme {
			case "tcp", "mqtt":
				if secure {
					u.Scheme = "tls"
				}
			case "ws":
				if secure {
					u.Scheme = "wss"
				}
			case "tls", "ssl", "mqtts", "wss":
			default:
				return nil, fmt.Errorf("broker/mqtt: address %q: scheme %q not supported (tcp, mqtt, tls, ssl, mqtts, ws, wss)", a, u.Scheme)
			}
			if u.Hostname() == "" {
				return nil, fmt.Errorf("broker/mqtt: address %q: no host", a)
			}
			if u.Port() == "" && u.Scheme != "ws" && u.Scheme != "wss" {
				port := "1883"
				if u.Scheme != "tcp" && u.Scheme != "mqtt" {
					port = "8883"
				}
				u.Host = net.JoinHostPort(u.Hostname(), port)
			}
			out = append(out, u.String())
		}
	}
	if len(out) == 0 {
		if secure {
			return []string{"tls://127.0.0.1:8883"}, nil
		}
		return []string{DefaultAddress}, nil
	}
	return out, nil
}
