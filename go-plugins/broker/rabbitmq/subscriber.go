package rabbitmq

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
)

// maxTracked bounds the redelivery counts a subscriber keeps.
const maxTracked = 10000

func (b *rabbitBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("broker/rabbitmq: subscribe to %q: nil handler", topic)
	}
	o := broker.NewSubscribeOptions(opts...)
	if err := checkGroup(o.Queue); err != nil {
		return nil, err
	}
	s, err := b.session()
	if err != nil {
		return nil, err
	}
	sub, err := s.add(topic, o, h)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(sub.ctx, cancel)
	c, err := sub.open(octx)
	stop()
	cancel()
	if err != nil {
		disconnected := sub.ctx.Err() != nil && ctx.Err() == nil
		sub.abandon()
		if disconnected {
			return nil, broker.ErrNotConnected
		}
		return nil, fmt.Errorf("broker/rabbitmq: subscribe to %q: %w", topic, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.ch.Close()
		sub.abandon()
		return nil, broker.ErrNotConnected
	}
	s.subWG.Add(1)
	s.mu.Unlock()
	go sub.run(c)
	return sub, nil
}

func (s *session) add(topic string, o broker.SubscribeOptions, h broker.Handler) (*subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, broker.ErrNotConnected
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sub := &subscriber{
		s:       s,
		topic:   topic,
		queue:   o.Queue,
		autoAck: o.AutoAck,
		h:       h,
		ctx:     ctx,
		cancel:  cancel,
		counts:  make(map[string]int64),
	}
	s.subs[sub] = struct{}{}
	return sub, nil
}

