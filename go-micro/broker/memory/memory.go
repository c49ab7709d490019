package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/openmicro/go-micro/broker"
)

// MaxDeliveries is how many times in all a nacked message is delivered to a
// subscriber (or a queue group) before it is dropped: the first delivery
// and up to MaxDeliveries-1 redeliveries.
const MaxDeliveries = 4

func init() {
	broker.Register("memory", func(opts ...broker.Option) (broker.Broker, error) {
		return New(opts...), nil
	})
}

// New returns an unconnected broker on a bus of its own. Of the options it
// reads only [broker.Logger].
func New(opts ...broker.Option) broker.Broker {
	return NewBus().NewBroker(opts...)
}

// Bus carries messages between the brokers built from it. The zero Bus is
// not usable; build one with [NewBus]. A Bus is safe for concurrent use.
type Bus struct {
	mu     sync.RWMutex
	topics map[string]*topicSubs
}

// topicSubs is who listens on one topic.
type topicSubs struct {
	plain  map[*subscriber]struct{}
	groups map[string]*group
}

// group is one queue group of a topic: a shared queue and its members.
type group struct {
	q       *queue
	members int
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{topics: make(map[string]*topicSubs)} }

// NewBroker returns an unconnected broker on b. Of the options it reads
// only [broker.Logger].
func (b *Bus) NewBroker(opts ...broker.Option) broker.Broker {
	return &memoryBroker{bus: b, opts: broker.NewOptions(opts...)}
}

// add attaches s to its topic; a queue subscriber joins (or creates) its
// group and takes from the group's queue.
func (b *Bus) add(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ts := b.topics[s.topic]
	if ts == nil {
		ts = &topicSubs{plain: make(map[*subscriber]struct{}), groups: make(map[string]*group)}
		b.topics[s.topic] = ts
	}
	if s.queue == "" {
		s.q = newQueue()
		ts.plain[s] = struct{}{}
		return
	}
	g := ts.groups[s.queue]
	if g == nil {
		g = &group{q: newQueue()}
		ts.groups[s.queue] = g
	}
	g.members++
	s.q = g.q
}

// remove detaches s; the queue of a plain subscriber, or of a group losing
// its last member, is closed and its messages dropped.
func (b *Bus) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ts := b.topics[s.topic]
	if ts == nil {
		return
	}
	if s.queue == "" {
		delete(ts.plain, s)
		s.q.close()
	} else if g := ts.groups[s.queue]; g != nil {
		g.members--
		if g.members <= 0 {
			delete(ts.groups, s.queue)
			g.q.close()
		}
	}
	if len(ts.plain) == 0 && len(ts.groups) == 0 {
		delete(b.topics, s.topic)
	}
}

// publish queues d for every plain subscriber and every group of its topic.
func (b *Bus) publish(d *delivery) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ts := b.topics[d.topic]
	if ts == nil {
		return
	}
	for s := range ts.plain {
		s.q.push(d)
	}
	for _, g := range ts.groups {
		g.q.push(d)
	}
}

// memoryBroker is one broker on a bus.
type memoryBroker struct {
	bus  *Bus
	opts broker.Options

	mu   sync.Mutex
	sess *session // nil while not connected
	// stopped is closed once the handlers of the last session have
	// returned; nil before the first Disconnect.
	stopped chan struct{}
}

// session is one Connect..Disconnect period: the root context of its
// handlers, its subscribers and its running worker goroutines.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	subs   map[*subscriber]struct{}
	wg     sync.WaitGroup
}

func (b *memoryBroker) String() string  { return "memory" }
func (b *memoryBroker) Address() string { return "" }

func (b *memoryBroker) Connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil {
		return nil
	}
	sctx, cancel := context.WithCancel(context.Background())
	b.sess = &session{ctx: sctx, cancel: cancel, subs: make(map[*subscriber]struct{})}
	return nil
}

func (b *memoryBroker) Disconnect(ctx context.Context) error {
	b.mu.Lock()
	sess := b.sess
	if sess != nil {
		b.sess = nil
		stopped := make(chan struct{})
		b.stopped = stopped
		go func() { // ends when the session's last handler returns
			sess.wg.Wait()
			close(stopped)
		}()
	}
	subs := []*subscriber(nil)
	if sess != nil {
		for s := range sess.subs {
			subs = append(subs, s)
		}
		sess.subs = nil
	}
	stopped := b.stopped
	b.mu.Unlock()

	for _, s := range subs {
		s.stop()
	}
	if sess != nil {
		sess.cancel()
	}
	if stopped == nil {
		return nil
	}
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker/memory: disconnect: waiting for handlers: %w", ctx.Err())
	}
}

