package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

// Reconnection backoff of a listener whose connection was lost.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// streamKey identifies an accepted stream: the dialler's reply queue and
// the stream id.
type streamKey struct{ replyTo, id string }

type listener struct {
	t    *rmqTransport
	name string

	// life ends with Close; it aborts reconnecting.
	life   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	lc       *lchan // the channel in use
	fn       func(transport.Socket)
	streams  map[streamKey]*stream
	active   int // accepted streams not yet closed
	shutdown bool
	closed   bool

	idle      chan struct{} // signalled when active drops to 0
	loop      sync.WaitGroup
	closeOnce sync.Once
}

// lchan is one AMQP channel of a listener: a new one after each lost
// connection. The listener's queue is exclusive to the connection, so
// RabbitMQ deletes it when the listener's process dies.
type lchan struct {
	l       *listener
	conn    *brokerConn
	ch      *amqp.Channel
	returns chan amqp.Return
	closed  chan *amqp.Error
	ctl     *ctlPublisher
}

func newListener(t *rmqTransport, name string) *listener {
	life, cancel := context.WithCancel(t.life)
	return &listener{
		t:       t,
		name:    name,
		life:    life,
		cancel:  cancel,
		streams: make(map[streamKey]*stream),
		idle:    make(chan struct{}, 1),
	}
}

func (l *listener) Addr() string { return l.name }

// openChan opens a channel on conn and declares the listener's queue.
func (l *listener) openChan(conn *brokerConn) (*lchan, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: open a channel: %w", transport.ErrClosed, err)
	}
	lc := &lchan{
		l:       l,
		conn:    conn,
		ch:      ch,
		returns: ch.NotifyReturn(make(chan amqp.Return, 64)),
		closed:  ch.NotifyClose(make(chan *amqp.Error, 1)),
	}
	if _, err := ch.QueueDeclare(l.name, false, false, true, false, nil); err != nil {
		_ = ch.Close()
		if ae, ok := errors.AsType[*amqp.Error](err); ok && ae.Code == amqp.ResourceLocked {
			return nil, fmt.Errorf("%w: %s: %w", ErrAddrInUse, l.name, err)
		}
		return nil, fmt.Errorf("transport/rabbitmq: declare queue %s: %w", l.name, err)
	}
	lc.ctl = startCtl(&l.t.wg, ch, l.t.set.log)
	return lc, nil
}

// discard closes a channel the listener no longer uses.
func (lc *lchan) discard(deleteQueue bool) {
	lc.ctl.close()
	if lc.ch.IsClosed() {
		return
	}
	if deleteQueue {
		_, _ = lc.ch.QueueDelete(lc.l.name, false, false, false)
	}
	_ = lc.ch.Close()
}

func (lc *lchan) publish(key string, p amqp.Publishing) error {
	if err := lc.ch.Publish("", key, p.Type != typeReset, false, p); err != nil {
		return fmt.Errorf("%w: publish: %w", transport.ErrClosed, err)
	}
	return nil
}

func (lc *lchan) writable(ctx context.Context) error { return lc.conn.writable(ctx) }

func (lc *lchan) release(s *stream) { lc.l.release(s) }

// Accept consumes the listener's queue and calls fn in a new goroutine for
// each stream opened, until Close. A lost connection fails the accepted
// streams; the listener then reconnects, declares its queue again under
// the same name and goes on.
func (l *listener) Accept(fn func(transport.Socket)) error {
	l.mu.Lock()
	if l.fn != nil {
		l.mu.Unlock()
		return errAcceptTwice
	}
	l.fn = fn
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.loop.Add(1)
	lc := l.lc
	l.mu.Unlock()
	defer l.loop.Done()
	for {
		err := l.serve(lc)
		if l.life.Err() != nil {
			return nil
		}
		l.lost(lc, err)
		if lc = l.reconnect(); lc == nil {
			return nil
		}
	}
}

// serve dispatches the frames of lc's queue until the channel closes.
func (l *listener) serve(lc *lchan) error {
	deliveries, err := lc.ch.Consume(l.name, "", true, true, false, false, nil)
	if err != nil {
		return err
	}
	tick := time.NewTicker(l.t.set.probeInterval)
	defer tick.Stop()
	returns := lc.returns
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return nil
			}
			l.handle(lc, &d)
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			l.returned(lc, r.RoutingKey)
		case <-tick.C:
			l.probe(lc)
		case err := <-lc.closed:
			if err != nil {
				return err
			}
			return nil
		}
	}
}

// lost fails the streams accepted on lc, whose channel is gone.
func (l *listener) lost(lc *lchan, err error) {
	l.t.set.log.Warn("transport/rabbitmq: listener lost its channel; reconnecting", "queue", l.name, "error", err)
	var amqpErr *amqp.Error
	if e, ok := errors.AsType[*amqp.Error](err); ok {
		amqpErr = e
	}
	ferr := errConnLost(amqpErr)
	l.mu.Lock()
	for _, s := range l.streams {
		if s.own == lc {
			s.fail(ferr)
		}
	}
	l.mu.Unlock()
	lc.discard(false)
}