func (s *session) remove(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// subscriber is one subscription. Its loop (run) consumes from its queue
// and, when the channel or connection is lost, subscribes again on the
// next connection, until it is unsubscribed or the broker disconnects.
type subscriber struct {
	s       *session
	topic   string
	queue   string
	autoAck bool
	h       broker.Handler
	ctx     context.Context // ends on Unsubscribe or Disconnect
	cancel  context.CancelFunc

	mu     sync.Mutex
	counts map[string]int64 // deliveries seen of messages not yet settled
}

func (sub *subscriber) Topic() string { return sub.topic }
func (sub *subscriber) Queue() string { return sub.queue }

// Unsubscribe stops delivery at once: no handler call starts after it
// returns, and the context of the calls under way ends. It does not wait
// for them (so a handler may unsubscribe itself): in the background the
// subscriber's loop cancels the consumer on the server, waits for those
// calls and closes its channel, which puts the messages the server had
// sent ahead back in the queue. Disconnect waits for all of that.
func (sub *subscriber) Unsubscribe(context.Context) error {
	sub.s.remove(sub)
	sub.cancel()
	return nil
}

// abandon undoes add for a subscriber whose loop never started.
func (sub *subscriber) abandon() {
	sub.s.remove(sub)
	sub.cancel()
}

// consumer is the subscriber's channel and consumer on one connection.
type consumer struct {
	l          *link
	ch         *amqp.Channel
	tag        string
	queue      string
	deliveries <-chan amqp.Delivery
}

// open declares the subscriber's queue on the live connection, binds it and
// starts consuming. It waits for a connection within ctx and tries the next
// one when the connection is lost meanwhile.
func (sub *subscriber) open(ctx context.Context) (*consumer, error) {
	for {
		l, err := sub.s.current(ctx)
		if err != nil {
			return nil, err
		}
		c, err := sub.openOn(ctx, l)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !l.conn.IsClosed() {
			return nil, err
		}
		l.gone(ctx) // the connection is going: wait for the next one
	}
}

func (sub *subscriber) openOn(ctx context.Context, l *link) (*consumer, error) {
	cfg := &sub.s.b.cfg
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("opening a channel: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = ch.Close() })
	c := &consumer{l: l, ch: ch, tag: "micro-" + strings.ToLower(rand.Text()[:16])}
	err = func() error {
		if err := ch.Qos(cfg.prefetch, 0, false); err != nil {
			return fmt.Errorf("setting prefetch: %w", err)
		}
		if err := declareExchange(ch, cfg.exchange); err != nil {
			return fmt.Errorf("declaring exchange %q: %w", cfg.exchange, err)
		}
		args := amqp.Table{}
		if cfg.deadLetter != "" {
			args["x-dead-letter-exchange"] = cfg.deadLetter
		}
		var q amqp.Queue
		if sub.queue == "" {
			q, err = ch.QueueDeclare("", false, true, true, false, args)
		} else {
			for k, v := range cfg.queueArgs {
				args[k] = v
			}
			name := groupQueueName(cfg.exchange, sub.topic, sub.queue)
			sub.s.b.recordDeclared(name)
			q, err = ch.QueueDeclare(name, true, false, false, false, args)
		}
		if err != nil {
			return fmt.Errorf("declaring queue: %w", err)
		}
		c.queue = q.Name
		if err := ch.QueueBind(q.Name, sub.topic, cfg.exchange, false, nil); err != nil {
			return fmt.Errorf("binding queue %q to %q: %w", q.Name, sub.topic, err)
		}
		c.deliveries, err = ch.Consume(q.Name, c.tag, false, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("consuming from queue %q: %w", q.Name, err)
		}
		return nil
	}()
	if !stop() {
		_ = ch.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		_ = ch.Close()
		return nil, err
	}
	return c, nil
}

// run consumes until the subscriber ends, subscribing again with backoff
// whenever the channel or connection is lost.
func (sub *subscriber) run(c *consumer) {
	defer sub.s.subWG.Done()
	log := sub.s.b.opts.Logger
	for {
		if !sub.consume(c) {
			return
		}
		log.Warn("broker/rabbitmq: subscription lost; subscribing again",
			"topic", sub.topic, "queue", sub.queue)
		for n := 0; ; n++ {
			var err error
			c, err = sub.open(sub.ctx)
			if err == nil {
				break
			}
			if sub.ctx.Err() != nil {
				return
			}
			log.Warn("broker/rabbitmq: subscribing again failed; will retry",
				"topic", sub.topic, "queue", sub.queue, "attempt", n+1, "err", err)
			if !sleep(sub.ctx, sub.s.b.backoff(n)) {
				return
			}
		}
		log.Info("broker/rabbitmq: subscribed again", "topic", sub.topic, "queue", sub.queue, "amqp_queue", c.queue)
	}
}

// consume runs the handlers on c's deliveries until the deliveries end
// (the channel, connection or consumer was lost: it returns true) or the
// subscriber ends (false). Either way it waits for the running handlers
// and closes the channel, which requeues what they left unacked.
func (sub *subscriber) consume(c *consumer) bool {
	var wg sync.WaitGroup
	for range sub.s.b.cfg.concurrency {
		wg.Go(func() {
			for {
				select {
				case <-sub.ctx.Done():
					return
				case d, ok := <-c.deliveries:
					if !ok || sub.ctx.Err() != nil {
						return // what is left unacked is requeued
					}
					sub.handle(&d)
				}
			}
		})
	}
	workers := make(chan struct{})
	go func() {
		wg.Wait()
		close(workers)
	}()
	lost := true
	select {
	case <-workers:
	case <-sub.ctx.Done():
		lost = false
		cancelled := sub.bounded(func() { _ = c.ch.Cancel(c.tag, false) })
		<-workers
		<-cancelled
	}
	<-sub.bounded(func() { _ = c.ch.Close() })
	return lost && sub.ctx.Err() == nil
}

// bounded runs a handshake with the server (amqp091's Cancel and Close
// wait for its answer, with no deadline) and returns a channel closed when
// it returned or after closeTimeout, whichever comes first. A handshake
// still waiting then is left to end with the connection, which the
// session closes when it stops (its goroutine counts in the session's
// WaitGroup): a server too loaded or blocked to answer must not hold an
// Unsubscribe or a Disconnect past its deadline.
func (sub *subscriber) bounded(f func()) <-chan struct{} {
	done := make(chan struct{})
	sub.s.wg.Go(func() {
		defer close(done)
		f()
	})
	out := make(chan struct{})
	go func() {
		defer close(out)
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			sub.s.b.opts.Logger.Warn("broker/rabbitmq: the server did not answer in time while ending a subscription; leaving it to the connection's close",
				"topic", sub.topic, "queue", sub.queue, "after", closeTimeout)
		}
	}()
	return out
}

// handle runs the handler on one delivery and settles it.
func (sub *subscriber) handle(d *amqp.Delivery) {
	e := &event{sub: sub, d: d, topic: d.RoutingKey, msg: toMessage(d), seen: sub.seen(d)}
	err := sub.call(e)
	switch {
	case err != nil: // with DisableAutoAck too, unless the handler settled it
		err = e.fail(err)
	case sub.autoAck:
		err = e.ack()
	}
	if err != nil {
		sub.s.b.opts.Logger.Debug("broker/rabbitmq: settling a message failed; the server will redeliver it",
			"topic", e.topic, "queue", sub.queue, "err", err)
	}
}

// call runs the handler, turning a panic into an error.
func (sub *subscriber) call(e *event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sub.s.b.opts.Logger.Error("broker/rabbitmq: handler panicked", "topic", sub.topic, "queue", sub.queue, "panic", r)
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return sub.h(sub.ctx, e)
}

// seen returns how often the message was delivered before this delivery:
// the server's count where it keeps one, else the subscriber's own.
func (sub *subscriber) seen(d *amqp.Delivery) int64 {
	if n, ok := deliveryCount(d.Headers); ok {
		return n
	}
	if !d.Redelivered {
		return 0
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return max(1, sub.counts[deliveryKey(d)])
}

// requeued notes that a message delivered n times before goes back.
func (sub *subscriber) requeued(d *amqp.Delivery, n int64) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.counts) >= maxTracked {
		clear(sub.counts) // bounded memory; a few messages get extra tries
	}
	sub.counts[deliveryKey(d)] = n + 1
}

