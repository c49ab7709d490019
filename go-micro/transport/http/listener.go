package http

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/transport"
)

var errAcceptTwice = errors.New("transport/http: Accept called twice")

type listener struct {
	ln      net.Listener
	tls     *tls.Config
	timeout time.Duration
	maxMsg  int
	stall   time.Duration // write deadline of one batch
	maxOpen int           // open streams allowed per connection

	stopping atomic.Bool // the TCP listener is being closed on purpose

	mu       sync.Mutex
	fn       func(transport.Socket)
	raw      map[net.Conn]struct{} // every accepted TCP connection
	conns    map[*conn]struct{}    // upgraded connections
	active   int                   // accepted sockets not yet closed
	shutdown bool
	closed   bool

	work        chan *stream // hands a stream to an idle worker
	idleWorkers atomic.Int32 // workers waiting on work

	idleCh    chan struct{} // signalled when active drops to 0
	connCh    chan struct{} // signalled when a connection goes away
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // connection goroutines
}

func (l *listener) Addr() string { return l.ln.Addr().String() }

// Accept serves connections, calling fn in a goroutine of its own for
// every stream (see dispatch), until the listener is closed or shut down.
func (l *listener) Accept(fn func(transport.Socket)) error {
	l.mu.Lock()
	if l.fn != nil {
		l.mu.Unlock()
		return errAcceptTwice
	}
	l.fn = fn
	l.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.stopping.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors or similar: back off and retry.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				tm := time.NewTimer(delay)
				select {
				case <-tm.C:
				case <-l.done:
					tm.Stop()
					return nil
				}
				continue
			}
			return err
		}
		delay = 0
		l.mu.Lock()
		if l.closed || l.shutdown {
			l.mu.Unlock()
			_ = nc.Close()
			continue
		}
		l.raw[nc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.serveConn(nc)
	}
}

// serveConn upgrades one connection and reads its frames until it closes.
func (l *listener) serveConn(nc net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.raw, nc)
		l.mu.Unlock()
	}()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	// Close interrupts a handshake by closing nc.
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	unc, br, err := serverHandshake(ctx, nc, l.tls, l.timeout)
	cancel()
	if err != nil {
		slog.Debug("transport/http: refused connection", "remote", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		return
	}
	c := newConn(unc, br, false, l.maxMsg, l.stall)
	c.l = l
	c.maxOpen = l.maxOpen
	l.mu.Lock()
	if l.closed || l.shutdown {
		l.mu.Unlock()
		_ = unc.Close()
		return
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() { defer l.wg.Done(); c.writeLoop() }()
	c.readLoop()
}

// Workers: a goroutine that ran fn for a stream waits up to workerIdle for
// the next stream instead of ending, at most maxIdleWorkers at a time. A
// new goroutine starts with a small stack that grows (copied each time)
// as a handler decodes, reflects and encodes; a worker keeps the stack it
// grew, which spared a fifth of a busy service's CPU.
const (
	maxIdleWorkers = 256
	workerIdle     = 10 * time.Second
)

// dispatch runs l.fn(s) on an idle worker, or on a new one.
func (l *listener) dispatch(s *stream) {
	select {
	case l.work <- s:
	default:
		go l.worker(s)
	}
}

// worker runs fn for s, then for the streams dispatch hands it, until it
// has waited workerIdle for one, the listener is closed, or enough others
// wait already.
func (l *listener) worker(s *stream) {
	var idle *time.Timer
	for {
		l.fn(s)
		if l.idleWorkers.Add(1) > maxIdleWorkers {
			l.idleWorkers.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case s = <-l.work:
			l.idleWorkers.Add(-1)
		case <-idle.C:
			l.idleWorkers.Add(-1)
			return
		case <-l.done:
			l.idleWorkers.Add(-1)
			return
		}
	}
}

// reserve counts a new stream; it fails once the listener stops.
func (l *listener) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.shutdown {
		return false
	}
	l.active++
	return true
}

// release is called once per accepted stream on its Close.
func (l *listener) release() {
	l.mu.Lock()
	l.active--
	idle := l.active == 0
	l.mu.Unlock()
	if idle {
		signal(l.idleCh)
	}
}

func (l *listener) removeConn(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	signal(l.connCh)
}

// Shutdown stops accepting, sends GOAWAY on every connection so clients
// open no more streams, waits for the accepted sockets to be closed and for
// clients to hang up, and then closes everything. It returns ctx's error if
// it had to cut sockets short.
func (l *listener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.shutdown = true
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	l.stopping.Store(true)
	_ = l.ln.Close()
	for _, c := range conns {
		c.goAway()
	}
	// Wait for the accepted sockets.
	for {
		l.mu.Lock()
		n := l.active
		l.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-l.idleCh:
		case <-ctx.Done():
			_ = l.Close()
			return ctx.Err()
		case <-l.done:
			return nil
		}
	}
	// Half-close: clients read what is left, see EOF and hang up. A client
	// that does not hang up gets Options.Timeout.
	linger := time.NewTimer(l.timeout)
	defer linger.Stop()
	l.mu.Lock()
	conns = conns[:0]
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.closeWrite()
	}
	for {
		l.mu.Lock()
		n := len(l.conns)
		l.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-l.connCh:
		case <-linger.C:
			return l.Close()
		case <-ctx.Done():
			_ = l.Close()
			return ctx.Err()
		case <-l.done:
			return nil
		}
	}
	return l.Close()
}

// Close closes the listener, every connection and every accepted socket at
// once, and waits for the listener's goroutines.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		raw := make([]net.Conn, 0, len(l.raw))
		for nc := range l.raw {
			raw = append(raw, nc)
		}
		conns := make([]*conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		l.stopping.Store(true)
		_ = l.ln.Close()
		close(l.done)
		for _, c := range conns {
			c.close(transport.ErrClosed)
		}
		for _, nc := range raw {
			_ = nc.Close()
		}
	})
	l.wg.Wait()
	return nil
}

var _ transport.Listener = (*listener)(nil)
