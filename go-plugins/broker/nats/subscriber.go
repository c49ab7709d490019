package nats

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openmicro/go-micro/broker"
)

// Pull settings of JetStream consumers. A small batch keeps messages from
// waiting in one member's buffer past the ack wait while other members of
// its queue group are idle; the short expiry and heartbeat make a
// subscriber notice soon that its pulls went unanswered (the server
// restarting, say) and pull again.
const (
	pullBatch     = 32
	pullExpiry    = 5 * time.Second
	pullHeartbeat = time.Second
)

// subscriber is one subscription. In core NATS mode it holds a NATS
// subscription (a queue subscription for a queue group); in JetStream mode
// it consumes from a durable consumer.
type subscriber struct {
	s       *session
	topic   string
	subject string
	queue   string
	h       broker.Handler
	autoAck bool
	ctx     context.Context // the handler's; ends at Unsubscribe and Disconnect
	cancel  context.CancelFunc

	closed atomic.Bool

	mu        sync.Mutex // guards sub, cc and the watcher against close
	sub       *natsgo.Subscription
	cc        jetstream.ConsumeContext
	consumer  string // JetStream consumer name
	ephemeral bool   // the consumer is this subscriber's alone: delete it on close

	// JetStream: the consumer's config, and the watcher that makes the
	// consumer again when it is gone.
	cfg     jetstream.ConsumerConfig
	check   chan struct{}      // asks the watcher to look at the consumer
	wcancel context.CancelFunc // stops the watcher; nil until it runs
	watched chan struct{}      // closed when the watcher returned
}

func (s *session) subscribe(ctx context.Context, topic string, h broker.Handler, so broker.SubscribeOptions) (*subscriber, error) {
	subject := topic
	if p := s.b.cfg.prefix; p != "" {
		subject = p + topic
	}
	hctx, cancel := context.WithCancel(s.ctx)
	sb := &subscriber{
		s:       s,
		topic:   topic,
		subject: subject,
		queue:   so.Queue,
		h:       h,
		autoAck: so.AutoAck,
		ctx:     hctx,
		cancel:  cancel,
	}
	s.mu.Lock()
	if s.subs == nil {
		s.mu.Unlock()
		cancel()
		return nil, broker.ErrNotConnected
	}
	s.subs[sb] = struct{}{}
	s.mu.Unlock()

	var err error
	if s.js != nil {
		err = sb.startJetStream(ctx)
	} else {
		err = sb.startCore(ctx)
	}
	if err == nil && sb.closed.Load() { // Disconnect came in between
		err = broker.ErrNotConnected
	}
	if err != nil {
		sb.close()
		sb.stopWatch()
		_ = sb.deleteEphemeral(ctx)
		sb.cancel()
		s.remove(sb)
		return nil, err
	}
	return sb, nil
}

func (s *session) remove(sb *subscriber) {
	s.mu.Lock()
	if s.subs != nil {
		delete(s.subs, sb)
	}
	s.mu.Unlock()
}

func (sb *subscriber) startCore(ctx context.Context) error {
	sb.mu.Lock()
	var err error
	if !sb.closed.Load() {
		if sb.queue != "" {
			sb.sub, err = sb.s.nc.QueueSubscribe(sb.subject, sb.queue, sb.onMsg)
		} else {
			sb.sub, err = sb.s.nc.Subscribe(sb.subject, sb.onMsg)
		}
	}
	sb.mu.Unlock()
	if err != nil {
		return fmt.Errorf("broker/nats: subscribe to %q: %w", sb.topic, err)
	}
	// Make the server know of the subscription before returning, so that
	// what is published afterwards reaches it.
	if err := sb.s.flush(ctx); err != nil {
		return fmt.Errorf("broker/nats: subscribe to %q: %w", sb.topic, err)
	}
	return nil
}

