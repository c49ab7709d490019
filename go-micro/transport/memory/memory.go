// Package memory is an in-process transport.Transport, for tests and for
// services that talk within one process.
//
// Listeners live in an address table owned by one Transport value: Dial
// finds only listeners created by the same Transport, and nothing is
// shared through package variables. An address with port 0 (such as
// "127.0.0.1:0") gets a unique port; any other address is used as given.
//
// Sockets copy messages on Send, so neither side aliases the other's
// buffers. Each direction of a stream buffers about 1 MiB: Send blocks
// (respecting its ctx) while the receiver holds that much unread, but
// always admits one message when the buffer is below the limit. All values
// are safe for concurrent use.
//
// The package registers itself as "memory" with package transport:
//
//	import _ "github.com/openmicro/go-micro/transport/memory"
package memory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"sync"

	"github.com/openmicro/go-micro/transport"
)

func init() {
	transport.Register("memory", NewTransport)
}

// window is how many bytes of unread messages a direction buffers before
// Send blocks.
const window = 1 << 20

var (
	// ErrNoListener is returned by Dial when nothing listens at the
	// address.
	ErrNoListener = errors.New("transport/memory: no listener at address")
	// ErrAddrInUse is returned by Listen for an address already taken.
	ErrAddrInUse   = errors.New("transport/memory: address in use")
	errNilMessage  = errors.New("transport/memory: nil message")
	errAcceptTwice = errors.New("transport/memory: Accept called twice")
)

// NewTransport returns an in-memory transport. It reads
// Options.MaxMessageSize.
func NewTransport(opts ...transport.Option) (transport.Transport, error) {
	o := transport.NewOptions(opts...)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	return &memTransport{
		max:       o.MaxMessageSize,
		listeners: make(map[string]*listener),
		sockets:   make(map[*socket]struct{}),
		nextPort:  10000,
		done:      make(chan struct{}),
	}, nil
}

type memTransport struct {
	max int

	mu        sync.Mutex
	listeners map[string]*listener
	sockets   map[*socket]struct{} // dialled and open
	nextPort  int
	nextLocal int
	closed    bool
	done      chan struct{} // closed by Close: aborts Dials in progress
}

func (t *memTransport) String() string { return "memory" }

// Listen registers a listener at addr.
func (t *memTransport) Listen(_ context.Context, addr string, _ ...transport.ListenOption) (transport.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.ErrClosed
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		for {
			t.nextPort++
			addr = net.JoinHostPort(host, strconv.Itoa(t.nextPort))
			if t.listeners[addr] == nil {
				break
			}
		}
	}
	if t.listeners[addr] != nil {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, addr)
	}
	l := &listener{
		t:       t,
		addr:    addr,
		pending: make(chan *socket, 64),
		idle:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		sockets: make(map[*socket]struct{}),
	}
	t.listeners[addr] = l
	return l, nil
}

// Dial opens a stream to the listener at addr.
func (t *memTransport) Dial(ctx context.Context, addr string, _ ...transport.DialOption) (transport.Socket, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, transport.ErrClosed
	}
	l := t.listeners[addr]
	t.nextLocal++
	local := "memory:" + strconv.Itoa(t.nextLocal)
	t.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoListener, addr)
	}
	a, b := newPipe(), newPipe()
	cs := newSocket(t.max, b, a, local, addr)
	ss := newSocket(t.max, a, b, addr, local)
	if err := l.enqueue(ctx, t.done, ss); err != nil {
		return nil, err
	}
	cs.onClose = func() {
		t.mu.Lock()
		delete(t.sockets, cs)
		t.mu.Unlock()
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = cs.Close()
		return nil, transport.ErrClosed
	}
	t.sockets[cs] = struct{}{}
	t.mu.Unlock()
	return cs, nil
}

