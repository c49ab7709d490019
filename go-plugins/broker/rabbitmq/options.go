package rabbitmq

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
)

// Defaults of the plugin's options.
const (
	// DefaultAddr is the server dialled when broker.Addrs is not given.
	DefaultAddr = "amqp://guest:guest@127.0.0.1:5672/"
	// DefaultExchange is the topic exchange messages are published to (see
	// [Exchange]).
	DefaultExchange = "micro"
	// DefaultPrefetch is how many unacknowledged messages the server sends
	// each subscriber ahead (see [Prefetch]).
	DefaultPrefetch = 64
	// DefaultConcurrency is how many handler calls of one subscriber run at
	// once (see [Concurrency]).
	DefaultConcurrency = 1
	// DefaultMaxRedeliveries is how often a message whose handler fails is
	// delivered again before it is rejected (see [MaxRedeliveries]).
	DefaultMaxRedeliveries = 10
	// DefaultReconnectMin and DefaultReconnectMax bound the wait between
	// two attempts to reach the server again (see [ReconnectBackoff]).
	DefaultReconnectMin = 100 * time.Millisecond
	DefaultReconnectMax = 10 * time.Second
)

// maxShortstr is the longest AMQP short string: exchange, queue and header
// names, routing keys and most message properties.
const maxShortstr = 255

type (
	exchangeKey        struct{}
	prefetchKey        struct{}
	concurrencyKey     struct{}
	confirmsKey        struct{}
	mandatoryKey       struct{}
	transientKey       struct{}
	maxRedeliveriesKey struct{}
	deadLetterKey      struct{}
	queueArgsKey       struct{}
	connNameKey        struct{}
	backoffKey         struct{}
)

// Exchange sets the name of the topic exchange the broker publishes to and
// binds its queues to. The broker declares it, durable, on every
// connection; brokers that should talk to each other use the same name.
// Names starting with "amq." (such as "amq.topic") are the server's own and
// are only checked for, not declared. Default: [DefaultExchange] ("micro").
func Exchange(name string) broker.Option {
	return func(o *broker.Options) { o.SetValue(exchangeKey{}, name) }
}

// Prefetch sets how many messages the server sends each subscriber before
// they are acknowledged (basic.qos). 0 means no limit. Default:
// [DefaultPrefetch] (64).
func Prefetch(n int) broker.Option {
	return func(o *broker.Options) { o.SetValue(prefetchKey{}, n) }
}

// Concurrency sets how many calls of one subscriber's handler run at once.
// With more than one, messages of a subscriber are handled out of order.
// Default: [DefaultConcurrency] (1: one at a time, in the order delivered,
// which a redelivered message does not keep).
func Concurrency(n int) broker.Option {
	return func(o *broker.Options) { o.SetValue(concurrencyKey{}, n) }
}

// PublisherConfirms puts the broker's publishing channel in confirm mode:
// Publish returns only once the server has taken responsibility for the
// message (routed it to every queue bound, written persistent messages to
// disk), returns [ErrNacked] when the server refuses it, and sends it again
// on the next connection when the connection drops before the confirm
// arrives (so a message may arrive twice, never zero times). Default: off;
// Publish returns once the message is written to the socket, and a message
// in flight when the connection drops may be lost.
func PublisherConfirms() broker.Option {
	return func(o *broker.Options) { o.SetValue(confirmsKey{}, true) }
}

// Mandatory publishes with the mandatory flag: a message that no queue is
// bound to take is returned by the server and Publish fails with
// [ErrUnroutable]. It implies [PublisherConfirms]. Default: off, and
// publishing to a topic without subscribers is not an error.
func Mandatory() broker.Option {
	return func(o *broker.Options) { o.SetValue(mandatoryKey{}, true) }
}

// Transient publishes non-persistent messages: faster, but those waiting in
// a durable queue group's queue are lost when the server restarts. Default:
// persistent messages.
func Transient() broker.Option {
	return func(o *broker.Options) { o.SetValue(transientKey{}, true) }
}

// MaxRedeliveries bounds how often a message that its handler failed
// (returned an error, panicked or nacked) is delivered again. Once a message
// has been redelivered n times and fails once more it is rejected without
// requeue: the server moves it to the [DeadLetterExchange] when one is set
// and drops it otherwise; either way the broker logs it. 0 rejects at the
// first failure; a negative n redelivers without limit (a message that
// always fails then loops forever). Default: [DefaultMaxRedeliveries] (10).
//
// The count comes from the x-delivery-count header where the server sets it
// (quorum queues, see [QueueArguments]); for classic queues the broker
// counts redeliveries it sees itself, per subscriber, so with several
// members of a queue group a message may be tried up to n+1 times by each.
func MaxRedeliveries(n int) broker.Option {
	return func(o *broker.Options) { o.SetValue(maxRedeliveriesKey{}, n) }
}

// DeadLetterExchange declares every queue of the broker with
// x-dead-letter-exchange set to name, so that messages rejected after
// [MaxRedeliveries] (or expired) go there, with their routing key (the
// topic), instead of being dropped. The broker does not declare that
// exchange: declare it and bind a queue to it beforehand; the broker logs a
// warning when it is missing. Changing this for an existing durable queue
// group makes the server refuse the queue's declaration (PRECONDITION_FAILED):
// delete the queue first. Default: none.
func DeadLetterExchange(name string) broker.Option {
	return func(o *broker.Options) { o.SetValue(deadLetterKey{}, name) }
}

