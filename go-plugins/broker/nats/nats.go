package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openmicro/go-micro/broker"
)

var (
	// ErrInvalidQueue is returned by Subscribe for a queue group holding
	// white space or control characters.
	ErrInvalidQueue = errors.New("broker/nats: invalid queue group")
	// ErrInvalidHeader is returned by Publish for a header key NATS cannot
	// carry: empty, or holding a character outside printable ASCII or one
	// of "()/,:;<=>?@[\]{} and the double quote.
	ErrInvalidHeader = errors.New("broker/nats: invalid header key")
	// ErrNotInStream is returned in JetStream mode by Subscribe, and by
	// Publish where the server tells, for a topic that no subject of the
	// stream covers.
	ErrNotInStream = errors.New("broker/nats: topic outside the JetStream stream's subjects")
	// ErrNilHandler is returned by Subscribe for a nil handler.
	ErrNilHandler = errors.New("broker/nats: nil handler")
)

// flushTimeout bounds the round trip that makes a subscription take
// effect on the server when the caller's ctx has no deadline.
const flushTimeout = 10 * time.Second

func init() {
	broker.Register("nats", New)
}

// New returns an unconnected NATS broker. It reads [broker.Addrs] (NATS
// URLs such as nats://host:4222 or tls://host:4222, or host:port; default
// [DefaultAddr]; several are one cluster), [broker.TLS], [broker.Logger]
// and this package's options.
func New(opts ...broker.Option) (broker.Broker, error) {
	return newBroker(opts...)
}

func newBroker(opts ...broker.Option) (*natsBroker, error) {
	o := broker.NewOptions(opts...)
	c := newConfig(&o)
	var addrs []string
	for _, a := range o.Addrs {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		addrs = []string{DefaultAddr}
	}
	if _, set := o.Values[jetStreamKey{}]; set {
		if c.stream == "" || strings.ContainsAny(c.stream, ".*>/\\ \t\r\n") {
			return nil, fmt.Errorf("broker/nats: invalid JetStream stream name %q", c.stream)
		}
	}
	if c.durable != "" && c.stream == "" {
		return nil, errors.New("broker/nats: Durable needs JetStream mode")
	}
	return &natsBroker{opts: o, cfg: c, addrs: addrs}, nil
}

// natsBroker is the broker; a session holds what lives between Connect
// and Disconnect.
type natsBroker struct {
	opts  broker.Options
	cfg   config
	addrs []string

	sess atomic.Pointer[session] // nil while not connected

	mu   sync.Mutex // serialises Connect and Disconnect
	last *session   // the session most recently disconnected
}

func (b *natsBroker) String() string { return "nats" }

// Address is the URL of the server the broker is connected to, or the
// configured addresses while it is not (passwords redacted).
func (b *natsBroker) Address() string {
	if s := b.sess.Load(); s != nil {
		if u := s.nc.ConnectedUrlRedacted(); u != "" {
			return u
		}
	}
	return redactAll(b.addrs)
}

func (b *natsBroker) Connect(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess.Load() != nil {
		return nil
	}
	s, err := b.dial(ctx)
	if err != nil {
		return err
	}
	b.sess.Store(s)
	return nil
}

func (b *natsBroker) Disconnect(ctx context.Context) error {
	b.mu.Lock()
	s := b.sess.Swap(nil)
	if s != nil {
		b.last = s
	} else {
		s = b.last
	}
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.stop(ctx)
}

func (b *natsBroker) Publish(ctx context.Context, topic string, m *broker.Message, _ ...broker.PublishOption) error {
	if err := validatePublish(topic); err != nil {
		return err
	}
	s := b.sess.Load()
	if s == nil {
		return broker.ErrNotConnected
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var (
		header map[string]string
		body   []byte
	)
	if m != nil {
		header, body = m.Header, m.Body
	}
	subject := topic
	if b.cfg.prefix != "" {
		subject = b.cfg.prefix + topic
	}
	var err error
	switch {
	case s.js != nil:
		o := getOutMsg(subject, header, body)
		_, err = s.js.PublishMsg(ctx, &o.msg)
		putOutMsg(o)
	case len(header) == 0:
		err = s.nc.Publish(subject, body)
	default:
		o := getOutMsg(subject, header, body)
		err = s.nc.PublishMsg(&o.msg)
		putOutMsg(o)
	}
	if err != nil {
		return publishError(topic, header, err)
	}
	return nil
}

// publishError explains why Publish failed; it is off the fast path.
func publishError(topic string, header map[string]string, err error) error {
	switch {
	case errors.Is(err, natsgo.ErrBadHeaderMsg):
		for k := range header {
			if !validHeaderKey(k) {
				return fmt.Errorf("%w %q (publish to %q)", ErrInvalidHeader, k, topic)
			}
		}
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("%w: publish to %q: %w", ErrNotInStream, topic, err)
	case errors.Is(err, natsgo.ErrConnectionClosed), errors.Is(err, natsgo.ErrConnectionDraining):
		return fmt.Errorf("broker/nats: publish to %q: %w (%w)", topic, broker.ErrNotConnected, err)
	}
	return fmt.Errorf("broker/nats: publish to %q: %w", topic, err)
}

// validHeaderKey reports whether nats.go accepts k as a header key.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 33 || c > 126 || strings.IndexByte(`"()/,:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func (b *natsBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	if err := validateSubscribe(topic); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, ErrNilHandler
	}
	so := broker.NewSubscribeOptions(opts...)
	if err := validateQueue(so.Queue); err != nil {
		return nil, err
	}
	s := b.sess.Load()
	if s == nil {
		return nil, broker.ErrNotConnected
	}
	return s.subscribe(ctx, topic, h, so)
}