// Close closes every socket dialled through t; Dial and Listen then fail
// with transport.ErrClosed. Existing listeners keep running until closed.
func (t *memTransport) Close() error {
	t.mu.Lock()
	if !t.closed {
		close(t.done)
	}
	t.closed = true
	socks := make([]*socket, 0, len(t.sockets))
	for s := range t.sockets {
		socks = append(socks, s)
	}
	t.mu.Unlock()
	for _, s := range socks {
		_ = s.Close()
	}
	return nil
}

func (t *memTransport) removeListener(l *listener) {
	t.mu.Lock()
	if t.listeners[l.addr] == l {
		delete(t.listeners, l.addr)
	}
	t.mu.Unlock()
}

// pipe is one direction of a stream.
type pipe struct {
	mu       sync.Mutex
	queue    []transport.Message
	bytes    int
	eof      bool // the writer half-closed
	reset    bool // the reader closed: writes fail
	readable chan struct{}
	writable chan struct{}
}

func newPipe() *pipe {
	return &pipe{readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func size(m *transport.Message) int {
	n := len(m.Body)
	for k, v := range m.Header {
		n += len(k) + len(v)
	}
	return n
}

type socket struct {
	max           int
	in, out       *pipe
	local, remote string
	onClose       func()

	sendMu, recvMu sem // serialise Sends and Recvs
	closeOnce      sync.Once
	done           chan struct{} // closed by Close
}

func newSocket(limit int, in, out *pipe, local, remote string) *socket {
	return &socket{
		max: limit, in: in, out: out, local: local, remote: remote,
		sendMu: make(sem, 1), recvMu: make(sem, 1), done: make(chan struct{}),
	}
}

func (s *socket) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Send copies m into the peer's queue.
func (s *socket) Send(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	n := size(m)
	if n > s.max {
		return transport.ErrMessageTooLarge
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.sendMu.lock(ctx); err != nil {
		return err
	}
	defer s.sendMu.unlock()
	p := s.out
	for {
		if s.isClosed() {
			return transport.ErrClosed
		}
		p.mu.Lock()
		if p.eof || p.reset {
			p.mu.Unlock()
			return transport.ErrClosed
		}
		if p.bytes < window {
			c := transport.Message{Header: maps.Clone(m.Header), Body: append([]byte(nil), m.Body...)}
			if c.Header == nil {
				c.Header = make(map[string]string)
			}
			p.queue = append(p.queue, c)
			p.bytes += n + 1
			p.mu.Unlock()
			signal(p.readable)
			return nil
		}
		p.mu.Unlock()
		select {
		case <-p.writable:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
		}
	}
}

// Recv takes the next message; io.EOF after the peer half-closed.
func (s *socket) Recv(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	if err := s.recvMu.lock(ctx); err != nil {
		return err
	}
	defer s.recvMu.unlock()
	p := s.in
	for {
		if s.isClosed() {
			return transport.ErrClosed
		}
		p.mu.Lock()
		if len(p.queue) > 0 {
			*m = p.queue[0]
			p.queue[0] = transport.Message{}
			p.queue = p.queue[1:]
			if len(p.queue) == 0 {
				p.queue = nil
			}
			p.bytes -= size(m) + 1
			p.mu.Unlock()
			signal(p.writable)
			return nil
		}
		if p.eof {
			p.mu.Unlock()
			return io.EOF
		}
		p.mu.Unlock()
		select {
		case <-p.readable:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
		}
	}
}

// CloseSend half-closes: the peer reads io.EOF after what was sent.
func (s *socket) CloseSend() error {
	if s.isClosed() {
		return transport.ErrClosed
	}
	s.out.mu.Lock()
	s.out.eof = true
	s.out.mu.Unlock()
	signal(s.out.readable)
	signal(s.out.writable)
	return nil
}

// Close ends both directions: the peer reads io.EOF after what was sent,
// and its Sends fail with transport.ErrClosed.
func (s *socket) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.out.mu.Lock()
		s.out.eof = true
		s.out.mu.Unlock()
		signal(s.out.readable)
		s.in.mu.Lock()
		s.in.reset = true
		s.in.queue, s.in.bytes = nil, 0
		s.in.mu.Unlock()
		signal(s.in.writable)
		if s.onClose != nil {
			s.onClose()
		}
	})
	return nil
}

