package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/openmicro/go-micro/broker"
)

var (
	// ErrInvalidEnvelope is wrapped by the errors of [DecodeEnvelope] and so
	// by the [*DeliveryError] of a payload that is not an envelope.
	ErrInvalidEnvelope = errors.New("broker/mqtt: invalid envelope")
	// ErrInvalidQueue is returned by Subscribe for a queue group name that
	// cannot be one level of an MQTT filter.
	ErrInvalidQueue = errors.New("broker/mqtt: invalid queue group")
	// ErrQueueUnsupported is returned by Subscribe with a queue group when
	// [SharedSubscriptions] is false or the server refused the shared
	// subscription.
	ErrQueueUnsupported = errors.New("broker/mqtt: queue groups not supported")
	// ErrRefused is returned by Subscribe when the server answers the
	// SUBSCRIBE with a failure (for instance an ACL denies the topic).
	ErrRefused = errors.New("broker/mqtt: subscription refused by the server")
	// ErrOverflow is wrapped by the [*DeliveryError] of a message dropped
	// because [MaxPending] messages already wait for the subscriber.
	ErrOverflow = errors.New("broker/mqtt: too many messages pending for the subscriber")
	// ErrMessageTooLarge is returned by Publish for a message whose
	// envelope does not fit in one MQTT packet (256 MiB) or that has more
	// than [MaxHeaders] header entries.
	ErrMessageTooLarge = errors.New("broker/mqtt: message too large for MQTT")
	// ErrReconnecting is returned by Publish at QoS 0 while the connection
	// is down and being re-established (paho would drop the message), and
	// wrapped with ctx's error by Subscribe when its ctx ends while it
	// waits for the connection to come back.
	ErrReconnecting = errors.New("broker/mqtt: connection lost, reconnecting")
)

// maxPayload is the most an envelope may take: MQTT's largest packet
// (268435455 bytes) less the PUBLISH header (fixed header, topic length
// and message id).
const maxPayload = 268435455 - 5 - 2 - 2

// quiesce is the longest Disconnect lets paho flush the DISCONNECT packet.
const quiesce = 250 * time.Millisecond

// DeliveryError reports a message received on Topic but dropped before it
// reached a handler; Err says why ([ErrInvalidEnvelope], [ErrOverflow]).
// It goes to the [ErrorHandler] and to the log.
type DeliveryError struct {
	// Topic is the broker topic (dots, not slashes).
	Topic string
	// Queue is the queue group of the subscription, empty for none.
	Queue string
	// Err is the cause.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.Queue != "" {
		return fmt.Sprintf("broker/mqtt: message on %q for queue group %q dropped: %v", e.Topic, e.Queue, e.Err)
	}
	return fmt.Sprintf("broker/mqtt: message on %q dropped: %v", e.Topic, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

func init() {
	broker.Register("mqtt", New)
}

// New returns an unconnected MQTT broker. It reads [broker.Addrs] (default
// [DefaultAddress]), [broker.TLS], [broker.Logger] and this package's own
// options; it fails on a malformed address or option, and dials nothing.
func New(opts ...broker.Option) (broker.Broker, error) {
	o := broker.NewOptions(opts...)
	c, err := newConfig(&o)
	if err != nil {
		return nil, err
	}
	servers, err := serverURLs(o.Addrs, o.TLS != nil)
	if err != nil {
		return nil, err
	}
	address := servers[0]
	if u, err := url.Parse(address); err == nil {
		address = u.Redacted() // no password in logs
	}
	return &mqttBroker{opts: o, cfg: c, servers: servers, address: address}, nil
}

// mqttBroker is the broker; a session holds what lives between Connect and
// Disconnect.
type mqttBroker struct {
	opts    broker.Options
	cfg     config
	servers []string
	address string // the first server, password redacted

	// lifecycle serialises Connect and Disconnect.
	lifecycle sync.Mutex

	mu   sync.Mutex
	sess *session // nil while not connected
	last *session // the session most recently disconnected
}

func (b *mqttBroker) String() string { return "mqtt" }

// Address is the first server's URL, without its password.
func (b *mqttBroker) Address() string { return b.address }

// session returns the connected session, or nil.
func (b *mqttBroker) session() *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess
}

func (b *mqttBroker) Connect(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	if b.session() != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := newSession(b)
	main, err := s.dial(ctx, "")
	if err != nil {
		s.cancel()
		return err
	}
	s.main = main
	b.mu.Lock()
	b.sess = s
	b.mu.Unlock()
	return nil
}

func (b *mqttBroker) Disconnect(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	b.mu.Lock()
	s := b.sess
	if s != nil {
		b.sess = nil
		b.last = s
	}
	last := b.last
	b.mu.Unlock()
	if last == nil {
		return nil
	}
	return last.close(ctx)
}

