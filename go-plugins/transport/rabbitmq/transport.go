package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

func init() {
	transport.Register("rabbitmq", NewTransport)
}

var (
	// ErrNoListener is returned by Dial when no queue of that name exists:
	// nothing listens there, or the listener's process is gone. A stream
	// whose peer's queue disappears fails with an error that matches both
	// it and transport.ErrClosed.
	ErrNoListener = errors.New("transport/rabbitmq: no listener at address")
	// ErrAddrInUse is returned by Listen when another connection holds
	// the queue of that name, or a listener of the same transport does.
	ErrAddrInUse = errors.New("transport/rabbitmq: address in use")

	errAcceptTwice = errors.New("transport/rabbitmq: Accept called twice")
)

// NewTransport returns a RabbitMQ transport. It reads Options.Addrs (amqp://
// or amqps:// URLs, or host:port with the guest account; default
// DefaultAddress), Options.TLS, Options.Timeout, Options.MaxMessageSize
// and the options of this package. It does not connect: the first Dial or
// Listen does.
func NewTransport(opts ...transport.Option) (transport.Transport, error) {
	return newTransport(opts...)
}

func newTransport(opts ...transport.Option) (*rmqTransport, error) {
	id := randomHex(8)
	s, err := newSettings(id, opts...)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	return &rmqTransport{
		id:        id,
		set:       s,
		setup:     make(chan struct{}, 1),
		listeners: make(map[*listener]struct{}),
		life:      life,
		cancel:    cancel,
	}, nil
}

type rmqTransport struct {
	id  string
	set settings

	// setup is held while connecting, building the client channel or
	// declaring a listener's queue, so that concurrent Dials and Listens
	// share one connection.
	setup chan struct{}

	mu        sync.Mutex
	conn      *brokerConn // nil or closed: the next user connects
	client    *clientChan // nil: the next Dial builds one
	replies   int         // reply queues declared, for their names
	listeners map[*listener]struct{}
	closed    bool

	// life ends with Close; it aborts connecting and waiting.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the transport's goroutines
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

func (t *rmqTransport) String() string { return "rabbitmq" }

// lock takes the setup semaphore within ctx.
func (t *rmqTransport) lock(ctx context.Context) error {
	if err := t.life.Err(); err != nil {
		return transport.ErrClosed
	}
	select {
	case t.setup <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.life.Done():
		return transport.ErrClosed
	}
}

func (t *rmqTransport) unlock() { <-t.setup }

// connection returns the live AMQP connection, connecting when there is
// none. The caller holds the setup semaphore.
func (t *rmqTransport) connection(ctx context.Context) (*brokerConn, error) {
	t.mu.Lock()
	c, closed := t.conn, t.closed
	t.mu.Unlock()
	if closed {
		return nil, transport.ErrClosed
	}
	if c != nil && !c.IsClosed() {
		return c, nil
	}
	var errs []error
	for _, url := range t.set.urls {
		c, err := t.connect(ctx, url)
		if err != nil {
			if t.life.Err() != nil {
				return nil, transport.ErrClosed
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			_ = c.CloseDeadline(time.Now().Add(t.set.opts.Timeout))
			return nil, transport.ErrClosed
		}
		t.conn = newBrokerConn(c, &t.wg, t.set.log)
		t.mu.Unlock()
		return t.conn, nil
	}
	return nil, errors.Join(errs...)
}

// connect dials one broker within Options.Timeout, ctx and the
// transport's life.
func (t *rmqTransport) connect(ctx context.Context, url string) (*amqp.Connection, error) {
	ctx, cancel := context.WithTimeout(ctx, t.set.opts.Timeout)
	defer cancel()
	defer context.AfterFunc(t.life, cancel)()
	var cut func() bool
	cfg := amqp.Config{
		Heartbeat:  t.set.heartbeat,
		Properties: amqp.Table{"connection_name": t.set.name},
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := t.set.dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The TLS and AMQP handshakes run under this deadline, which
			// the library clears once the connection is open; a ctx that
			// ends closes the socket under them.
			deadline, _ := ctx.Deadline()
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			cut = context.AfterFunc(ctx, func() { _ = c.Close() })
			return c, nil
		},
	}
	if t.set.opts.TLS != nil {
		cfg.TLSClientConfig = t.set.opts.TLS.Clone()
	}
	c, err := amqp.DialConfig(url, cfg)
	if cut != nil && !cut() && err == nil {
		// ctx ended just as the handshake finished: the socket is closed.
		_ = c.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("transport/rabbitmq: connect to %s: %w", redact(url), err)
	}
	return c, nil
}

// clientChan returns the channel dialled streams use, building it (and
// connecting) when there is none.
func (t *rmqTransport) clientChan(ctx context.Context) (*clientChan, error) {
	if c, err := t.currentClient(); c != nil || err != nil {
		return c, err
	}
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.unlock()
	if c, err := t.currentClient(); c != nil || err != nil {
		return c, err
	}
	conn, err := t.connection(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.replies++
	queue := replyQueueName(t.id, t.replies)
	t.mu.Unlock()
	c, err := newClientChan(t, conn, queue)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.teardown()
		return nil, transport.ErrClosed
	}
	t.client = c
	t.mu.Unlock()
	return c, nil
}

func (t *rmqTransport) currentClient() (*clientChan, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.ErrClosed
	}
	return t.client, nil
}

