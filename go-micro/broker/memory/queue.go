package memory

import "sync"

// delivery is one message on its way to a subscriber or a group. It is
// shared by every queue the message was put on and never changed: each
// handler call gets its own copy of msg, and a redelivery is a new delivery.
type delivery struct {
	topic string
	msg   *message
	// attempt counts the deliveries of msg to this queue, from 1.
	attempt int
}

// message is the bus's private copy of a published message.
type message struct {
	header map[string]string
	body   []byte
}

// queue is an unbounded FIFO of deliveries with any number of consumers.
// push never blocks; pop blocks until an item arrives or done is closed.
type queue struct {
	mu     sync.Mutex
	items  []*delivery
	closed bool
	// ready holds a token while items may be waiting; consumers that take
	// an item and leave others behind pass the token on.
	ready chan struct{}
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

// push appends d; it reports false, dropping d, once the queue is closed.
func (q *queue) push(d *delivery) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, d)
	q.mu.Unlock()
	q.signal()
	return true
}

// pushFront puts d back at the head of the queue, for a consumer that took
// it but may not handle it.
func (q *queue) pushFront(d *delivery) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append([]*delivery{d}, q.items...)
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
func (q *queue) pop(done <-chan struct{}) (*delivery, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.items) > 0 {
			d := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return d, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-done:
			return nil, false
		}
	}
}

// close drops the queued items; later pushes are dropped too.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.items = nil
	q.mu.Unlock()
}
