package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
)

var (
	// ErrInvalidQueue is returned by Subscribe for a queue group name that
	// holds white space, control characters or invalid UTF-8, or is longer
	// than 255 bytes.
	ErrInvalidQueue = errors.New("broker/rabbitmq: invalid queue group")
	// ErrInvalidHeader is returned by Publish for a header name longer than
	// the 255 bytes AMQP allows.
	ErrInvalidHeader = errors.New("broker/rabbitmq: invalid header")
	// ErrUnavailable is returned by Publish and Subscribe when their ctx
	// ends while the server cannot be reached; the error also wraps the
	// ctx's error and names the last connection error.
	ErrUnavailable = errors.New("broker/rabbitmq: server unavailable")
	// ErrNacked is returned by Publish with [PublisherConfirms] when the
	// server refuses the message (basic.nack).
	ErrNacked = errors.New("broker/rabbitmq: message nacked by the server")
	// ErrUnroutable is returned by Publish with [Mandatory] when no queue
	// took the message (basic.return).
	ErrUnroutable = errors.New("broker/rabbitmq: message unroutable")
)

const (
	// dialTimeout bounds one TCP dial plus the TLS and AMQP handshakes.
	dialTimeout = 30 * time.Second
	// closeTimeout bounds the close handshake when the broker disconnects.
	closeTimeout = 5 * time.Second
	// stableLink is how long a connection must have lived for the
	// reconnection backoff to start over when it is lost; after a shorter
	// one it goes on growing, so a server that takes connections and drops
	// them at once is not hammered.
	stableLink = 5 * time.Second
)

func init() {
	broker.Register("rabbitmq", New)
}

// New returns an unconnected RabbitMQ broker. It reads [broker.Addrs] (AMQP
// URLs or host:port, tried in turn; default [DefaultAddr]), [broker.TLS]
// (amqps), [broker.Logger] and this package's own options, and fails on an
// address or option it cannot use. Nothing is dialled before Connect.
func New(opts ...broker.Option) (broker.Broker, error) {
	o := broker.NewOptions(opts...)
	c, err := newSettings(o)
	if err != nil {
		return nil, err
	}
	return &rabbitBroker{opts: o, cfg: c}, nil
}

// rabbitBroker is the broker; a session holds what lives between Connect
// and Disconnect.
type rabbitBroker struct {
	opts broker.Options
	cfg  settings

	// lifecycle serialises Connect and Disconnect; mu, which the other
	// calls take, is never held while dialling.
	lifecycle sync.Mutex

	mu   sync.Mutex
	sess *session // nil while not connected
	last *session // the session most recently disconnected

	// declared records the durable queues the broker declared, for tests
	// to delete.
	declMu   sync.Mutex
	declared map[string]struct{}

	// onRedial, when set (by tests), is called as reconnecting starts,
	// with the attempt its backoff starts from.
	onRedial func(attempt int)
}

func (b *rabbitBroker) String() string { return "rabbitmq" }

// Address is the URL (without password) of the server the broker is
// connected to, or of the first configured one while it is not.
func (b *rabbitBroker) Address() string {
	b.mu.Lock()
	s := b.sess
	b.mu.Unlock()
	if s != nil {
		if a := s.address(); a != "" {
			return a
		}
	}
	return redact(b.cfg.urls[0])
}