func (s *socket) Local() string  { return s.local }
func (s *socket) Remote() string { return s.remote }

type listener struct {
	t       *memTransport
	addr    string
	pending chan *socket // dialled, not yet handed to Accept

	mu       sync.Mutex
	sockets  map[*socket]struct{} // accepted and open
	shutdown bool
	accepted bool
	// enqueuing counts Dials between their shutdown check and their
	// hand-off to pending, so that stop drains pending only after them.
	enqueuing sync.WaitGroup

	idle      chan struct{} // signalled when sockets empties
	done      chan struct{} // closed by Close
	stopped   chan struct{} // closed when new streams are refused
	stopOnce  sync.Once
	closeOnce sync.Once
}

func (l *listener) Addr() string { return l.addr }

// enqueue hands a dialled socket to Accept; it gives up when the listener
// stops, ctx ends or the dialling transport closes (closed).
func (l *listener) enqueue(ctx context.Context, closed <-chan struct{}, s *socket) error {
	l.mu.Lock()
	if l.shutdown {
		l.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoListener, l.addr)
	}
	l.enqueuing.Add(1)
	l.mu.Unlock()
	defer l.enqueuing.Done()
	select {
	case l.pending <- s:
		return nil
	case <-l.stopped:
		return fmt.Errorf("%w: %s", ErrNoListener, l.addr)
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return transport.ErrClosed
	}
}

// Accept hands every dialled stream to fn in a new goroutine until the
// listener stops.
func (l *listener) Accept(fn func(transport.Socket)) error {
	l.mu.Lock()
	if l.accepted {
		l.mu.Unlock()
		return errAcceptTwice
	}
	l.accepted = true
	l.mu.Unlock()
	for {
		select {
		case <-l.stopped:
			return nil
		case s := <-l.pending:
			l.mu.Lock()
			if l.shutdown {
				l.mu.Unlock()
				_ = s.Close()
				continue
			}
			l.sockets[s] = struct{}{}
			s.onClose = func() { l.release(s) }
			l.mu.Unlock()
			go fn(s)
		}
	}
}

func (l *listener) release(s *socket) {
	l.mu.Lock()
	delete(l.sockets, s)
	empty := len(l.sockets) == 0
	l.mu.Unlock()
	if empty {
		signal(l.idle)
	}
}

// stop refuses new streams and closes those not yet accepted. A Dial
// racing with it either sees shutdown or has handed its socket to pending
// before the drain below, so no socket is left there unserved.
func (l *listener) stop() {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.shutdown = true
		l.mu.Unlock()
		close(l.stopped)
		l.t.removeListener(l)
		l.enqueuing.Wait() // they return at once: stopped is closed
		for {
			select {
			case s := <-l.pending:
				_ = s.Close()
			default:
				return
			}
		}
	})
}

// Shutdown refuses new streams, waits for accepted sockets to close or ctx
// to end, then closes what is left.
func (l *listener) Shutdown(ctx context.Context) error {
	l.stop()
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

// Close refuses new streams and closes every accepted socket.
func (l *listener) Close() error {
	l.stop()
	l.closeOnce.Do(func() {
		close(l.done)
		l.mu.Lock()
		socks := make([]*socket, 0, len(l.sockets))
		for s := range l.sockets {
			socks = append(socks, s)
		}
		l.mu.Unlock()
		for _, s := range socks {
			_ = s.Close()
		}
	})
	return nil
}

var (
	_ transport.Transport = (*memTransport)(nil)
	_ transport.Listener  = (*listener)(nil)
	_ transport.Socket    = (*socket)(nil)
)

// sem is a one-slot lock that a waiter gives up on when its ctx ends, so
// that a call queued behind a blocked one still honours its ctx.
type sem chan struct{}

func (s sem) lock(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s sem) unlock() { <-s }