// QueueArguments adds x-arguments to the declaration of every queue group's
// queue, such as {"x-queue-type": "quorum"} (replicated queues that count
// deliveries in x-delivery-count), {"x-max-length": 100000} or
// {"x-expires": 3600000} (delete the queue after an hour without consumers).
// The same rule as for [DeadLetterExchange] applies to changing them.
// Default: none.
func QueueArguments(args amqp.Table) broker.Option {
	args = maps.Clone(args)
	return func(o *broker.Options) { o.SetValue(queueArgsKey{}, args) }
}

// ConnectionName sets the client-provided connection name the server shows
// for the broker's connection (the connection_name client property).
// Default: "go-micro broker" followed by the program's name.
func ConnectionName(name string) broker.Option {
	return func(o *broker.Options) { o.SetValue(connNameKey{}, name) }
}

// ReconnectBackoff bounds the wait between two attempts to reach the server
// after the connection was lost: the first waits first, each further one
// twice as long as the one before, up to limit, with some jitter. The
// backoff starts over only after a connection that lived at least five
// seconds, so a server that takes connections and drops them at once is
// not hammered. Default:
// [DefaultReconnectMin] (100ms) to [DefaultReconnectMax] (10s).
func ReconnectBackoff(first, limit time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(backoffKey{}, [2]time.Duration{first, limit}) }
}

// settings are the options the broker reads, defaults applied.
type settings struct {
	urls            []string // normalised AMQP URLs
	exchange        string
	prefetch        int
	concurrency     int
	confirms        bool
	mandatory       bool
	transient       bool
	maxRedeliveries int
	deadLetter      string
	queueArgs       amqp.Table
	connName        string
	backoffMin      time.Duration
	backoffMax      time.Duration
}

var errOption = errors.New("broker/rabbitmq: invalid option")

func newSettings(o broker.Options) (settings, error) {
	s := settings{
		exchange:        DefaultExchange,
		prefetch:        DefaultPrefetch,
		concurrency:     DefaultConcurrency,
		maxRedeliveries: DefaultMaxRedeliveries,
		connName:        "go-micro broker " + filepath.Base(os.Args[0]),
		backoffMin:      DefaultReconnectMin,
		backoffMax:      DefaultReconnectMax,
	}
	addrs := o.Addrs
	if len(addrs) == 0 {
		addrs = []string{DefaultAddr}
	}
	for _, a := range addrs {
		u, err := normalizeAddr(a, o.TLS != nil)
		if err != nil {
			return s, err
		}
		s.urls = append(s.urls, u)
	}
	if v, ok := o.Value(exchangeKey{}).(string); ok {
		if err := checkName("exchange", v); err != nil {
			return s, err
		}
		s.exchange = v
	}
	if v, ok := o.Value(prefetchKey{}).(int); ok {
		if v < 0 || v > 65535 {
			return s, fmt.Errorf("%w: prefetch %d outside 0..65535", errOption, v)
		}
		s.prefetch = v
	}
	if v, ok := o.Value(concurrencyKey{}).(int); ok {
		if v < 1 {
			return s, fmt.Errorf("%w: concurrency %d below 1", errOption, v)
		}
		s.concurrency = v
	}
	s.confirms, _ = o.Value(confirmsKey{}).(bool)
	s.mandatory, _ = o.Value(mandatoryKey{}).(bool)
	if s.mandatory {
		s.confirms = true
	}
	s.transient, _ = o.Value(transientKey{}).(bool)
	if v, ok := o.Value(maxRedeliveriesKey{}).(int); ok {
		s.maxRedeliveries = v
	}
	if v, ok := o.Value(deadLetterKey{}).(string); ok && v != "" {
		if err := checkName("dead-letter exchange", v); err != nil {
			return s, err
		}
		s.deadLetter = v
	}
	if v, ok := o.Value(queueArgsKey{}).(amqp.Table); ok && len(v) > 0 {
		if err := v.Validate(); err != nil {
			return s, fmt.Errorf("%w: queue arguments: %w", errOption, err)
		}
		for k := range v {
			if len(k) > maxShortstr {
				return s, fmt.Errorf("%w: queue argument name of %d bytes, limit %d", errOption, len(k), maxShortstr)
			}
		}
		s.queueArgs = v
	}
	if v, ok := o.Value(connNameKey{}).(string); ok {
		s.connName = v
	}
	if v, ok := o.Value(backoffKey{}).([2]time.Duration); ok {
		if v[0] <= 0 || v[1] < v[0] {
			return s, fmt.Errorf("%w: reconnect backoff %v..%v (want 0 < min <= max)", errOption, v[0], v[1])
		}
		s.backoffMin, s.backoffMax = v[0], v[1]
	}
	return s, nil
}

// checkName validates an exchange name.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty %s name", errOption, what)
	case len(name) > maxShortstr:
		return fmt.Errorf("%w: %s name of %d bytes, limit %d", errOption, what, len(name), maxShortstr)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %s name %q is not valid UTF-8", errOption, what, name)
	}
	return nil
}
