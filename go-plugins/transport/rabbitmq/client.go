package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

// clientChan holds the AMQP channels of a transport's dialled streams.
// Their frames go out on ch, and their peers answer on an exclusive reply
// queue, which ch consumes. Open frames go out on dialCh, in confirm mode,
// so that Dial learns whether the listener's queue exists; every later
// frame of the stream is published after that confirmation, so it reaches
// the queue after the open frame although it uses another channel.
type clientChan struct {
	t      *rmqTransport
	conn   *brokerConn
	ch     *amqp.Channel
	dialCh *amqp.Channel
	queue  string

	deliveries <-chan amqp.Delivery
	returns    chan amqp.Return
	// dialReturns is unbuffered: the library hands a returned message
	// over before it processes the confirmation that follows, so a Dial
	// that saw its confirmation and then passed the barrier knows that a
	// return of its open frame was handled.
	dialReturns chan amqp.Return
	closed      chan *amqp.Error
	dialClosed  chan *amqp.Error
	barrierC    chan chan struct{}
	ctl         *ctlPublisher
	loopDone    chan struct{}

	mu      sync.Mutex
	streams map[string]*stream
	dead    bool
	err     error
	tearing bool
}

func newClientChan(t *rmqTransport, conn *brokerConn, queue string) (*clientChan, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: open a channel: %w", transport.ErrClosed, err)
	}
	dialCh, err := conn.Channel()
	if err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("%w: open a channel: %w", transport.ErrClosed, err)
	}
	c := &clientChan{
		t:           t,
		conn:        conn,
		ch:          ch,
		dialCh:      dialCh,
		queue:       queue,
		returns:     ch.NotifyReturn(make(chan amqp.Return, 16)),
		dialReturns: dialCh.NotifyReturn(make(chan amqp.Return)),
		closed:      ch.NotifyClose(make(chan *amqp.Error, 1)),
		dialClosed:  dialCh.NotifyClose(make(chan *amqp.Error, 1)),
		barrierC:    make(chan chan struct{}),
		loopDone:    make(chan struct{}),
		streams:     make(map[string]*stream),
	}
	fail := func(what string, err error) (*clientChan, error) {
		_ = dialCh.Close()
		_ = ch.Close()
		return nil, fmt.Errorf("transport/rabbitmq: %s: %w", what, err)
	}
	if err := dialCh.Confirm(false); err != nil {
		return fail("confirm mode", err)
	}
	if _, err := ch.QueueDeclare(queue, false, false, true, false, nil); err != nil {
		return fail("declare reply queue "+queue, err)
	}
	c.deliveries, err = ch.Consume(queue, "", true, true, false, false, nil)
	if err != nil {
		return fail("consume reply queue "+queue, err)
	}
	c.ctl = startCtl(&t.wg, ch, t.set.log)
	t.wg.Go(c.loop)
	return c, nil
}

// loop dispatches the frames that arrive on the reply queue and the
// returned messages, and sends probes, until the channel closes.
func (c *clientChan) loop() {
	defer close(c.loopDone)
	tick := time.NewTicker(c.t.set.probeInterval)
	defer tick.Stop()
	returns, dialReturns := c.returns, c.dialReturns
	for {
		select {
		case d, ok := <-c.deliveries:
			if !ok {
				c.die(nil)
				return
			}
			c.handle(&d)
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			c.returned(r.RoutingKey)
		case r, ok := <-dialReturns:
			if !ok {
				dialReturns = nil
				continue
			}
			c.returned(r.RoutingKey)
		case b := <-c.barrierC:
			close(b)
		case <-tick.C:
			c.probe()
		case err := <-c.closed:
			c.die(err)
			return
		case err := <-c.dialClosed:
			c.die(err)
			return
		}
	}
}

// die fails the streams of a channel that closed under them.
func (c *clientChan) die(err *amqp.Error) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	if err != nil {
		c.err = errConnLost(err)
	} else {
		c.err = errConnLost(nil)
	}
	tearing := c.tearing
	streams := make([]*stream, 0, len(c.streams))
	for _, s := range c.streams {
		streams = append(streams, s)
	}
	c.mu.Unlock()
	if tearing {
		return
	}
	// Forget c first: whoever sees a stream fail and dials again gets a
	// new channel.
	c.t.forgetClient(c)
	c.t.set.log.Warn("transport/rabbitmq: lost the channel of dialled streams; the next Dial reconnects",
		"streams", len(streams), "error", c.err)
	for _, s := range streams {
		s.fail(c.err)
	}
	c.ctl.close()
	// One channel may live on (a consumer cancelled under it, or the
	// other channel failed alone): close it without holding up the loop,
	// which the library may be waiting on, and delete the reply queue if
	// the connection lives on too.
	c.t.wg.Go(func() {
		_ = c.dialCh.Close()
		_ = c.ch.Close()
		if c.conn.IsClosed() {
			return
		}
		if ch, err := c.conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(c.queue, false, false, false)
			_ = ch.Close()
		}
	})
}

func (c *clientChan) handle(d *amqp.Delivery) {
	f, err := decodeFrame(d)
	if f.typ == typeProbe {
		if err != nil {
			c.t.set.log.Debug("transport/rabbitmq: bad probe", "from", f.replyTo, "error", err)
			return
		}
		for _, id := range f.ids {
			if c.lookup(id, f.replyTo) == nil {
				c.ctl.reset(f.replyTo, id, c.queue, codeUnknown)
			}
		}
		return
	}
	s := c.lookup(f.id, f.replyTo)
	if err != nil {
		c.t.set.log.Debug("transport/rabbitmq: bad frame", "from", f.replyTo, "stream", f.id, "error", err)
		if s != nil {
			s.fail(errBadFrame)
			c.ctl.reset(s.remote, s.id, c.queue, codeMalformed)
		}
		return
	}
	if s == nil {
		if f.typ == typeData || f.typ == typeEnd {
			c.ctl.reset(f.replyTo, f.id, c.queue, codeUnknown)
		}
		return
	}
	dispatch(s, &f, c.ctl, c.queue)
}