func (b *rabbitBroker) Connect(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	b.mu.Lock()
	connected := b.sess != nil
	b.mu.Unlock()
	if connected {
		return nil
	}
	conn, idx, err := b.dialAny(ctx, 0)
	if err != nil {
		return fmt.Errorf("broker/rabbitmq: connect: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &session{
		b:       b,
		ctx:     sctx,
		cancel:  cancel,
		ready:   make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
		stopped: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.run(conn, idx)
	b.mu.Lock()
	b.sess = s
	b.mu.Unlock()
	return nil
}

func (b *rabbitBroker) Disconnect(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	b.mu.Lock()
	s := b.sess
	if s != nil {
		b.sess, b.last = nil, s
	} else {
		s = b.last
	}
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.stop(ctx)
}

// session returns the live session or ErrNotConnected.
func (b *rabbitBroker) session() (*session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess == nil {
		return nil, broker.ErrNotConnected
	}
	return b.sess, nil
}

func (b *rabbitBroker) recordDeclared(queue string) {
	b.declMu.Lock()
	defer b.declMu.Unlock()
	if b.declared == nil {
		b.declared = make(map[string]struct{})
	}
	b.declared[queue] = struct{}{}
}

// dialAny dials the configured URLs in turn, starting at start, and returns
// the first connection made with the exchange declared, and its index.
func (b *rabbitBroker) dialAny(ctx context.Context, start int) (*amqp.Connection, int, error) {
	var errs []error
	n := len(b.cfg.urls)
	for i := range n {
		idx := (start + i) % n
		conn, err := b.dial(ctx, b.cfg.urls[idx])
		if err == nil {
			return conn, idx, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", redact(b.cfg.urls[idx]), err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, errors.Join(errs...)
}

// dial opens one connection within ctx and declares the exchange on it.
func (b *rabbitBroker) dial(ctx context.Context, u string) (*amqp.Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	props := amqp.NewConnectionProperties()
	if b.cfg.connName != "" {
		props.SetClientConnectionName(b.cfg.connName)
	}
	cfg := amqp.Config{Properties: props}
	if b.opts.TLS != nil {
		cfg.TLSClientConfig = b.opts.TLS.Clone()
	}
	// The handshakes ignore ctx; a deadline on the socket stands in for it.
	var (
		mu sync.Mutex
		nc net.Conn
	)
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(dialTimeout)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		if err := c.SetDeadline(deadline); err != nil {
			_ = c.Close()
			return nil, err
		}
		mu.Lock()
		nc = c
		mu.Unlock()
		return c, nil
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if nc != nil {
			_ = nc.SetDeadline(time.Unix(1, 0))
		}
	})
	conn, err := amqp.DialConfig(u, cfg)
	if !stop() {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if err := b.setup(ctx, conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// setup declares the exchange on a fresh connection and checks for the
// dead-letter exchange.
func (b *rabbitBroker) setup(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = ch.Close() })
	defer stop()
	if err := declareExchange(ch, b.cfg.exchange); err != nil {
		return fmt.Errorf("declaring exchange %q: %w", b.cfg.exchange, err)
	}
	_ = ch.Close()
	if b.cfg.deadLetter != "" {
		// A passive declare of a missing exchange closes its channel, so it
		// gets one of its own.
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { _ = ch.Close() })
		defer stop()
		if err := ch.ExchangeDeclarePassive(b.cfg.deadLetter, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			b.opts.Logger.Warn("broker/rabbitmq: dead-letter exchange not found; rejected messages will be dropped",
				"exchange", b.cfg.deadLetter, "err", err)
		}
		_ = ch.Close()
	}
	return ctx.Err()
}

// declareExchange declares the broker's durable topic exchange; the
// server's own ("amq.*") are only checked for.
func declareExchange(ch *amqp.Channel, name string) error {
	if len(name) >= 4 && name[:4] == "amq." {
		return ch.ExchangeDeclarePassive(name, amqp.ExchangeTopic, true, false, false, false, nil)
	}
	return ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil)
}

// backoff is the wait before reconnect attempt n (0-based).
func (b *rabbitBroker) backoff(n int) time.Duration {
	d := b.cfg.backoffMin
	for range min(n, 30) {
		d *= 2
		if d >= b.cfg.backoffMax {
			d = b.cfg.backoffMax
			break
		}
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
	return min(d, b.cfg.backoffMax)
}

// session is one Connect..Disconnect period: the connection (replaced
// after each loss by the goroutine run), the subscribers and their loops.
type session struct {
	b      *rabbitBroker
	ctx    context.Context // ends on Disconnect
	cancel context.CancelFunc
	wg     sync.WaitGroup // run, and the server handshakes of ending subscriptions (see subscriber.bounded)
	subWG  sync.WaitGroup // subscriber loops

	mu      sync.Mutex
	link    *link         // the live connection; nil during an outage
	ready   chan struct{} // closed once link is set
	lastErr error         // why the last connection ended or failed
	subs    map[*subscriber]struct{}
	closed  bool

	stopOnce sync.Once
	stopped  chan struct{} // closed once every goroutine has ended
}

// link is one live connection.
type link struct {
	s    *session
	conn *amqp.Connection
	addr string        // redacted URL
	dead chan struct{} // closed once the connection is gone

	pubMu sync.Mutex
	pub   *publisher // opened on first use

	flowMu    sync.Mutex
	unblocked chan struct{} // closed while the server does not block publishers
}

func (s *session) address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.link != nil {
		return s.link.addr
	}
	return ""
}

// run owns the connection: it watches it, and when it is lost dials again
// with backoff until it succeeds or the session ends, then installs the
// new one (subscribers resubscribe by themselves once it is there).
func (s *session) run(conn *amqp.Connection, idx int) {
	defer s.wg.Done()
	log := s.b.opts.Logger
	// attempt counts the attempts to connect since the last connection
	// that lived stableLink; the backoff grows with it.
	attempt := 0
	for {
		up := time.Now()
		closes := conn.NotifyClose(make(chan *amqp.Error, 1))
		blocks := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
		l := &link{
			s:         s,
			conn:      conn,
			addr:      redact(s.b.cfg.urls[idx]),
			dead:      make(chan struct{}),
			unblocked: make(chan struct{}),
		}
		close(l.unblocked)
		s.install(l)
		var lost error
	watch:
		for {
			select {
			case <-s.ctx.Done():
				s.uninstall(l, nil)
				_ = conn.CloseDeadline(time.Now().Add(closeTimeout))
				return
			case bl, ok := <-blocks:
				if !ok {
					blocks = nil
					continue
				}
				l.setBlocked(bl)
				if bl.Active {
					log.Warn("broker/rabbitmq: server blocks publishing", "addr", l.addr, "reason", bl.Reason)
				} else {
					log.Info("broker/rabbitmq: server unblocked publishing", "addr", l.addr)
				}
			case e, ok := <-closes:
				if ok && e != nil {
					lost = e
				} else {
					lost = amqp.ErrClosed
				}
				break watch
			}
		}
		s.uninstall(l, lost)
		down := time.Now()
		lived := down.Sub(up)
		if lived >= stableLink {
			attempt = 0
		}
		log.Warn("broker/rabbitmq: connection lost; reconnecting", "addr", l.addr, "err", lost,
			"lived", lived.Round(time.Millisecond))
		if s.b.onRedial != nil {
			s.b.onRedial(attempt)
		}
		first := attempt
		conn, idx, attempt = s.redial(idx, attempt)
		if conn == nil {
			return
		}
		log.Info("broker/rabbitmq: reconnected", "addr", redact(s.b.cfg.urls[idx]),
			"attempts", attempt-first, "down", time.Since(down).Round(time.Millisecond))
	}
}

// redial dials with backoff, from attempt first on, until a connection is
// made (returning it, the index of its URL and the number of the next
// attempt) or the session ends (nil).
func (s *session) redial(idx, first int) (*amqp.Connection, int, int) {
	for n := first; ; n++ {
		t := time.NewTimer(s.b.backoff(n))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return nil, 0, n
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
		conn, i, err := s.b.dialAny(ctx, idx)
		cancel()
		if err == nil {
			return conn, i, n + 1
		}
		if s.ctx.Err() != nil {
			return nil, 0, n + 1
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		s.b.opts.Logger.Warn("broker/rabbitmq: reconnecting failed; will retry",
			"attempt", n+1, "err", err)
	}
}

func (s *session) install(l *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.link = l
	s.lastErr = nil
	close(s.ready)
}

func (s *session) uninstall(l *link, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.link == l {
		s.link = nil
		s.ready = make(chan struct{})
	}
	s.lastErr = err
	close(l.dead)
}

// current waits, within ctx, for a live connection. It returns
// ErrNotConnected once the session has ended, and an error wrapping
// ErrUnavailable and ctx's error when ctx ends first.
func (s *session) current(ctx context.Context) (*link, error) {
	for {
		s.mu.Lock()
		if s.closed || s.ctx.Err() != nil {
			s.mu.Unlock()
			return nil, broker.ErrNotConnected
		}
		l, ready, last := s.link, s.ready, s.lastErr
		s.mu.Unlock()
		if l != nil {
			return l, nil
		}
		select {
		case <-ready:
		case <-s.ctx.Done():
		case <-ctx.Done():
			if last == nil {
				last = errors.New("none yet")
			}
			return nil, fmt.Errorf("%w: %w (last connection error: %v)", ErrUnavailable, ctx.Err(), last)
		}
	}
}

// gone waits until l is dead or ctx ends.
func (l *link) gone(ctx context.Context) {
	select {
	case <-l.dead:
	case <-ctx.Done():
	}
}

func (l *link) setBlocked(bl amqp.Blocking) {
	l.flowMu.Lock()
	defer l.flowMu.Unlock()
	select {
	case <-l.unblocked:
		if bl.Active {
			l.unblocked = make(chan struct{})
		}
	default:
		if !bl.Active {
			close(l.unblocked)
		}
	}
}

// waitUnblocked waits, within ctx, while the server blocks publishers.
func (l *link) waitUnblocked(ctx context.Context) error {
	l.flowMu.Lock()
	ch := l.unblocked
	l.flowMu.Unlock()
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-l.dead:
		return errLost
	case <-ctx.Done():
		return fmt.Errorf("%w: server blocks publishing: %w", ErrUnavailable, ctx.Err())
	}
}

// stop ends the session: subscribers stop taking messages and their running
// handlers finish, then the connection is closed. When ctx ends first the
// connection is closed at once and the error says so; calling stop again
// waits once more.
func (s *session) stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		subs := make([]*subscriber, 0, len(s.subs))
		for sub := range s.subs {
			subs = append(subs, sub)
		}
		clear(s.subs)
		s.mu.Unlock()
		for _, sub := range subs {
			sub.cancel()
		}
		go func() {
			s.subWG.Wait()
			s.cancel()
			s.wg.Wait()
			close(s.stopped)
		}()
	})
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		s.cancel()
		return fmt.Errorf("broker/rabbitmq: disconnect: waiting for handlers: %w", ctx.Err())
	}
}

var _ broker.Broker = (*rabbitBroker)(nil)