// forgetClient drops c once it died, so that the next Dial builds anew.
func (t *rmqTransport) forgetClient(c *clientChan) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.client == c {
		t.client = nil
	}
}

// Dial opens a stream to the listener whose queue is addr. It publishes
// the stream's opening frame as a mandatory message and waits for the
// broker's confirmation: a queue that does not exist fails the Dial with
// ErrNoListener.
func (t *rmqTransport) Dial(ctx context.Context, addr string, _ ...transport.DialOption) (transport.Socket, error) {
	if addr == "" || len(addr) > maxShortString {
		return nil, fmt.Errorf("transport/rabbitmq: dial %q: not a queue name", addr)
	}
	for attempt := 0; ; attempt++ {
		c, err := t.clientChan(ctx)
		if err != nil {
			return nil, err
		}
		s, retry, err := c.dial(ctx, addr)
		if retry && attempt == 0 && ctx.Err() == nil {
			continue // the channel had just died: build another
		}
		return s, err
	}
}

// nextStreamID returns a new stream's id: 32 random hex digits. RabbitMQ
// does not say who published a message, so a frame is tied to its stream
// by its reply-to and correlation id alone: ids must not be guessable
// from another stream's. (A listener learns the dialler's reply queue and
// the id of the stream it accepted; with a counter it could forge the
// frames of another listener on the dialler's other streams.)
func (t *rmqTransport) nextStreamID() string { return randomHex(16) }

// Reply queue names: replyPrefix, the transport's id (16 hex digits),
// replyInfix and a counter.
const (
	replyPrefix = "micro.transport."
	replyInfix  = ".reply."
)

func replyQueueName(id string, n int) string {
	return replyPrefix + id + replyInfix + strconv.Itoa(n)
}

// isReplyQueue reports whether name has the form of a dialler's reply
// queue. A listener accepts streams only from such queues, and Listen
// refuses such names: a stream always joins a reply queue to a listener's
// queue, so a forged open frame cannot join a listener to itself (a
// stream that would echo to itself for ever) or to another listener.
func isReplyQueue(name string) bool {
	rest, ok := strings.CutPrefix(name, replyPrefix)
	if !ok {
		return false
	}
	id, n, ok := strings.Cut(rest, replyInfix)
	if !ok || len(id) != 16 || n == "" || len(n) > 9 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Listen declares the listener's queue. An addr that is host:port (such
// as the server's default "127.0.0.1:0") or empty gets a unique name;
// any other addr is the queue name.
func (t *rmqTransport) Listen(ctx context.Context, addr string, _ ...transport.ListenOption) (transport.Listener, error) {
	name, err := listenName(addr)
	if err != nil {
		return nil, err
	}
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.unlock()
	// RabbitMQ lets the connection that owns an exclusive queue declare
	// and consume it again: a second listener would take half of every
	// stream's frames. Listens hold the setup lock, so this check holds.
	if t.listening(name) {
		return nil, fmt.Errorf("%w: %s: this transport listens there already", ErrAddrInUse, name)
	}
	conn, err := t.connection(ctx)
	if err != nil {
		return nil, err
	}
	l := newListener(t, name)
	lc, err := l.openChan(conn)
	if err != nil {
		l.cancel()
		return nil, err
	}
	l.lc = lc
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = l.Close()
		return nil, transport.ErrClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	return l, nil
}

func listenName(addr string) (string, error) {
	if addr == "" {
		return "micro.transport." + randomHex(16), nil
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return "micro.transport." + randomHex(16), nil
	}
	if len(addr) > maxShortString || strings.HasPrefix(addr, "amq.") || isReplyQueue(addr) {
		return "", fmt.Errorf("transport/rabbitmq: listen %q: not a queue name this transport may declare", addr)
	}
	return addr, nil
}

// listening reports whether one of t's listeners has the queue name.
func (t *rmqTransport) listening(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for l := range t.listeners {
		if l.name == name {
			return true
		}
	}
	return false
}

func (t *rmqTransport) removeListener(l *listener) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.listeners, l)
}

// Close closes the listeners and dialled streams (telling their peers),
// deletes the transport's queues and closes its connection.
func (t *rmqTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	t.cancel()
	t.mu.Unlock()
	// Wait for a connect or declare in progress: it sees the transport
	// closed and undoes its work, and nothing starts another one.
	t.setup <- struct{}{}
	defer func() { <-t.setup }()
	t.mu.Lock()
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	c, conn := t.client, t.conn
	t.client, t.conn = nil, nil
	t.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	if c != nil {
		c.teardown()
	}
	if conn != nil {
		_ = conn.CloseDeadline(time.Now().Add(t.set.opts.Timeout))
	}
	t.wg.Wait()
	return nil
}

// errConnLost is the error of streams whose channel or connection went.
func errConnLost(err error) error {
	if err == nil {
		return fmt.Errorf("%w: the channel to RabbitMQ closed", transport.ErrClosed)
	}
	return fmt.Errorf("%w: the connection to RabbitMQ was lost: %w", transport.ErrClosed, err)
}

// errPeerGone is the error of streams whose peer's queue is gone.
func errPeerGone(queue string) error {
	return fmt.Errorf("%w: %w: queue %q is gone", transport.ErrClosed, ErrNoListener, queue)
}

var _ transport.Transport = (*rmqTransport)(nil)