// reconnect opens a new channel and declares the queue again, backing
// off between attempts, until it works or the listener closes (nil).
func (l *listener) reconnect() *lchan {
	backoff := minBackoff
	for {
		lc, err := l.reopen()
		if err == nil {
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				lc.discard(true)
				return nil
			}
			l.lc = lc
			l.mu.Unlock()
			l.t.set.log.Info("transport/rabbitmq: listener reconnected", "queue", l.name)
			return lc
		}
		if l.life.Err() != nil {
			return nil
		}
		l.t.set.log.Debug("transport/rabbitmq: listener reconnect failed", "queue", l.name, "error", err, "retry_in", backoff)
		tm := time.NewTimer(backoff)
		select {
		case <-tm.C:
		case <-l.life.Done():
			tm.Stop()
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (l *listener) reopen() (*lchan, error) {
	if err := l.t.lock(l.life); err != nil {
		return nil, err
	}
	defer l.t.unlock()
	conn, err := l.t.connection(l.life)
	if err != nil {
		return nil, err
	}
	return l.openChan(conn)
}

func (l *listener) handle(lc *lchan, d *amqp.Delivery) {
	f, err := decodeFrame(d)
	if !isReplyQueue(f.replyTo) {
		// Every frame of a stream comes from a dialler's reply queue. Drop
		// the rest unanswered: an answer would go wherever the sender
		// named, a probe's to thousands of stream ids.
		l.t.set.log.Debug("transport/rabbitmq: frame not from a reply queue dropped", "queue", l.name, "type", f.typ, "from", f.replyTo)
		return
	}
	if f.typ == typeProbe {
		if err != nil {
			l.t.set.log.Debug("transport/rabbitmq: bad probe", "queue", l.name, "from", f.replyTo, "error", err)
			return
		}
		for _, id := range f.ids {
			if l.lookup(streamKey{f.replyTo, id}) == nil {
				lc.ctl.reset(f.replyTo, id, l.name, codeUnknown)
			}
		}
		return
	}
	k := streamKey{f.replyTo, f.id}
	if err != nil {
		l.t.set.log.Debug("transport/rabbitmq: bad frame", "queue", l.name, "from", f.replyTo, "stream", f.id, "error", err)
		if s := l.lookup(k); s != nil {
			s.fail(errBadFrame)
			lc.ctl.reset(s.remote, s.id, l.name, codeMalformed)
		}
		return
	}
	if f.typ == typeOpen {
		l.accept(lc, &f)
		return
	}
	s := l.lookup(k)
	if s == nil {
		if f.typ == typeData || f.typ == typeEnd {
			lc.ctl.reset(f.replyTo, f.id, l.name, codeUnknown)
		}
		return
	}
	dispatch(s, &f, lc.ctl, l.name)
}

// accept starts a stream for an open frame, or refuses it while the
// listener shuts down or holds MaxStreams streams.
func (l *listener) accept(lc *lchan, f *frame) {
	k := streamKey{f.replyTo, f.id}
	l.mu.Lock()
	if l.streams[k] != nil {
		l.mu.Unlock()
		return // a duplicate: the stream goes on
	}
	if l.closed || l.shutdown || l.active >= l.t.set.maxStreams {
		full := !l.closed && !l.shutdown
		l.mu.Unlock()
		if full {
			l.t.set.log.Debug("transport/rabbitmq: stream refused: too many open", "queue", l.name, "limit", l.t.set.maxStreams)
		}
		lc.ctl.reset(f.replyTo, f.id, l.name, codeRefused)
		return
	}
	s := newStream(lc, f.id, l.name, f.replyTo, l.t.set.opts.MaxMessageSize)
	s.opened = true
	l.streams[k] = s
	l.active++
	fn := l.fn
	l.mu.Unlock()
	go fn(s)
}

func (l *listener) lookup(k streamKey) *stream {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streams[k]
}

// release forgets an accepted stream once its handler closed it.
func (l *listener) release(s *stream) {
	k := streamKey{s.remote, s.id}
	l.mu.Lock()
	if l.streams[k] != s {
		l.mu.Unlock()
		return
	}
	delete(l.streams, k)
	l.active--
	idle := l.active == 0
	l.mu.Unlock()
	if idle {
		wake(l.idle)
	}
}

// returned fails the streams to a queue that RabbitMQ could not route to.
func (l *listener) returned(lc *lchan, queue string) {
	err := errPeerGone(queue)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.streams {
		if s.remote == queue && s.own == lc {
			s.fail(err)
		}
	}
}

// probe lists the open streams to each dialler's reply queue.
func (l *listener) probe(lc *lchan) {
	by := make(map[string][]string)
	l.mu.Lock()
	for k, s := range l.streams {
		if s.own == lc && s.probeable() {
			by[k.replyTo] = append(by[k.replyTo], k.id)
		}
	}
	l.mu.Unlock()
	for queue, ids := range by {
		lc.ctl.probe(queue, l.name, ids)
	}
}

// Shutdown refuses new streams (their Dial or first Recv fails), waits
// until the accepted ones are closed or ctx ends, then closes.
func (l *listener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.shutdown = true
	l.mu.Unlock()
	for {
		l.mu.Lock()
		n, closed := l.active, l.closed
		l.mu.Unlock()
		if closed {
			return nil
		}
		if n == 0 {
			break
		}
		select {
		case <-l.idle:
		case <-ctx.Done():
			_ = l.Close()
			return ctx.Err()
		case <-l.life.Done():
			return nil
		}
	}
	return l.Close()
}

// Close closes every accepted stream (telling the diallers), deletes the
// queue and makes Accept return nil.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		lc := l.lc
		streams := make([]*stream, 0, len(l.streams))
		for _, s := range l.streams {
			streams = append(streams, s)
		}
		l.mu.Unlock()
		l.cancel()
		if lc != nil {
			for _, s := range streams {
				if s.shut(transport.ErrClosed) && s.own == lc {
					_ = lc.publish(s.remote, amqp.Publishing{Type: typeReset, CorrelationId: s.id, ReplyTo: l.name, Body: []byte{codeClosed}})
				}
			}
			lc.discard(true)
		} else {
			for _, s := range streams {
				s.shut(transport.ErrClosed)
			}
		}
		l.loop.Wait()
		l.t.removeListener(l)
	})
	return nil
}

var (
	_ transport.Listener = (*listener)(nil)
	_ owner              = (*lchan)(nil)
)
