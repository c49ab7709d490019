package nats

import (
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/broker"
)

// Defaults of this package's options.
const (
	// DefaultAddr is where the broker connects without [broker.Addrs].
	DefaultAddr = "nats://127.0.0.1:4222"
	// DefaultReconnectBuffer is how many bytes of publishes are kept while
	// the connection is down (nats.go's own default).
	DefaultReconnectBuffer = natsgo.DefaultReconnectBufSize
	// DefaultReconnectMin and DefaultReconnectMax bound the wait between
	// reconnect attempts, which doubles from the first to the second.
	DefaultReconnectMin = 100 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	// DefaultDialTimeout bounds one dial and handshake with a server.
	DefaultDialTimeout = 5 * time.Second
	// DefaultAckWait is how long JetStream waits for an ack before it
	// redelivers (JetStream's own default).
	DefaultAckWait = 30 * time.Second
	// DefaultInactiveThreshold is how long JetStream keeps the consumer of
	// a subscriber without a durable name after its client went away
	// without unsubscribing (a crash, a long network partition).
	DefaultInactiveThreshold = time.Hour
)

// config holds the settings of this broker alone, set by the options of
// this package and read back from [broker.Options.Values].
type config struct {
	prefix       string
	reconnectBuf int
	backoffMin   time.Duration
	backoffMax   time.Duration
	dialTimeout  time.Duration
	natsOpts     []natsgo.Option

	// JetStream; stream == "" means core NATS.
	stream            string
	subjects          []string
	durable           string
	ackWait           time.Duration
	maxDeliver        int
	nakDelay          time.Duration
	inactiveThreshold time.Duration
}

type (
	prefixKey       struct{}
	reconnectBufKey struct{}
	backoffKey      struct{}
	dialTimeoutKey  struct{}
	natsOptsKey     struct{}
	jetStreamKey    struct{}
	durableKey      struct{}
	ackWaitKey      struct{}
	maxDeliverKey   struct{}
	nakDelayKey     struct{}
)

type backoff struct{ min, max time.Duration }

type jetStream struct {
	stream   string
	subjects []string
}

// newConfig reads this package's settings from o over the defaults.
func newConfig(o *broker.Options) config {
	c := config{
		reconnectBuf:      DefaultReconnectBuffer,
		backoffMin:        DefaultReconnectMin,
		backoffMax:        DefaultReconnectMax,
		dialTimeout:       DefaultDialTimeout,
		ackWait:           DefaultAckWait,
		maxDeliver:        -1,
		inactiveThreshold: DefaultInactiveThreshold,
	}
	if p, ok := o.Value(prefixKey{}).(string); ok {
		c.prefix = p
	}
	if n, ok := o.Value(reconnectBufKey{}).(int); ok && n != 0 {
		c.reconnectBuf = n
	}
	if b, ok := o.Value(backoffKey{}).(backoff); ok && b.min > 0 {
		c.backoffMin, c.backoffMax = b.min, max(b.min, b.max)
	}
	if d, ok := o.Value(dialTimeoutKey{}).(time.Duration); ok && d > 0 {
		c.dialTimeout = d
	}
	if n, ok := o.Value(natsOptsKey{}).([]natsgo.Option); ok {
		c.natsOpts = n
	}
	if js, ok := o.Value(jetStreamKey{}).(jetStream); ok {
		c.stream, c.subjects = js.stream, js.subjects
	}
	if d, ok := o.Value(durableKey{}).(string); ok {
		c.durable = d
	}
	if d, ok := o.Value(ackWaitKey{}).(time.Duration); ok && d > 0 {
		c.ackWait = d
	}
	if n, ok := o.Value(maxDeliverKey{}).(int); ok && n != 0 {
		c.maxDeliver = n
	}
	if d, ok := o.Value(nakDelayKey{}).(time.Duration); ok && d > 0 {
		c.nakDelay = d
	}
	return c
}

// SubjectPrefix puts prefix before every topic to make the NATS subject
// ("orders" becomes prefix+"orders"), so that several systems can share one
// NATS account without seeing each other's messages. Event.Topic reports
// the topic without it. Default: none, the subject is the topic.
func SubjectPrefix(prefix string) broker.Option {
	return func(o *broker.Options) { o.SetValue(prefixKey{}, prefix) }
}

// ReconnectBuffer sets how many bytes of publishes the broker keeps while
// its connection is down; they are sent once it is back. Publish fails
// when the buffer is full, and a negative size turns buffering off, so
// that Publish fails while the connection is down. Default:
// [DefaultReconnectBuffer] (8 MiB).
func ReconnectBuffer(bytes int) broker.Option {
	return func(o *broker.Options) { o.SetValue(reconnectBufKey{}, bytes) }
}

// ReconnectBackoff sets the wait between reconnect attempts: it starts at
// minWait, doubles after each failed round over the servers up to maxWait,
// and is jittered by up to half. The broker retries forever. Default:
// [DefaultReconnectMin], [DefaultReconnectMax].
func ReconnectBackoff(minWait, maxWait time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(backoffKey{}, backoff{minWait, maxWait}) }
}

// DialTimeout bounds one dial and handshake with a server, besides the
// deadline of Connect's ctx. Default: [DefaultDialTimeout].
func DialTimeout(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(dialTimeoutKey{}, d) }
}

// NATSOptions passes further nats.go options to the connection, such as
// nats.UserCredentials or nats.Name. They apply after the broker's own, so
// they may override its reconnect, buffer and handler settings (the
// broker then no longer logs what the replaced handlers logged). Default:
// none.
func NATSOptions(opts ...natsgo.Option) broker.Option {
	return func(o *broker.Options) { o.SetValue(natsOptsKey{}, opts) }
}

// JetStream turns on JetStream mode: messages are stored in the stream
// named stream and delivered through durable consumers with explicit
// acks, so a nacked message is redelivered and a queue group that was down
// gets what it missed. Connect creates the stream with the given subjects
// (NATS subjects, wildcards allowed, the [SubjectPrefix] included) in file
// storage when it does not exist and adds the subjects to it when it does;
// with no subjects the stream must exist already. Every topic published or
// subscribed to must fall under the stream's subjects. Default: core NATS.
func JetStream(stream string, subjects ...string) broker.Option {
	return func(o *broker.Options) { o.SetValue(jetStreamKey{}, jetStream{stream, subjects}) }
}

// Durable makes the subscribers without a queue group durable in
// JetStream mode: their consumer is named after name and the topic, kept
// when they unsubscribe and resumed by the next subscriber of the topic
// with the same name, which then gets what was published meanwhile. All
// such subscribers of one topic under one name share the consumer, like a
// queue group. Subscribers with a queue group are always durable, named
// after the group (a queue group named like the durable name shares the
// same consumer on the same topic). Default: none; a subscriber without a
// queue group gets a consumer of its own, deleted when it unsubscribes.
func Durable(name string) broker.Option {
	return func(o *broker.Options) { o.SetValue(durableKey{}, name) }
}

// AckWait sets how long JetStream waits for a message's ack before it
// redelivers the message. Default: [DefaultAckWait].
func AckWait(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(ackWaitKey{}, d) }
}

// MaxDeliver bounds how often JetStream delivers one message to one
// consumer (queue group); after that a nacked or unacked message is no
// longer redelivered. Default: -1, without limit.
func MaxDeliver(n int) broker.Option {
	return func(o *broker.Options) { o.SetValue(maxDeliverKey{}, n) }
}

// RedeliveryDelay sets how long JetStream waits before it redelivers a
// nacked message. Default: 0, at once.
func RedeliveryDelay(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(nakDelayKey{}, d) }
}