// session is one connection, from Connect to Disconnect.
type session struct {
	b   *natsBroker
	log *slog.Logger
	nc  *natsgo.Conn
	js  jetstream.JetStream // nil in core NATS mode
	// streamSubjects are the subjects of the JetStream stream as last read.
	streamSubjects atomic.Pointer[[]string]
	ctx            context.Context // root of the handlers' contexts
	cancel         context.CancelFunc
	closed         chan struct{} // closed once the connection is closed, after stop

	calls calls

	mu   sync.Mutex
	subs map[*subscriber]struct{} // nil once stopping

	stopOnce  sync.Once
	drainOnce sync.Once
	// ephemeral holds, from stop to the drain, the subscribers whose
	// consumers are deleted once their handlers returned.
	ephemeral map[*subscriber]struct{}
}

// dial connects to the servers and, in JetStream mode, makes sure the
// stream exists.
func (b *natsBroker) dial(ctx context.Context) (*session, error) {
	log := b.opts.Logger
	c := b.cfg
	sctx, cancel := context.WithCancel(context.Background())
	d := &dialer{timeout: c.dialTimeout, ctx: ctx, connecting: true}
	s := &session{
		b:      b,
		log:    log,
		ctx:    sctx,
		cancel: cancel,
		closed: make(chan struct{}),
		subs:   make(map[*subscriber]struct{}),
	}
	s.calls.idle = make(chan struct{})
	nopts := []natsgo.Option{
		natsgo.MaxReconnects(-1),
		natsgo.CustomReconnectDelay(c.reconnectDelay),
		natsgo.ReconnectBufSize(c.reconnectBuf),
		natsgo.Timeout(c.dialTimeout),
		natsgo.SetCustomDialer(d),
		natsgo.SkipHostLookup(),
		natsgo.DisconnectErrHandler(func(nc *natsgo.Conn, err error) {
			if err != nil {
				log.Warn("broker/nats: connection lost; reconnecting", "server", redact(d.lastAddr()), "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			log.Info("broker/nats: reconnected", "server", nc.ConnectedUrlRedacted(), "reconnects", nc.Stats().Reconnects)
		}),
		natsgo.ReconnectErrHandler(func(nc *natsgo.Conn, err error) {
			log.Debug("broker/nats: reconnect attempt failed", "err", err)
		}),
		natsgo.ErrorHandler(func(nc *natsgo.Conn, sub *natsgo.Subscription, err error) {
			var subject string
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("broker/nats: asynchronous error", "subject", subject, "err", err)
		}),
		natsgo.LameDuckModeHandler(func(nc *natsgo.Conn) {
			log.Info("broker/nats: server entering lame duck mode; will reconnect elsewhere", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if b.opts.TLS != nil {
		nopts = append(nopts, natsgo.Secure(b.opts.TLS.Clone()))
	}
	nopts = append(nopts, c.natsOpts...)
	nc, err := natsgo.Connect(strings.Join(b.addrs, ","), nopts...)
	d.connected(sctx)
	if err != nil {
		cancel()
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, fmt.Errorf("broker/nats: connect to %s: %w", redactAll(b.addrs), err)
	}
	s.nc = nc
	if c.stream != "" {
		js, err := jetstream.New(nc)
		var subjects []string
		if err == nil {
			subjects, err = ensureStream(ctx, js, c.stream, c.subjects)
		}
		if err != nil {
			nc.Close()
			cancel()
			return nil, fmt.Errorf("broker/nats: JetStream stream %q at %s: %w", c.stream, redactAll(b.addrs), err)
		}
		s.js = js
		s.streamSubjects.Store(&subjects)
	}
	return s, nil
}

// ensureStream creates the stream with subjects or adds the subjects
// missing from an existing one. It returns the stream's subjects.
func ensureStream(ctx context.Context, js jetstream.JetStream, name string, subjects []string) ([]string, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if len(subjects) == 0 {
			return nil, errors.New("stream does not exist, and no subjects were given to create it")
		}
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     name,
			Subjects: subjects,
			Storage:  jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, name, subjects) // created meanwhile
		}
		return subjects, err
	}
	if err != nil {
		return nil, err
	}
	cfg := st.CachedInfo().Config
	missing := false
	for _, sub := range subjects {
		if !slices.Contains(cfg.Subjects, sub) {
			cfg.Subjects = append(cfg.Subjects, sub)
			missing = true
		}
	}
	if missing {
		_, err = js.UpdateStream(ctx, cfg)
	}
	return cfg.Subjects, err
}

// inStream reports whether the stream's subjects cover subject, reading
// them again from the server when the copy at hand does not.
func (s *session) inStream(ctx context.Context, subject string) (bool, error) {
	if subsetOfAny(subject, *s.streamSubjects.Load()) {
		return true, nil
	}
	st, err := s.js.Stream(ctx, s.b.cfg.stream)
	if err != nil {
		return false, err
	}
	subjects := st.CachedInfo().Config.Subjects
	s.streamSubjects.Store(&subjects)
	return subsetOfAny(subject, subjects), nil
}

// reconnectDelay is the wait before the attempts-th round of reconnect
// attempts: exponential from backoffMin to backoffMax, jittered.
func (c config) reconnectDelay(attempts int) time.Duration {
	d := c.backoffMin
	for i := 1; i < attempts && d < c.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// stop ends the session: no new handler calls start, the handlers'
// contexts end and JetStream consumers stop pulling. It waits within ctx
// for the running handlers, over a connection still up so that their acks
// and nacks reach the server, and only then drains the connection (it
// unsubscribes and sends what was published) and closes it, waiting for
// that within ctx too. When ctx ends first it closes the connection at
// once.
func (s *session) stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		subs := s.subs
		s.subs = nil
		s.mu.Unlock()
		s.calls.stop()
		s.cancel()
		for sb := range subs {
			sb.close()
		}
		for sb := range subs {
			sb.stopWatch() // ends at once: s.ctx ended
		}
		s.ephemeral = subs
	})
	if !waitDone(ctx, s.calls.idle) {
		s.nc.Close()
		return fmt.Errorf("broker/nats: disconnect: handlers still running: %w", ctx.Err())
	}
	s.drainOnce.Do(func() {
		// The consumers of their own go once their handlers are done
		// with their messages.
		for sb := range s.ephemeral {
			if err := sb.deleteEphemeral(ctx); err != nil {
				s.log.Warn("broker/nats: disconnect: leaving the JetStream consumer to expire", "err", err)
			}
		}
		s.ephemeral = nil
		st := s.nc.StatusChanged(natsgo.CLOSED)
		go func() {
			defer close(s.closed)
			if !s.nc.IsClosed() {
				<-st
			}
		}()
		if err := s.nc.Drain(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
			n, _ := s.nc.Buffered()
			s.log.Warn("broker/nats: disconnecting while not connected; buffered publishes are dropped",
				"err", err, "buffered_bytes", n)
			s.nc.Close()
		}
	})
	if !waitDone(ctx, s.closed) {
		s.nc.Close()
		<-s.closed
		return fmt.Errorf("broker/nats: disconnect: draining the connection: %w", ctx.Err())
	}
	return nil
}

// waitDone waits for ch to close and reports whether it did before ctx
// ended; a ch already closed wins over an ended ctx.
func waitDone(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// flush waits until the server has processed what was sent, so that a
// subscription or unsubscription has taken effect. While the connection
// is down there is nothing to wait for: the client subscribes again when
// it is back.
func (s *session) flush(ctx context.Context) error {
	if !s.nc.IsConnected() {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	err := s.nc.FlushWithContext(ctx)
	if err != nil && ctx.Err() == nil && !s.nc.IsConnected() {
		return nil
	}
	return err
}

// calls counts running handler calls; once stopped it refuses new ones
// and closes idle when the last one leaves.
type calls struct {
	mu       sync.Mutex
	n        int
	stopping bool
	idle     chan struct{}
}

func (c *calls) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.n++
	return true
}

func (c *calls) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 && c.stopping {
		close(c.idle)
	}
}

func (c *calls) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopping {
		c.stopping = true
		if c.n == 0 {
			close(c.idle)
		}
	}
}