// settled forgets a message that will not come back.
func (sub *subscriber) settled(d *amqp.Delivery) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	delete(sub.counts, deliveryKey(d))
}

// sleep waits d or until ctx ends, reporting whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// event is one delivery of a message. The first of Ack and Nack (or the
// broker, settling for the handler) settles it; later calls do nothing.
type event struct {
	sub   *subscriber
	d     *amqp.Delivery
	topic string
	msg   *broker.Message
	seen  int64 // earlier deliveries of the message

	mu      sync.Mutex
	settled bool
}

func (e *event) Topic() string            { return e.topic }
func (e *event) Message() *broker.Message { return e.msg }

func (e *event) Ack() error {
	if err := e.ack(); err != nil {
		return fmt.Errorf("broker/rabbitmq: ack: %w", err)
	}
	return nil
}

func (e *event) Nack() error {
	if err := e.fail(errors.New("nacked by the handler")); err != nil {
		return fmt.Errorf("broker/rabbitmq: nack: %w", err)
	}
	return nil
}

// Reject settles a message that can never be handled (broker.Rejecter):
// rejected without requeue, so it goes to the dead-letter exchange when one
// is set and is dropped otherwise, whatever the redelivery count.
func (e *event) Reject() error {
	if !e.settle() {
		return nil
	}
	sub := e.sub
	sub.settled(e.d)
	attrs := []any{"topic", e.topic, "queue", sub.queue, "message_id", e.d.MessageId}
	if dlx := sub.s.b.cfg.deadLetter; dlx != "" {
		sub.s.b.opts.Logger.Warn("broker/rabbitmq: message rejected; sent to the dead-letter exchange",
			append(attrs, "dead_letter_exchange", dlx)...)
	} else {
		sub.s.b.opts.Logger.Warn("broker/rabbitmq: message rejected; dropped (no dead-letter exchange set)", attrs...)
	}
	if err := e.d.Reject(false); err != nil {
		return fmt.Errorf("broker/rabbitmq: reject: %w", err)
	}
	return nil
}

func (e *event) settle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.settled {
		return false
	}
	e.settled = true
	return true
}

func (e *event) ack() error {
	if !e.settle() {
		return nil
	}
	e.sub.settled(e.d)
	return e.d.Ack(false)
}

// fail nacks the message for redelivery or, once it has been redelivered
// MaxRedeliveries times, rejects it to the dead-letter exchange (or drops
// it), saying so in the log.
func (e *event) fail(cause error) error {
	if !e.settle() {
		return nil
	}
	sub := e.sub
	limit := int64(sub.s.b.cfg.maxRedeliveries)
	log := sub.s.b.opts.Logger
	if limit < 0 || e.seen < limit {
		sub.requeued(e.d, e.seen)
		log.Debug("broker/rabbitmq: message failed; requeued",
			"topic", e.topic, "queue", sub.queue, "deliveries", e.seen+1, "err", cause)
		return e.d.Nack(false, true)
	}
	sub.settled(e.d)
	attrs := []any{"topic", e.topic, "queue", sub.queue, "message_id", e.d.MessageId,
		"deliveries", e.seen + 1, "err", cause}
	if dlx := sub.s.b.cfg.deadLetter; dlx != "" {
		log.Warn("broker/rabbitmq: message failed too often; rejected to the dead-letter exchange",
			append(attrs, "dead_letter_exchange", dlx)...)
	} else {
		log.Error("broker/rabbitmq: message failed too often; dropped", attrs...)
	}
	return e.d.Reject(false)
}

var (
	_ broker.Subscriber = (*subscriber)(nil)
	_ broker.Event      = (*event)(nil)
	_ broker.Rejecter   = (*event)(nil)
)