func (sb *subscriber) startJetStream(ctx context.Context) error {
	c := sb.s.b.cfg
	if ok, err := sb.s.inStream(ctx, sb.subject); err != nil {
		return fmt.Errorf("broker/nats: subscribe to %q: reading stream %q: %w", sb.topic, c.stream, err)
	} else if !ok {
		return fmt.Errorf("%w: subscribe to %q (subject %q, stream %q)", ErrNotInStream, sb.topic, sb.subject, c.stream)
	}
	cfg := jetstream.ConsumerConfig{
		FilterSubject: sb.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
		MaxDeliver:    c.maxDeliver,
		DeliverPolicy: jetstream.DeliverNewPolicy,
	}
	switch {
	case sb.queue != "":
		cfg.Durable = consumerName(sb.queue, sb.subject)
		cfg.Description = fmt.Sprintf("go-micro broker: topic %s, queue group %s", sb.topic, sb.queue)
	case c.durable != "":
		cfg.Durable = consumerName(c.durable, sb.subject)
		cfg.Description = fmt.Sprintf("go-micro broker: topic %s, durable %s", sb.topic, c.durable)
	default:
		cfg.Durable = safeName(sb.subject, 64) + "_" + rand.Text()[:16]
		cfg.Description = fmt.Sprintf("go-micro broker: topic %s, one subscriber", sb.topic)
		cfg.InactiveThreshold = c.inactiveThreshold
	}
	sb.consumer = cfg.Durable
	sb.cfg = cfg
	sb.check = make(chan struct{}, 1) // before Consume, which may report errors at once
	cons, err := sb.s.js.CreateOrUpdateConsumer(ctx, c.stream, cfg)
	if err != nil {
		return fmt.Errorf("broker/nats: subscribe to %q: JetStream consumer %q on stream %q: %w", sb.topic, cfg.Durable, c.stream, err)
	}
	sb.mu.Lock()
	sb.ephemeral = cfg.InactiveThreshold > 0
	if !sb.closed.Load() {
		sb.cc, err = sb.consume(cons)
		if err == nil {
			wctx, wcancel := context.WithCancel(sb.s.ctx)
			sb.wcancel, sb.watched = wcancel, make(chan struct{})
			go sb.watch(wctx)
		}
	}
	sb.mu.Unlock()
	if err != nil {
		return fmt.Errorf("broker/nats: subscribe to %q: consume from %q: %w", sb.topic, cfg.Durable, err)
	}
	return nil
}

func (sb *subscriber) consume(cons jetstream.Consumer) (jetstream.ConsumeContext, error) {
	return cons.Consume(sb.onJetStreamMsg,
		jetstream.PullMaxMessages(pullBatch),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(sb.onConsumeError),
	)
}

