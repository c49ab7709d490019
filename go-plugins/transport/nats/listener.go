package nats

import (
	"context"
	"sync"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/transport"
)

// listener accepts the streams opened on its subject.
type listener struct {
	t       *natsTransport
	subject string

	mu       sync.Mutex
	sub      *natsgo.Subscription
	pending  []*stream            // accepted, not yet handed to Accept
	sockets  map[*stream]struct{} // accepted and not closed (pending ones too)
	stopping bool                 // new streams are refused
	err      error                // why the listener stopped, when not closed by its owner
	called   bool                 // Accept was called

	notify    chan struct{} // signalled when pending grows
	stopped   chan struct{} // closed when new streams are refused
	done      chan struct{} // closed by Close
	idle      chan struct{} // signalled when sockets empties
	stopOnce  sync.Once
	closeOnce sync.Once
}

func newListener(t *natsTransport, subject string) *listener {
	return &listener{
		t:       t,
		subject: subject,
		sockets: make(map[*stream]struct{}),
		notify:  make(chan struct{}, 1),
		stopped: make(chan struct{}),
		done:    make(chan struct{}),
		idle:    make(chan struct{}, 1),
	}
}

// Addr is the subject the listener subscribes to, which clients Dial.
func (l *listener) Addr() string { return l.subject }

// onOpen handles a frame sent to the listener's subject: an OPEN makes a
// stream, answered with ACCEPT, or with RESET while the listener stops.
func (l *listener) onOpen(m *natsgo.Msg) {
	if len(m.Header) > 0 || validSubject(m.Reply) != nil {
		return // not a frame of ours, or nowhere to answer
	}
	f, err := parseFrame(m.Data)
	if err != nil || f.typ != frameOpen || f.seq != 0 {
		return
	}
	if f.flags != protocolVersion {
		l.t.replyReset(m.Reply, codeProtocol, "unsupported protocol version")
		return
	}
	l.mu.Lock()
	stopping := l.stopping
	l.mu.Unlock()
	if stopping {
		l.t.replyReset(m.Reply, codeRefused, "the listener is shutting down")
		return
	}
	s := l.t.newStream(m.Reply)
	s.l = l
	s.laddr = l.subject
	s.remote = m.Reply
	s.established = true
	s.credit = int64(f.n)
	s.recvSeq = 1
	s.acceptLocked() // nobody else holds s yet
	if !l.t.register(s) {
		s.close(codeRefused, "the transport is closing")
		return
	}
	// s is registered before it joins the sockets, and joins them only
	// while the listener runs: a Close that has begun finds it there and
	// closes it, or it is closed here. Either way it leaves the transport.
	l.mu.Lock()
	reason := ""
	switch {
	case l.stopping:
		reason = "the listener is shutting down"
	case len(l.sockets) >= l.t.s.streams:
		reason = "the listener has too many open streams"
	default:
		l.sockets[s] = struct{}{}
	}
	l.mu.Unlock()
	if reason != "" {
		s.close(codeRefused, reason)
		return
	}
	// ACCEPT takes sequence 0, so it goes out before the application
	// gets the stream and can send on it.
	if err := s.sendAccept(); err != nil {
		s.fail(closedError(ErrConnectionLost, "publish: "+err.Error()), 0, "")
	}
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		s.close(codeRefused, "the listener is shutting down")
		return
	}
	l.pending = append(l.pending, s)
	l.mu.Unlock()
	signal(l.notify)
}

// Accept runs fn in a new goroutine for every accepted stream until the
// listener stops. It returns nil when the listener or its transport was
// closed, or the error that stopped it.
func (l *listener) Accept(fn func(transport.Socket)) error {
	l.mu.Lock()
	if l.called {
		l.mu.Unlock()
		return errAcceptTwice
	}
	l.called = true
	l.mu.Unlock()
	for {
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		stopping, err := l.stopping, l.err
		l.mu.Unlock()
		for _, s := range batch {
			go fn(s)
		}
		if stopping {
			return err
		}
		select {
		case <-l.notify:
		case <-l.stopped:
		}
	}
}

// release forgets a closed socket.
func (l *listener) release(s *stream) {
	l.mu.Lock()
	delete(l.sockets, s)
	empty := len(l.sockets) == 0
	l.mu.Unlock()
	if empty {
		signal(l.idle)
	}
}

// stopWith refuses new streams: the subscription is drained, so OPENs
// already on their way are answered with RESET rather than lost, and the
// streams not yet handed to Accept are refused. err is what Accept returns.
func (l *listener) stopWith(err error) {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.stopping = true
		l.err = err
		pending := l.pending
		l.pending = nil
		sub := l.sub
		l.mu.Unlock()
		close(l.stopped)
		if sub != nil {
			_ = sub.Drain()
		}
		l.t.removeListener(l)
		for _, s := range pending {
			s.close(codeRefused, "the listener is shutting down")
		}
	})
}

// Shutdown refuses new streams, waits until every accepted socket is
// closed or ctx ends, and then closes the listener.
func (l *listener) Shutdown(ctx context.Context) error {
	l.stopWith(nil)
	for {
		l.mu.Lock()
		n := len(l.sockets)
		l.mu.Unlock()
		if n == 0 {
			return l.Close()
		}
		select {
		case <-l.idle:
		case <-l.done:
			return nil
		case <-ctx.Done():
			_ = l.Close()
			return ctx.Err()
		}
	}
}

// Close refuses new streams and cuts every accepted socket: their Sends
// and Recvs fail with transport.ErrClosed, and their peers get RESET.
func (l *listener) Close() error {
	l.stopWith(nil)
	l.closeOnce.Do(func() {
		close(l.done)
		l.mu.Lock()
		socks := make([]*stream, 0, len(l.sockets))
		for s := range l.sockets {
			socks = append(socks, s)
		}
		l.mu.Unlock()
		for _, s := range socks {
			s.close(codeClosed, "the listener closed")
		}
	})
	return nil
}

var _ transport.Listener = (*listener)(nil)