// dispatch hands a decoded frame to its stream; resets go out through
// ctl.
func dispatch(s *stream, f *frame, ctl *ctlPublisher, local string) {
	switch f.typ {
	case typeData:
		if code, reset := s.onData(f); reset {
			ctl.reset(s.remote, s.id, local, code)
		}
	case typeEnd:
		s.onEnd()
	case typeReset:
		s.onReset(f.code)
	case typeWindow:
		if s.onWindow(f.credit) {
			ctl.reset(s.remote, s.id, local, codeMalformed)
		}
	}
}

// lookup finds a dialled stream by id; the frame must come from the
// stream's peer.
func (c *clientChan) lookup(id, from string) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil || s.remote != from {
		return nil
	}
	return s
}

// returned fails the streams to a queue that RabbitMQ could not route to.
func (c *clientChan) returned(queue string) {
	err := errPeerGone(queue)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.streams {
		if s.remote == queue {
			s.mu.Lock()
			s.noRoute = true
			s.failLocked(err)
			s.mu.Unlock()
		}
	}
}

// probe lists the open streams to each peer queue.
func (c *clientChan) probe() {
	by := make(map[string][]string)
	c.mu.Lock()
	for id, s := range c.streams {
		if s.probeable() {
			by[s.remote] = append(by[s.remote], id)
		}
	}
	c.mu.Unlock()
	for queue, ids := range by {
		c.ctl.probe(queue, c.queue, ids)
	}
}

func (c *clientChan) publish(key string, p amqp.Publishing) error {
	if err := c.ch.Publish("", key, p.Type != typeReset, false, p); err != nil {
		return fmt.Errorf("%w: publish: %w", transport.ErrClosed, err)
	}
	return nil
}

func (c *clientChan) writable(ctx context.Context) error { return c.conn.writable(ctx) }

func (c *clientChan) release(s *stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[s.id] == s {
		delete(c.streams, s.id)
	}
}

// dial opens a stream to the queue addr. It reports retry when the
// channel was found dead before anything was sent: a new one may work.
func (c *clientChan) dial(ctx context.Context, addr string) (_ transport.Socket, retry bool, _ error) {
	s := newStream(c, c.t.nextStreamID(), c.queue, addr, c.t.set.opts.MaxMessageSize)
	c.mu.Lock()
	if c.dead {
		err := c.err
		c.mu.Unlock()
		c.t.forgetClient(c)
		return nil, true, err
	}
	c.streams[s.id] = s
	c.mu.Unlock()
	dc, err := c.dialCh.PublishWithDeferredConfirm("", addr, true, false, amqp.Publishing{
		Type: typeOpen, CorrelationId: s.id, ReplyTo: c.queue,
	})
	if err != nil {
		c.release(s)
		c.t.forgetClient(c)
		return nil, true, fmt.Errorf("%w: dial %s: %w", transport.ErrClosed, addr, err)
	}
	sock, err := c.await(ctx, s, dc)
	return sock, false, err
}

// await waits for the confirmation of s's open frame.
func (c *clientChan) await(ctx context.Context, s *stream, dc *amqp.DeferredConfirmation) (transport.Socket, error) {
	addr := s.remote
	abort := func(err error) (transport.Socket, error) {
		// The open frame may still arrive: tell the listener.
		s.closeStream(true)
		return nil, err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		return abort(ctx.Err())
	case <-c.t.life.Done():
		return abort(transport.ErrClosed)
	}
	if !dc.Acked() {
		return abort(fmt.Errorf("%w: dial %s: RabbitMQ did not confirm the stream's opening", transport.ErrClosed, addr))
	}
	// The open frame is in the listener's queue: frames published from
	// now on, probes listing the stream included, come after it.
	s.mu.Lock()
	s.opened = true
	s.mu.Unlock()
	// The confirmation came after any return of the opening frame; once
	// the loop answers the barrier, it has handled that return.
	b := make(chan struct{})
	select {
	case c.barrierC <- b:
		<-b
	case <-c.loopDone:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = transport.ErrClosed
		}
		c.release(s)
		return nil, err
	case <-ctx.Done():
		return abort(ctx.Err())
	}
	s.mu.Lock()
	noRoute := s.noRoute
	s.mu.Unlock()
	if noRoute {
		c.release(s)
		return nil, fmt.Errorf("%w: %s", ErrNoListener, addr)
	}
	return s, nil
}

// teardown closes the channel for good: its streams are closed (their
// peers told), its reply queue deleted.
func (c *clientChan) teardown() {
	c.mu.Lock()
	c.tearing = true
	streams := make([]*stream, 0, len(c.streams))
	for _, s := range c.streams {
		streams = append(streams, s)
	}
	clear(c.streams)
	c.mu.Unlock()
	c.ctl.close()
	for _, s := range streams {
		if s.shut(transport.ErrClosed) {
			_ = c.publish(s.remote, amqp.Publishing{Type: typeReset, CorrelationId: s.id, ReplyTo: c.queue, Body: []byte{codeClosed}})
		}
	}
	if !c.ch.IsClosed() {
		_, _ = c.ch.QueueDelete(c.queue, false, false, false)
	}
	_ = c.dialCh.Close()
	_ = c.ch.Close()
	<-c.loopDone
}

var _ owner = (*clientChan)(nil)