func (b *mqttBroker) Publish(ctx context.Context, topic string, m *broker.Message, opts ...broker.PublishOption) error {
	name, err := MapTopic(topic)
	if err != nil {
		return err
	}
	s := b.session()
	if s == nil {
		return broker.ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if m != nil && len(m.Header) > MaxHeaders {
		return fmt.Errorf("%w: %d header entries, limit %d", ErrMessageTooLarge, len(m.Header), MaxHeaders)
	}
	payload := EncodeEnvelope(m)
	if len(payload)+len(name) > maxPayload {
		return fmt.Errorf("%w: %d bytes", ErrMessageTooLarge, len(payload))
	}
	return s.main.publish(ctx, topic, name, payload)
}

func (b *mqttBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	name, err := MapTopic(topic)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("broker/mqtt: subscribe to %q: nil handler", topic)
	}
	o := broker.NewSubscribeOptions(opts...)
	filter := name
	if o.Queue != "" {
		if filter, err = sharedFilter(o.Queue, name); err != nil {
			return nil, err
		}
		if !b.cfg.shared {
			return nil, fmt.Errorf("%w: subscribe to %q in queue group %q: SharedSubscriptions(false) is set",
				ErrQueueUnsupported, topic, o.Queue)
		}
	}
	s := b.session()
	if s == nil {
		return nil, broker.ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.conn(ctx, o.Queue)
	if err != nil {
		return nil, err
	}
	sub, err := c.subscribe(ctx, &subscriber{
		s:       s,
		c:       c,
		topic:   topic,
		name:    name,
		filter:  filter,
		queue:   o.Queue,
		autoAck: o.AutoAck,
		h:       h,
	})
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// report logs a message dropped before it reached a handler and passes the
// error to the ErrorHandler.
func (b *mqttBroker) report(err *DeliveryError) {
	b.opts.Logger.Warn("broker/mqtt: dropping message", "topic", err.Topic, "queue", err.Queue, "err", err.Err)
	if b.cfg.onError != nil {
		b.cfg.onError(err)
	}
}

// session is one Connect..Disconnect period: the root context of its
// handlers, its connections and its subscribers.
type session struct {
	b      *mqttBroker
	ctx    context.Context // ends on Disconnect
	cancel context.CancelFunc

	main *conn // publishing and plain subscriptions; set by Connect

	// dialing serialises dialling the connections of queue groups.
	dialing sync.Mutex

	mu     sync.Mutex
	closed bool
	groups map[string]*conn // the connection of each queue group
	subs   map[*subscriber]struct{}

	handlers sync.WaitGroup // subscriber goroutines
	// handlersDone is closed once every subscriber goroutine returned;
	// made by the first close.
	handlersDone chan struct{}
	closeOnce    sync.Once
}

func newSession(b *mqttBroker) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		b:      b,
		ctx:    ctx,
		cancel: cancel,
		groups: make(map[string]*conn),
		subs:   make(map[*subscriber]struct{}),
	}
}

// conn returns the connection for queue group (the main one for none),
// dialling a group's connection the first time.
func (s *session) conn(ctx context.Context, group string) (*conn, error) {
	if group == "" {
		return s.main, nil
	}
	// While the server cannot be reached (the main connection is being
	// re-established), wait for it rather than fail the dial at once.
	if err := s.main.waitUp(ctx); err != nil {
		return nil, fmt.Errorf("broker/mqtt: connect for queue group %q: %w", group, err)
	}
	s.dialing.Lock()
	defer s.dialing.Unlock()
	s.mu.Lock()
	c, closed := s.groups[group], s.closed
	s.mu.Unlock()
	if closed {
		return nil, broker.ErrNotConnected
	}
	if c != nil {
		return c, nil
	}
	// Disconnect cancels the session's ctx and then waits for dialing: end
	// the dial with it.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	c, err := s.dial(dctx, group)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.close(quiesce)
		return nil, broker.ErrNotConnected
	}
	s.groups[group] = c
	s.mu.Unlock()
	return c, nil
}

// add records a subscriber and starts its goroutine; it fails once the
// session is closed.
func (s *session) add(sub *subscriber) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.subs[sub] = struct{}{}
	s.handlers.Add(1)
	return true
}

func (s *session) remove(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// close stops the subscribers, cancels the handlers' contexts, waits within
// ctx for running handlers and then closes the connections (also when ctx
// ends first). Calling it again waits for the handlers once more.
func (s *session) close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		subs := make([]*subscriber, 0, len(s.subs))
		for sub := range s.subs {
			subs = append(subs, sub)
		}
		s.subs = nil
		s.mu.Unlock()
		for _, sub := range subs {
			sub.halt()
		}
		s.cancel()
		done := make(chan struct{})
		s.handlersDone = done
		go func() { // ends when the last handler returns
			s.handlers.Wait()
			close(done)
		}()
	})
	var err error
	select {
	case <-s.handlersDone:
	case <-ctx.Done():
		err = fmt.Errorf("broker/mqtt: disconnect: waiting for handlers: %w", ctx.Err())
	}
	s.dialing.Lock() // no group connection is being dialled
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.groups)+1)
	if s.main != nil {
		conns = append(conns, s.main)
	}
	for _, c := range s.groups {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.dialing.Unlock()
	// Let paho flush its DISCONNECT for at most quiesce, and not past ctx.
	q := quiesce
	if dl, ok := ctx.Deadline(); ok {
		q = min(q, max(time.Until(dl), time.Millisecond))
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.close(q) })
	}
	wg.Wait()
	return err
}

var _ broker.Broker = (*mqttBroker)(nil)