// dialer dials servers for nats.go. While Connect runs it dials within
// Connect's ctx and closes what it dialled when that ctx ends, so that no
// handshake outlives it; afterwards (reconnects) it dials within the
// session's ctx, which ends at Disconnect.
type dialer struct {
	timeout time.Duration

	mu         sync.Mutex
	ctx        context.Context
	connecting bool
	stops      []func() bool
	addr       string // last address dialled
}

func (d *dialer) Dial(network, address string) (net.Conn, error) {
	d.mu.Lock()
	ctx := d.ctx
	d.addr = address
	d.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var nd net.Dialer
	c, err := nd.DialContext(dctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.connecting {
		d.stops = append(d.stops, context.AfterFunc(ctx, func() { c.Close() }))
	}
	d.mu.Unlock()
	return c, nil
}

// connected ends Connect's hold over the dialer; later dials use ctx.
func (d *dialer) connected(ctx context.Context) {
	d.mu.Lock()
	d.connecting = false
	d.ctx = ctx
	stops := d.stops
	d.stops = nil
	d.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

func (d *dialer) lastAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// redact hides the password or token in a server address.
func redact(addr string) string {
	if !strings.Contains(addr, "@") {
		return addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.User == nil {
		return "(unparsable address)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

func redactAll(addrs []string) string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = redact(a)
	}
	return strings.Join(out, ",")
}

var _ broker.Broker = (*natsBroker)(nil)
