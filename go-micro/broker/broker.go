// Package broker is asynchronous publish/subscribe messaging for go-micro.
//
// The package holds the [Broker] interface, its types and options, and the
// name table through which implementations register themselves ([Register],
// [Lookup]). broker/memory delivers within one process; broker/http (the
// default) delivers peer to peer, finding subscribers through the registry;
// nats, rabbitmq and mqtt live in go-plugins. broker/brokertest is the
// conformance suite every implementation runs.
//
// Delivery: every plain subscriber of a topic gets every message published
// on it; subscribers that share a queue group ([Queue]) share the messages,
// so each group gets each message once. A handler that returns nil acks the
// message and one that returns an error nacks it (what a nack does, such as
// redelivery, is up to the implementation); with [DisableAutoAck] the
// handler acks itself through [Event].
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"

	"github.com/openmicro/go-micro/registry"
)

var (
	// ErrNotConnected is returned by Publish and Subscribe before Connect or
	// after Disconnect.
	ErrNotConnected = errors.New("broker: not connected")
	// ErrInvalidTopic is returned for an empty or malformed topic.
	ErrInvalidTopic = errors.New("broker: invalid topic")
)

// Broker publishes messages to topics and delivers them to subscribers.
// Implementations are safe for concurrent use.
type Broker interface {
	// Connect makes the broker ready to publish and subscribe. Calling it on
	// a connected broker does nothing.
	Connect(ctx context.Context) error
	// Disconnect unsubscribes every subscriber, waits for running handlers
	// within ctx and releases the broker's resources. It is idempotent.
	Disconnect(ctx context.Context) error
	// Publish sends m to every subscriber of topic.
	Publish(ctx context.Context, topic string, m *Message, opts ...PublishOption) error
	// Subscribe calls h for each message published on topic until the
	// subscriber is unsubscribed or the broker disconnects.
	Subscribe(ctx context.Context, topic string, h Handler, opts ...SubscribeOption) (Subscriber, error)
	// Address is where the broker can be reached, if it listens.
	Address() string
	// String names the implementation, e.g. "http".
	String() string
}

// Message is what is published: headers and an opaque body.
type Message struct {
	Header map[string]string
	Body   []byte
}

// Event is one delivery of a message to a subscriber.
type Event interface {
	// Topic the message was published on.
	Topic() string
	// Message delivered. The handler may keep it.
	Message() *Message
	// Ack acknowledges the message. With auto-ack (the default) the broker
	// acks when the handler returns nil; calling Ack again does nothing.
	Ack() error
	// Nack rejects the message; implementations that can redeliver do.
	Nack() error
}

// Rejecter is an optional interface of an Event. Reject settles a message
// that can never be handled, such as one whose body does not decode: it is
// not redelivered, and a broker with dead-lettering (rabbitmq's dead-letter
// exchange) routes it there. Later Ack and Nack calls do nothing. The
// server rejects the events it cannot decode when the broker's events have
// Reject, and acks them otherwise.
type Rejecter interface {
	Reject() error
}

// Handler handles one message. Its ctx ends when the broker disconnects.
type Handler func(ctx context.Context, e Event) error

// Subscriber is one subscription.
type Subscriber interface {
	// Topic subscribed to.
	Topic() string
	// Queue is the subscriber's queue group, empty when it has none.
	Queue() string
	// Unsubscribe stops delivery to the handler. It is idempotent.
	Unsubscribe(ctx context.Context) error
}

// Factory builds a Broker from options; implementations register one under
// their name with [Register].
type Factory func(opts ...Option) (Broker, error)

// Option configures a Broker when it is built.
type Option func(*Options)

// Options is the result of applying Option values. Implementations read the
// fields they support and ignore the rest.
type Options struct {
	// Addrs the broker connects to (or, for the http broker, listens on).
	Addrs []string
	// TLS, when set, secures the broker's connections.
	TLS *tls.Config
	// Registry is where the http broker registers its subscribers and finds
	// those of others.
	Registry registry.Registry
	// Logger receives the broker's logs; slog.Default() when nil.
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

// NewOptions applies opts over the defaults.
func NewOptions(opts ...Option) Options {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Addrs sets the broker addresses. Default: the implementation's own.
func Addrs(addrs ...string) Option { return func(o *Options) { o.Addrs = addrs } }

// TLS secures the broker's connections. Default: plain.
func TLS(c *tls.Config) Option { return func(o *Options) { o.TLS = c } }

// Registry sets the registry used by brokers that discover peers through
// it, such as the http broker. Default: none (such brokers then fail to
// build).
func Registry(r registry.Registry) Option { return func(o *Options) { o.Registry = r } }

// Logger sets the logger. Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// PublishOption configures one Publish call.
type PublishOption func(*PublishOptions)

// PublishOptions is the result of applying PublishOption values.
type PublishOptions struct{}

// SubscribeOption configures one Subscribe call.
type SubscribeOption func(*SubscribeOptions)

// SubscribeOptions is the result of applying SubscribeOption values.
type SubscribeOptions struct {
	// Queue is the queue group; empty for a plain subscriber.
	Queue string
	// AutoAck acks on a nil return from the handler and nacks on an error.
	AutoAck bool
}

// NewSubscribeOptions applies opts over the defaults (auto-ack on).
func NewSubscribeOptions(opts ...SubscribeOption) SubscribeOptions {
	o := SubscribeOptions{AutoAck: true}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Queue puts the subscriber in a queue group: the members of a group share
// the topic's messages, each message going to one of them. Default: none.
func Queue(group string) SubscribeOption {
	return func(o *SubscribeOptions) { o.Queue = group }
}

// DisableAutoAck leaves acking to the handler (Event.Ack). Default: the
// broker acks when the handler returns nil.
func DisableAutoAck() SubscribeOption {
	return func(o *SubscribeOptions) { o.AutoAck = false }
}
