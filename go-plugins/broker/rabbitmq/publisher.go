package rabbitmq

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
)

const (
	// maxInFlight bounds the messages awaiting a confirm on one connection.
	maxInFlight = 1024
	// maxChannelRetries bounds how often Publish tries again after the
	// server closed the publishing channel while the connection stayed up.
	maxChannelRetries = 2
	// returnedTTL is how long a returned message's id is kept for a
	// Publish call that is no longer waiting for it.
	returnedTTL = time.Minute
)

// errLost: the connection or channel went away before the message was
// surely taken; it is sent again on the next one.
var errLost = errors.New("broker/rabbitmq: connection lost before the server took the message")

func (b *rabbitBroker) Publish(ctx context.Context, topic string, m *broker.Message, _ ...broker.PublishOption) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	s, err := b.session()
	if err != nil {
		return err
	}
	if m == nil {
		m = &broker.Message{}
	}
	msg, err := toPublishing(m, rand.Text(), !b.cfg.transient)
	if err != nil {
		return fmt.Errorf("broker/rabbitmq: publish to %q: %w", topic, err)
	}
	channelRetries := 0
	for {
		l, err := s.current(ctx)
		if err != nil {
			return fmt.Errorf("broker/rabbitmq: publish to %q: %w", topic, err)
		}
		err = l.publish(ctx, topic, msg)
		if err == nil {
			return nil
		}
		var chErr *channelError
		switch {
		case errors.Is(err, errLost):
			// The connection is going; wait for the next one.
			b.opts.Logger.Debug("broker/rabbitmq: connection lost while publishing; sending again on the next one",
				"topic", topic, "message_id", msg.MessageId)
			l.gone(ctx)
			continue
		case errors.As(err, &chErr) && channelRetries < maxChannelRetries:
			// The server closed the channel (say, the exchange was
			// deleted): a new channel declares the exchange again.
			channelRetries++
			continue
		}
		return fmt.Errorf("broker/rabbitmq: publish to %q: %w", topic, err)
	}
}

// channelError: the server closed the publishing channel while the
// connection stayed up.
type channelError struct{ err error }

func (e *channelError) Error() string { return "channel closed by the server: " + e.err.Error() }
func (e *channelError) Unwrap() error { return e.err }

// publisher is the publishing channel of one connection.
type publisher struct {
	ch        *amqp.Channel
	closes    chan *amqp.Error // the channel's close reason
	confirm   bool
	mandatory bool
	inFlight  chan struct{} // semaphore of unconfirmed messages

	whyOnce sync.Once
	why     *amqp.Error // set by reason

	retMu    sync.Mutex
	returns  chan amqp.Return // filled by the reader; drained under retMu
	returned map[string]time.Time
}

// publish sends msg on l, waiting for the confirm when confirms are on.
func (l *link) publish(ctx context.Context, topic string, msg amqp.Publishing) error {
	if err := l.waitUnblocked(ctx); err != nil {
		return err
	}
	p, err := l.publisher(ctx)
	if err != nil {
		if l.conn.IsClosed() {
			return errLost
		}
		return err
	}
	if p.confirm {
		select {
		case p.inFlight <- struct{}{}:
			defer func() { <-p.inFlight }()
		case <-l.dead:
			return errLost
		case <-ctx.Done():
			return fmt.Errorf("%w: too many messages awaiting confirms: %w", ErrUnavailable, ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dc, err := p.ch.PublishWithDeferredConfirm(l.s.b.cfg.exchange, topic, p.mandatory, false, msg)
	if err != nil {
		if errors.Is(err, amqp.ErrClosed) || p.ch.IsClosed() {
			return p.closed(l)
		}
		// The message was checked before, so this is the socket failing
		// (the connection shuts down on a failed write, or its reader
		// sees the failure): the message may not have left.
		return fmt.Errorf("%w: %w", errLost, err)
	}
	if !p.confirm || dc == nil {
		return nil
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		p.forget(msg.MessageId)
		return fmt.Errorf("waiting for the server's confirm (the message may have been taken): %w", ctx.Err())
	}
	if !dc.Acked() {
		if p.ch.IsClosed() {
			return p.closed(l)
		}
		return ErrNacked
	}
	if p.mandatory && p.wasReturned(msg.MessageId) {
		return ErrUnroutable
	}
	return nil
}

// closed explains why the publishing channel closed: errLost when the
// connection went with it, a *channelError when the server closed the
// channel alone.
func (p *publisher) closed(l *link) error {
	why := p.reason()
	if l.conn.IsClosed() {
		return errLost
	}
	if why == nil {
		return &channelError{err: amqp.ErrClosed}
	}
	return &channelError{err: why}
}

// reason returns the error the channel closed with (nil for a close by the
// client). Call it only once the channel is closed: the library sends the
// reason, or closes p.closes, while it shuts the channel down.
func (p *publisher) reason() *amqp.Error {
	p.whyOnce.Do(func() {
		if e, ok := <-p.closes; ok {
			p.why = e
		}
	})
	return p.why
}

// publisher returns the link's publishing channel, opening it (and
// declaring the exchange on it) when there is none or it was closed.
func (l *link) publisher(ctx context.Context) (*publisher, error) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	if l.pub != nil && !l.pub.ch.IsClosed() {
		return l.pub, nil
	}
	cfg := &l.s.b.cfg
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("opening a channel: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = ch.Close() })
	p := &publisher{
		ch:        ch,
		closes:    ch.NotifyClose(make(chan *amqp.Error, 1)),
		confirm:   cfg.confirms,
		mandatory: cfg.mandatory,
	}
	err = declareExchange(ch, cfg.exchange)
	if err == nil && p.confirm {
		p.inFlight = make(chan struct{}, maxInFlight)
		err = ch.Confirm(false)
	}
	if err == nil && p.mandatory {
		p.returns = ch.NotifyReturn(make(chan amqp.Return, 2*maxInFlight))
		p.returned = make(map[string]time.Time)
	}
	if !stop() {
		_ = ch.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("opening the publishing channel: %w", err)
	}
	l.pub = p
	return p, nil
}

// drain moves the returns the reader queued into p.returned; retMu held.
// The server sends a message's basic.return before its basic.ack, and the
// reader queues it before it resolves the confirm, so once a confirm is in
// the message's return (if any) is in the channel or the map.
func (p *publisher) drain() {
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				return
			}
			p.returned[r.MessageId] = time.Now()
		default:
			return
		}
	}
}

// wasReturned reports whether the message with id came back, and forgets
// it.
func (p *publisher) wasReturned(id string) bool {
	p.retMu.Lock()
	defer p.retMu.Unlock()
	p.drain()
	_, ok := p.returned[id]
	delete(p.returned, id)
	p.prune()
	return ok
}

// forget drops what is known of a message whose Publish stopped waiting.
func (p *publisher) forget(id string) {
	if !p.mandatory {
		return
	}
	p.retMu.Lock()
	defer p.retMu.Unlock()
	p.drain()
	delete(p.returned, id)
	p.prune()
}

// prune drops returns nobody waits for any more; retMu held.
func (p *publisher) prune() {
	if len(p.returned) < maxInFlight {
		return
	}
	cut := time.Now().Add(-returnedTTL)
	for id, t := range p.returned {
		if t.Before(cut) {
			delete(p.returned, id)
		}
	}
}
