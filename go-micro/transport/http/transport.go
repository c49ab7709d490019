package http

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/transport"
)

func init() {
	transport.Register("http", NewTransport)
}

// NewTransport returns the http transport. It reads Options.TLS,
// Options.Timeout and Options.MaxMessageSize.
func NewTransport(opts ...transport.Option) (transport.Transport, error) {
	return newTransport(opts...), nil
}

func newTransport(opts ...transport.Option) *httpTransport {
	o := transport.NewOptions(opts...)
	if o.Timeout <= 0 {
		o.Timeout = transport.DefaultTimeout
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	// A frame's length is 32 bits, and credit arithmetic must not wrap.
	o.MaxMessageSize = min(o.MaxMessageSize, maxMessageSize)
	ctx, cancel := context.WithCancel(context.Background())
	return &httpTransport{
		opts:        o,
		idleTimeout: defaultIdleTimeout,
		writeStall:  defaultWriteStall,
		maxOpen:     defaultMaxServerStreams,
		pool:        make(map[string]*addrConns),
		closeCtx:    ctx,
		cancel:      cancel,
	}
}

type httpTransport struct {
	opts        transport.Options
	idleTimeout time.Duration
	// writeStall and maxOpen are fixed defaults that tests lower: see
	// defaultWriteStall and defaultMaxServerStreams.
	writeStall time.Duration
	maxOpen    int

	mu     sync.RWMutex
	pool   map[string]*addrConns
	closed bool
	wg     sync.WaitGroup // client connection goroutines

	// closeCtx ends with Close and aborts the dials in progress.
	closeCtx context.Context
	cancel   context.CancelFunc
}

// addrConns are the pooled connections to one address.
type addrConns struct {
	conns   []*conn
	dialing *dialCall
}

// dialCall is a connection being dialled; concurrent Dials wait for it.
type dialCall struct {
	done chan struct{}
	err  error
	// retry is set when the dial failed only because the ctx of the Dial
	// that ran it ended; the Dials waiting on it then dial for themselves.
	retry   bool
	waiters atomic.Int32 // Dials waiting on this one (tests watch it)
}

func (t *httpTransport) String() string { return "http" }

// Dial opens a new stream on a pooled connection to addr, dialling one if
// needed. The stream reaches the listener with its first Send or CloseSend.
func (t *httpTransport) Dial(ctx context.Context, addr string, _ ...transport.DialOption) (transport.Socket, error) {
	t.mu.RLock()
	if ac := t.pool[addr]; ac != nil {
		for _, c := range ac.conns {
			if c.reserve() {
				t.mu.RUnlock()
				return newStream(c, 0), nil
			}
		}
	}
	t.mu.RUnlock()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, transport.ErrClosed
		}
		ac := t.pool[addr]
		if ac == nil {
			ac = &addrConns{}
			t.pool[addr] = ac
		}
		for _, c := range ac.conns {
			if c.reserve() {
				t.mu.Unlock()
				return newStream(c, 0), nil
			}
		}
		if d := ac.dialing; d != nil {
			t.mu.Unlock()
			d.waiters.Add(1)
			select {
			case <-d.done:
				if d.err != nil && !d.retry {
					return nil, d.err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		d := &dialCall{done: make(chan struct{})}
		ac.dialing = d
		t.mu.Unlock()

		c, err := t.dialConn(ctx, addr)

		t.mu.Lock()
		ac.dialing = nil
		// Close cancels closeCtx before it sets closed: a dial it aborted
		// reports ErrClosed, not the cancellation.
		if t.closed || t.closeCtx.Err() != nil {
			if err == nil {
				_ = c.nc.Close()
			}
			err = transport.ErrClosed
		}
		if err == nil {
			ac.conns = append(ac.conns, c)
			t.wg.Add(2)
			go func() { defer t.wg.Done(); c.readLoop() }()
			go func() { defer t.wg.Done(); c.writeLoop() }()
		} else if len(ac.conns) == 0 {
			delete(t.pool, addr)
		}
		d.err = err
		d.retry = err != nil && ctx.Err() != nil
		close(d.done)
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// dialConn connects and upgrades a new connection to addr.
func (t *httpTransport) dialConn(ctx context.Context, addr string) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.Timeout)
	defer cancel()
	stop := context.AfterFunc(t.closeCtx, cancel)
	defer stop()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport/http: dial %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	unc, br, err := clientHandshake(ctx, nc, addr, t.opts.TLS)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("transport/http: dial %s: %w", addr, err)
	}
	c := newConn(unc, br, true, t.opts.MaxMessageSize, t.writeStall)
	c.t = t
	return c, nil
}

// removeConn takes a connection out of the pool; Dial will not pick it.
func (t *httpTransport) removeConn(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, ac := range t.pool {
		if i := slices.Index(ac.conns, c); i >= 0 {
			ac.conns = slices.Delete(ac.conns, i, i+1)
			if len(ac.conns) == 0 && ac.dialing == nil {
				delete(t.pool, addr)
			}
			return
		}
	}
}

// closeIdle closes c if it still has no streams after the idle timeout.
func (t *httpTransport) closeIdle(c *conn) {
	t.mu.Lock()
	c.mu.Lock()
	idle := c.active == 0 && !c.closing
	if idle {
		c.closing = true
	}
	c.mu.Unlock()
	t.mu.Unlock()
	if idle {
		c.close(transport.ErrClosed)
	}
}

// Close closes every pooled connection, failing their streams with
// transport.ErrClosed, and waits for the connections' goroutines.
func (t *httpTransport) Close() error {
	t.cancel()
	t.mu.Lock()
	t.closed = true
	var conns []*conn
	for _, ac := range t.pool {
		conns = append(conns, ac.conns...)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.close(transport.ErrClosed)
	}
	t.wg.Wait()
	return nil
}

// Listen starts a listener on addr (host:port; port 0 picks a free port).
func (t *httpTransport) Listen(ctx context.Context, addr string, _ ...transport.ListenOption) (transport.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport/http: listen %s: %w", addr, err)
	}
	return &listener{
		ln:      ln,
		tls:     t.opts.TLS,
		timeout: t.opts.Timeout,
		maxMsg:  t.opts.MaxMessageSize,
		stall:   t.writeStall,
		maxOpen: t.maxOpen,
		raw:     make(map[net.Conn]struct{}),
		conns:   make(map[*conn]struct{}),
		idleCh:  make(chan struct{}, 1),
		work:    make(chan *stream),
		connCh:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}, nil
}

var _ transport.Transport = (*httpTransport)(nil)
