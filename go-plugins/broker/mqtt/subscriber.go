package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/openmicro/go-micro/broker"
)

// subscriber is one subscription and the goroutine running its handler.
type subscriber struct {
	s       *session
	c       *conn
	topic   string // broker topic
	name    string // MQTT topic name
	filter  string // what is subscribed at the server
	queue   string
	autoAck bool
	h       broker.Handler
	q       *queue // own queue, or the group's shared one

	ctx    context.Context // ends on Unsubscribe or Disconnect
	cancel context.CancelFunc

	stopped atomic.Bool
	// settleLeft is set when the subscriber leaves while the connection
	// stays, so messages it will not handle are acked rather than kept
	// for redelivery.
	settleLeft atomic.Bool
}

func (sub *subscriber) Topic() string { return sub.topic }
func (sub *subscriber) Queue() string { return sub.queue }

// Unsubscribe stops delivery to the handler at once and, when no other
// subscriber of this broker needs the filter, unsubscribes at the server
// and waits within ctx for its answer.
func (sub *subscriber) Unsubscribe(ctx context.Context) error {
	if !sub.leave() {
		return nil
	}
	return sub.c.drop(ctx, sub, true)
}

// abort undoes a Subscribe that failed.
func (sub *subscriber) abort() {
	if sub.leave() {
		_ = sub.c.drop(context.Background(), sub, false)
	}
}

// leave stops the subscriber while its connection stays up: messages
// queued for it alone are acked and dropped. It reports whether this call
// stopped it.
func (sub *subscriber) leave() bool {
	if !sub.stopped.CompareAndSwap(false, true) {
		return false
	}
	sub.settleLeft.Store(true)
	sub.s.remove(sub)
	sub.cancel()
	if !sub.shared() {
		for _, it := range sub.q.close() {
			it.settle()
		}
	}
	return true
}

// halt stops the subscriber as its session ends: nothing is acked, so a
// persistent session gets unhandled messages again.
func (sub *subscriber) halt() {
	if sub.stopped.CompareAndSwap(false, true) {
		sub.cancel()
		if !sub.shared() {
			sub.q.close()
		}
	}
}

func (sub *subscriber) shared() bool { return sub.queue != "" }

func (sub *subscriber) run() {
	defer sub.s.handlers.Done()
	for {
		it, ok := sub.q.pop(sub.ctx.Done())
		if !ok {
			return
		}
		if sub.ctx.Err() != nil {
			switch {
			case sub.shared():
				sub.q.pushFront(it) // for the other members
			case sub.settleLeft.Load():
				it.settle()
			}
			return
		}
		sub.handle(it)
	}
}

func (sub *subscriber) handle(it *item) {
	e := &event{it: it, msg: &broker.Message{Header: it.header, Body: it.body}}
	err := sub.call(e)
	log := sub.s.b.opts.Logger
	switch {
	case sub.autoAck && err != nil:
		log.Warn("broker/mqtt: handler failed; message acknowledged to the server and dropped (MQTT cannot redeliver)",
			"topic", sub.topic, "queue", sub.queue, "err", err)
		_ = e.Nack()
	case sub.autoAck:
		_ = e.Ack()
	case err != nil:
		log.Warn("broker/mqtt: handler failed (auto-ack disabled; the handler settles the message)",
			"topic", sub.topic, "queue", sub.queue, "err", err)
	}
}

// call runs the handler, turning a panic into an error.
func (sub *subscriber) call(e *event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sub.s.b.opts.Logger.Error("broker/mqtt: handler panicked", "topic", sub.topic, "queue", sub.queue, "panic", r)
			err = fmt.Errorf("broker/mqtt: handler panicked: %v", r)
		}
	}()
	return sub.h(sub.ctx, e)
}

// delivery is one received PUBLISH on its way to the local subscribers of
// its filter. The server gets its acknowledgement once every one of them
// has settled its copy.
type delivery struct {
	topic   string
	ack     func() // paho's Message.Ack: PUBACK (QoS 1) or PUBREC (QoS 2)
	pending atomic.Int32
}

// item is one copy of a delivery, for one subscriber (or one group).
type item struct {
	d       *delivery
	header  map[string]string
	body    []byte
	settled atomic.Bool
}

// settle counts this copy as done; the last copy acks the delivery.
func (it *item) settle() {
	if it.settled.CompareAndSwap(false, true) && it.d.pending.Add(-1) == 0 {
		it.d.ack()
	}
}

func cloneMessage(h map[string]string, b []byte) (map[string]string, []byte) {
	return maps.Clone(h), bytes.Clone(b)
}

// event is one delivery to one handler call.
type event struct {
	it  *item
	msg *broker.Message
}

func (e *event) Topic() string            { return e.it.d.topic }
func (e *event) Message() *broker.Message { return e.msg }

// Ack settles the message. At QoS 1 and 2 the server is acknowledged once
// every subscriber of this broker that got the message has settled it.
func (e *event) Ack() error {
	e.it.settle()
	return nil
}

// Nack settles the message like Ack: MQTT 3.1.1 has no negative
// acknowledgement, and a message left unacknowledged would hold one of the
// connection's in-flight slots until it ends. The message is not
// redelivered.
func (e *event) Nack() error {
	e.it.settle()
	return nil
}

var (
	errClosed   = errors.New("broker/mqtt: queue closed")
	errOverflow = errors.New("broker/mqtt: queue full")
)

// queue is a FIFO of items with a bound and any number of consumers. push
// never blocks; pop blocks until an item arrives or done is closed.
type queue struct {
	max int

	mu     sync.Mutex
	items  []*item
	closed bool
	// ready holds a token while items may be waiting; a consumer that takes
	// an item and leaves others behind passes the token on.
	ready chan struct{}
}

func newQueue(max int) *queue { return &queue{max: max, ready: make(chan struct{}, 1)} }

// push appends it; it fails with errClosed or errOverflow.
func (q *queue) push(it *item) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return errClosed
	case len(q.items) >= q.max:
		q.mu.Unlock()
		return errOverflow
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.signal()
	return nil
}

// pushFront puts it back at the head, for a consumer that took it but will
// not handle it; on a closed queue it is settled.
func (q *queue) pushFront(it *item) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		it.settle()
		return
	}
	q.items = append([]*item{it}, q.items...)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes the oldest item, waiting for one until done is closed or the
// queue is closed.
func (q *queue) pop(done <-chan struct{}) (*item, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.items) > 0 {
			it := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return it, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-done:
			return nil, false
		}
	}
}

// close refuses further items and returns those still queued.
func (q *queue) close() []*item {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	left := q.items
	q.items = nil
	return left
}

var (
	_ broker.Subscriber = (*subscriber)(nil)
	_ broker.Event      = (*event)(nil)
)