// watch makes the subscriber's JetStream consumer again when it is gone:
// deleted by someone, removed by the server after InactiveThreshold
// without pulls (a long partition), or lost with a server's store. Without
// it the subscriber would go quiet for good. The consumer errors that may
// mean it is gone ask for a look (recheck); watch looks until it has a
// clear answer, retrying as the reconnects do. It returns when ctx ends.
func (sb *subscriber) watch(ctx context.Context) {
	defer close(sb.watched)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sb.check:
		}
		for attempt := 1; !sb.ensureConsumer(ctx); attempt++ {
			t := time.NewTimer(sb.s.b.cfg.reconnectDelay(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// recheck asks the watcher to look at the consumer.
func (sb *subscriber) recheck() {
	select {
	case sb.check <- struct{}{}:
	default: // a look is due already
	}
}

// ensureConsumer makes the consumer again and consumes from it if it is
// gone. It reports whether it knows the consumer is there.
func (sb *subscriber) ensureConsumer(ctx context.Context) bool {
	if sb.closed.Load() || ctx.Err() != nil {
		return true
	}
	if !sb.s.nc.IsConnected() {
		return false // look once the connection is back
	}
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	stream := sb.s.b.cfg.stream
	_, err := sb.s.js.Consumer(ctx, stream, sb.consumer)
	switch {
	case err == nil:
		return true
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return false // cannot tell now: look again later
	}
	cons, err := sb.s.js.CreateOrUpdateConsumer(ctx, stream, sb.cfg)
	if err != nil {
		sb.s.log.Warn("broker/nats: JetStream consumer gone; creating it again failed, will retry",
			"topic", sb.topic, "consumer", sb.consumer, "err", err)
		return false
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.closed.Load() {
		return true // Unsubscribe deletes it if it is this subscriber's own
	}
	cc, err := sb.consume(cons)
	if err != nil {
		sb.s.log.Warn("broker/nats: JetStream consumer gone; consuming from the new one failed, will retry",
			"topic", sb.topic, "consumer", sb.consumer, "err", err)
		return false
	}
	sb.cc.Stop()
	sb.cc = cc
	sb.s.log.Warn("broker/nats: JetStream consumer gone; created it again (messages published meanwhile are not delivered to it)",
		"topic", sb.topic, "queue", sb.queue, "consumer", sb.consumer)
	return true
}

// stopWatch stops the watcher and waits for it to return.
func (sb *subscriber) stopWatch() {
	sb.mu.Lock()
	cancel, done := sb.wcancel, sb.watched
	sb.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (sb *subscriber) Topic() string { return sb.topic }
func (sb *subscriber) Queue() string { return sb.queue }

// Unsubscribe stops delivery to the handler and ends its context. A call
// already running finishes; messages the client holds but has not handed
// to the handler are dropped (core NATS) or nacked for redelivery
// (JetStream). The consumer of a JetStream subscriber without a queue
// group or durable name is deleted.
func (sb *subscriber) Unsubscribe(ctx context.Context) error {
	if !sb.close() {
		return nil
	}
	// The handler's context ends last: a handler may unsubscribe itself
	// with it.
	defer sb.cancel()
	sb.s.remove(sb)
	sb.stopWatch()
	if err := sb.deleteEphemeral(ctx); err != nil {
		return err
	}
	// Make the server know before returning, so that it routes no more
	// messages of a queue group to this member.
	if err := sb.s.flush(ctx); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
		return fmt.Errorf("broker/nats: unsubscribe from %q: %w", sb.topic, err)
	}
	return nil
}

// close stops delivery; it reports whether this call did. The caller
// ends the handler's context.
func (sb *subscriber) close() bool {
	if !sb.closed.CompareAndSwap(false, true) {
		return false
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.sub != nil {
		_ = sb.sub.Unsubscribe() // fails only when the connection is closed
	}
	if sb.cc != nil {
		// Drain rather than Stop: messages already pulled reach
		// onJetStreamMsg, which nacks them for prompt redelivery.
		sb.cc.Drain()
	}
	return true
}

// deleteEphemeral deletes the consumer of a JetStream subscriber that had
// it to itself.
func (sb *subscriber) deleteEphemeral(ctx context.Context) error {
	sb.mu.Lock()
	ephemeral := sb.ephemeral
	sb.ephemeral = false
	sb.mu.Unlock()
	if !ephemeral || !sb.s.nc.IsConnected() {
		return nil
	}
	err := sb.s.js.DeleteConsumer(ctx, sb.s.b.cfg.stream, sb.consumer)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("broker/nats: unsubscribe from %q: delete JetStream consumer %q: %w", sb.topic, sb.consumer, err)
	}
	return nil
}

// eventTopic is the topic of a message received on subject.
func (sb *subscriber) eventTopic(subject string) string {
	if p := sb.s.b.cfg.prefix; p != "" {
		return strings.TrimPrefix(subject, p)
	}
	return subject
}

// onMsg handles a core NATS message: nats.go calls it from the
// subscription's own goroutine, one message at a time.
func (sb *subscriber) onMsg(m *natsgo.Msg) {
	if sb.closed.Load() || !sb.s.calls.enter() {
		return // unsubscribed or disconnecting: dropped
	}
	defer sb.s.calls.leave()
	e := &event{
		topic: sb.eventTopic(m.Subject),
		msg:   &broker.Message{Header: decodeHeader(m.Header), Body: m.Data},
	}
	if err := sb.call(e); err != nil {
		sb.s.log.Warn("broker/nats: handler failed; core NATS does not redeliver",
			"topic", e.topic, "queue", sb.queue, "err", err)
	}
}

// onJetStreamMsg handles a JetStream message, one at a time per
// subscriber.
func (sb *subscriber) onJetStreamMsg(m jetstream.Msg) {
	if sb.closed.Load() || !sb.s.calls.enter() {
		_ = m.Nak() // unsubscribed or disconnecting: redeliver elsewhere or later
		return
	}
	defer sb.s.calls.leave()
	e := &event{
		topic: sb.eventTopic(m.Subject()),
		msg:   &broker.Message{Header: decodeHeader(m.Headers()), Body: m.Data()},
		jm:    m,
		delay: sb.s.b.cfg.nakDelay,
	}
	err := sb.call(e)
	switch {
	case err != nil && sb.autoAck:
		if n, last := sb.lastDelivery(m); last {
			// The nack makes the server give the message up and publish
			// its max-deliveries advisory, which can feed a dead-letter
			// stream.
			sb.s.log.Error("broker/nats: handler failed on the last delivery; message given up",
				"topic", e.topic, "queue", sb.queue, "deliveries", n, "err", err)
		} else {
			sb.s.log.Warn("broker/nats: handler failed; nacked for redelivery",
				"topic", e.topic, "queue", sb.queue, "deliveries", n, "err", err)
		}
		if nerr := e.Nack(); nerr != nil {
			sb.s.log.Debug("broker/nats: nack failed", "topic", e.topic, "err", nerr)
		}
	case err != nil:
		sb.s.log.Warn("broker/nats: handler failed (auto-ack disabled; the handler settles the message)",
			"topic", e.topic, "queue", sb.queue, "err", err)
	case sb.autoAck:
		if aerr := e.Ack(); aerr != nil {
			sb.s.log.Debug("broker/nats: ack failed", "topic", e.topic, "err", aerr)
		}
	}
}

// lastDelivery returns how often m was delivered and whether [MaxDeliver]
// allows no further delivery.
func (sb *subscriber) lastDelivery(m jetstream.Msg) (uint64, bool) {
	md, err := m.Metadata()
	if err != nil {
		return 0, false
	}
	maxDeliver := sb.s.b.cfg.maxDeliver
	return md.NumDelivered, maxDeliver > 0 && md.NumDelivered >= uint64(maxDeliver)
}

func (sb *subscriber) onConsumeError(_ jetstream.ConsumeContext, err error) {
	switch {
	case sb.closed.Load():
	case errors.Is(err, jetstream.ErrConsumerDeleted):
		sb.s.log.Warn("broker/nats: JetStream consumer deleted; creating it again",
			"topic", sb.topic, "consumer", sb.consumer)
		sb.recheck()
	case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, natsgo.ErrNoResponders):
		// The server restarting, or the consumer gone.
		sb.s.log.Debug("broker/nats: JetStream consumer not answering; pulling again",
			"topic", sb.topic, "consumer", sb.consumer, "err", err)
		sb.recheck()
	case errors.Is(err, jetstream.ErrConnectionClosed):
	default:
		sb.s.log.Warn("broker/nats: JetStream consumer error",
			"topic", sb.topic, "consumer", sb.consumer, "err", err)
	}
}

// call runs the handler, turning a panic into an error.
func (sb *subscriber) call(e *event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sb.s.log.Error("broker/nats: handler panicked", "topic", e.topic, "queue", sb.queue,
				"panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("broker/nats: handler panicked: %v", r)
		}
	}()
	return sb.h(sb.ctx, e)
}

// event is one delivery. In core NATS mode Ack and Nack do nothing; in
// JetStream mode the first of them settles the message.
type event struct {
	topic   string
	msg     *broker.Message
	jm      jetstream.Msg // nil in core NATS mode
	delay   time.Duration // before a nacked message is redelivered
	settled atomic.Bool
}

func (e *event) Topic() string            { return e.topic }
func (e *event) Message() *broker.Message { return e.msg }

// Ack acknowledges a JetStream message; it does nothing in core NATS mode
// and after the first Ack or Nack.
func (e *event) Ack() error {
	if e.jm == nil || !e.settled.CompareAndSwap(false, true) {
		return nil
	}
	if err := e.jm.Ack(); err != nil {
		return fmt.Errorf("broker/nats: ack: %w", err)
	}
	return nil
}

// Nack asks JetStream to redeliver the message (after [RedeliveryDelay]).
// Core NATS cannot redeliver, so there it does nothing: the message is
// gone. It does nothing after the first Ack or Nack either.
func (e *event) Nack() error {
	if e.jm == nil || !e.settled.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if e.delay > 0 {
		err = e.jm.NakWithDelay(e.delay)
	} else {
		err = e.jm.Nak()
	}
	if err != nil {
		return fmt.Errorf("broker/nats: nack: %w", err)
	}
	return nil
}

// Reject settles a message that can never be handled (broker.Rejecter):
// JetStream terminates it (no redelivery, and NATS publishes its
// MSG_TERMINATED advisory for whoever keeps dead letters). Core NATS has
// nothing to settle. It does nothing after the first Ack, Nack or Reject.
func (e *event) Reject() error {
	if e.jm == nil || !e.settled.CompareAndSwap(false, true) {
		return nil
	}
	if err := e.jm.Term(); err != nil {
		return fmt.Errorf("broker/nats: reject: %w", err)
	}
	return nil
}

var (
	_ broker.Subscriber = (*subscriber)(nil)
	_ broker.Event      = (*event)(nil)
	_ broker.Rejecter   = (*event)(nil)
)