func (b *memoryBroker) Publish(ctx context.Context, topic string, m *broker.Message, opts ...broker.PublishOption) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return err
	}
	b.mu.Lock()
	connected := b.sess != nil
	b.mu.Unlock()
	if !connected {
		return broker.ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := &message{}
	if m != nil {
		msg.header = maps.Clone(m.Header)
		msg.body = bytes.Clone(m.Body)
	}
	b.bus.publish(&delivery{topic: topic, msg: msg, attempt: 1})
	return nil
}

func (b *memoryBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	if err := broker.ValidateTopic(topic); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("broker/memory: subscribe to %q: nil handler", topic)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := broker.NewSubscribeOptions(opts...)
	b.mu.Lock()
	defer b.mu.Unlock()
	sess := b.sess
	if sess == nil {
		return nil, broker.ErrNotConnected
	}
	sctx, cancel := context.WithCancel(sess.ctx)
	s := &subscriber{
		b:       b,
		sess:    sess,
		topic:   topic,
		queue:   o.Queue,
		autoAck: o.AutoAck,
		h:       h,
		ctx:     sctx,
		cancel:  cancel,
	}
	b.bus.add(s)
	sess.subs[s] = struct{}{}
	sess.wg.Add(1)
	go s.run()
	return s, nil
}

// subscriber is one subscription and the goroutine running its handler.
type subscriber struct {
	b       *memoryBroker
	sess    *session
	topic   string
	queue   string
	autoAck bool
	h       broker.Handler
	q       *queue // own queue, or the group's; set by Bus.add

	ctx    context.Context // ends on Unsubscribe or Disconnect
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
}

func (s *subscriber) Topic() string { return s.topic }
func (s *subscriber) Queue() string { return s.queue }

func (s *subscriber) Unsubscribe(ctx context.Context) error {
	s.b.mu.Lock()
	if s.sess.subs != nil {
		delete(s.sess.subs, s)
	}
	s.b.mu.Unlock()
	s.stop()
	return nil
}

// stop detaches s from the bus and ends its goroutine; it is idempotent.
func (s *subscriber) stop() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.b.bus.remove(s)
	s.cancel()
}

func (s *subscriber) run() {
	defer s.sess.wg.Done()
	for {
		d, ok := s.q.pop(s.ctx.Done())
		if !ok {
			return
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			if s.queue != "" { // leave it to the other members
				s.q.pushFront(d)
			}
			return
		}
		s.handle(d)
	}
}

func (s *subscriber) handle(d *delivery) {
	e := &event{s: s, d: d, msg: &broker.Message{
		Header: maps.Clone(d.msg.header),
		Body:   bytes.Clone(d.msg.body),
	}}
	err := s.call(e)
	switch {
	case s.autoAck && err != nil:
		s.b.opts.Logger.Debug("broker/memory: handler failed; nacking",
			"topic", s.topic, "queue", s.queue, "attempt", d.attempt, "err", err)
		_ = e.Nack()
	case s.autoAck:
		_ = e.Ack()
	case err != nil:
		s.b.opts.Logger.Warn("broker/memory: handler failed (auto-ack disabled; the handler settles the message)",
			"topic", s.topic, "queue", s.queue, "err", err)
	}
}

// call runs the handler, turning a panic into an error.
func (s *subscriber) call(e *event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.b.opts.Logger.Error("broker/memory: handler panicked", "topic", s.topic, "queue", s.queue, "panic", r)
			err = fmt.Errorf("broker/memory: handler panicked: %v", r)
		}
	}()
	return s.h(s.ctx, e)
}

// event is one delivery to one handler call.
type event struct {
	s   *subscriber
	d   *delivery
	msg *broker.Message

	mu      sync.Mutex
	settled bool
}

func (e *event) Topic() string            { return e.d.topic }
func (e *event) Message() *broker.Message { return e.msg }

func (e *event) settle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.settled {
		return false
	}
	e.settled = true
	return true
}

func (e *event) Ack() error {
	e.settle()
	return nil
}

func (e *event) Nack() error {
	if !e.settle() {
		return nil
	}
	if e.d.attempt >= MaxDeliveries {
		e.s.b.opts.Logger.Warn("broker/memory: dropping message nacked too often",
			"topic", e.d.topic, "queue", e.s.queue, "deliveries", e.d.attempt)
		return nil
	}
	e.s.q.push(&delivery{topic: e.d.topic, msg: e.d.msg, attempt: e.d.attempt + 1})
	return nil
}

var (
	_ broker.Broker     = (*memoryBroker)(nil)
	_ broker.Subscriber = (*subscriber)(nil)
	_ broker.Event      = (*event)(nil)
)
