package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	nethttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/broker"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/cache"
)

const (
	// ServicePrefix starts the registry service name under which the
	// subscribers of a topic are registered: topic "orders" is service
	// "go.micro.broker.http.orders", one node per subscriber.
	ServicePrefix = "go.micro.broker.http."
	// Path is where a broker serves deliveries; the subscriber id follows.
	Path = "/_micro/broker/"
	// MaxMessageSize bounds a delivery request body: the encoded topic and
	// header plus the message body. Larger messages are refused by Publish
	// with [ErrMessageTooLarge] and by a subscriber with 413.
	MaxMessageSize = 4 << 20
	// DefaultRegisterTTL is the TTL of a subscriber's registration.
	DefaultRegisterTTL = 30 * time.Second
	// DefaultRegisterInterval is how often a subscriber is registered again.
	DefaultRegisterInterval = 10 * time.Second
	// DeliveryTimeout bounds one delivery, the remote handler included,
	// besides the deadline of Publish's ctx.
	DeliveryTimeout = 30 * time.Second
)

// Node metadata keys of a subscriber's registration.
const (
	MetaBroker     = "broker"     // always "http"
	MetaTopic      = "topic"      // the topic subscribed to
	MetaQueue      = "queue"      // the queue group, "" for none
	MetaSubscriber = "subscriber" // the subscriber id, also the node id
	MetaSecure     = "secure"     // "true" when the broker serves TLS
)

var (
	// ErrNoRegistry is returned by New when no registry was given.
	ErrNoRegistry = errors.New("broker/http: no registry (pass broker.Registry)")
	// ErrMessageTooLarge is returned by Publish for a message above
	// MaxMessageSize once encoded.
	ErrMessageTooLarge = errors.New("broker/http: message too large")
)

// errorID is the Id of the errors a subscriber returns over the wire.
const errorID = "go.micro.broker.http"

func init() {
	broker.Register("http", New)
}

// config holds the settings of this broker alone, set through its own
// options ([RegisterTTL], [RegisterInterval], [MaxSize]).
type config struct {
	ttl      time.Duration
	interval time.Duration
	maxSize  int
}

type (
	ttlKey      struct{}
	intervalKey struct{}
	maxSizeKey  struct{}
)

// RegisterTTL sets the TTL of each subscriber's registration, after which a
// subscriber whose process died disappears from the registry. Default:
// [DefaultRegisterTTL].
func RegisterTTL(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(ttlKey{}, d) }
}

// RegisterInterval sets how often each subscriber is registered again; keep
// it well under the TTL. Default: [DefaultRegisterInterval].
func RegisterInterval(d time.Duration) broker.Option {
	return func(o *broker.Options) { o.SetValue(intervalKey{}, d) }
}

// MaxSize bounds an encoded delivery (topic, header and body) in bytes, for
// Publish and for what a subscriber accepts. Default: [MaxMessageSize].
func MaxSize(n int) broker.Option {
	return func(o *broker.Options) { o.SetValue(maxSizeKey{}, n) }
}

// New returns an unconnected http broker. It needs [broker.Registry] and
// reads [broker.Addrs] (the first is the listen address, default
// 127.0.0.1:0), [broker.TLS], [broker.Logger] and this package's own
// options.
func New(opts ...broker.Option) (broker.Broker, error) {
	o := broker.NewOptions(opts...)
	c := config{
		ttl:      DefaultRegisterTTL,
		interval: DefaultRegisterInterval,
		maxSize:  MaxMessageSize,
	}
	if d, ok := o.Value(ttlKey{}).(time.Duration); ok && d > 0 {
		c.ttl = d
	}
	if d, ok := o.Value(intervalKey{}).(time.Duration); ok && d > 0 {
		c.interval = d
	}
	if n, ok := o.Value(maxSizeKey{}).(int); ok && n > 0 {
		c.maxSize = n
	}
	if c.interval >= c.ttl {
		return nil, fmt.Errorf("broker/http: register interval %v must be shorter than the TTL %v", c.interval, c.ttl)
	}
	return newBroker(o, c)
}

func newBroker(o broker.Options, c config) (*httpBroker, error) {
	if o.Registry == nil {
		return nil, ErrNoRegistry
	}
	tr := &nethttp.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if o.TLS != nil {
		tr.TLSClientConfig = o.TLS.Clone()
	}
	return &httpBroker{
		opts:   o,
		cfg:    c,
		tr:     tr,
		client: &nethttp.Client{Transport: tr, Timeout: DeliveryTimeout},
	}, nil
}

// httpBroker is the broker; a session holds what lives between Connect and
// Disconnect.
type httpBroker struct {
	opts   broker.Options
	cfg    config
	tr     *nethttp.Transport
	client *nethttp.Client

	// cacheOpts are added to the options of each session's registry
	// cache; tests shorten its TTL.
	cacheOpts []cache.Option

	mu   sync.Mutex
	sess *session // nil while not connected
	last *session // the session most recently disconnected
}

func (b *httpBroker) String() string { return "http" }

// Address is the address the broker listens on once connected, or the
// configured one before.
func (b *httpBroker) Address() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil {
		return b.sess.ln.Addr().String()
	}
	if len(b.opts.Addrs) > 0 {
		return b.opts.Addrs[0]
	}
	return ""
}

func (b *httpBroker) Connect(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess != nil {
		return nil
	}
	addr := "127.0.0.1:0"
	if len(b.opts.Addrs) > 0 && b.opts.Addrs[0] != "" {
		addr = b.opts.Addrs[0]
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("broker/http: listen on %s: %w", addr, err)
	}
	secure := b.opts.TLS != nil
	if secure {
		if len(b.opts.TLS.Certificates) == 0 && b.opts.TLS.GetCertificate == nil {
			ln.Close()
			return errors.New("broker/http: TLS config has no certificate to serve")
		}
		ln = tls.NewListener(ln, b.opts.TLS)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &session{
		b:         b,
		id:        strings.ToLower(rand.Text()[:16]),
		ctx:       sctx,
		cancel:    cancel,
		ln:        ln,
		advertise: advertise(ln.Addr().String()),
		secure:    secure,
		cache:     cache.New(b.opts.Registry, append([]cache.Option{cache.Logger(b.opts.Logger)}, b.cacheOpts...)...),
		retry:     make(chan struct{}, 1),
		subs:      make(map[string]*subscriber),
		stopped:   make(chan struct{}),
	}
	s.srv = &nethttp.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(b.opts.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return sctx },
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			b.opts.Logger.Error("broker/http: server stopped", "addr", s.advertise, "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.heartbeat()
	}()
	b.sess = s
	return nil
}

func (b *httpBroker) Disconnect(ctx context.Context) error {
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
func (b *httpBroker) session() (*session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess == nil {
		return nil, broker.ErrNotConnected
	}
	return b.sess, nil
}

// DeliveryError reports a subscriber that did not take a published message:
// its handler failed (Err is then an *errors.Error from the subscriber) or
// it could not be reached.
type DeliveryError struct {
	Subscriber string // subscriber id
	Address    string // its broker's address
	Queue      string // its queue group, "" for a plain subscriber
	Err        error
}

func (e *DeliveryError) Error() string {
	if e.Queue != "" {
		return fmt.Sprintf("broker/http: deliver to subscriber %s (queue %s) at %s: %v", e.Subscriber, e.Queue, e.Address, e.Err)
	}
	return fmt.Sprintf("broker/http: deliver to subscriber %s at %s: %v", e.Subscriber, e.Address, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

func (b *httpBroker) Publish(ctx context.Context, topic string, m *broker.Message, opts ...broker.PublishOption) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return err
	}
	s, err := b.session()
	if err != nil {
		return err
	}
	if m == nil {
		m = &broker.Message{}
	}
	payload, err := encode(topic, m.Header, m.Body)
	if err != nil {
		return fmt.Errorf("broker/http: publish to %q: %w", topic, err)
	}
	if len(payload) > b.cfg.maxSize {
		return fmt.Errorf("%w: %d bytes encoded, limit %d", ErrMessageTooLarge, len(payload), b.cfg.maxSize)
	}
	services, err := s.cache.GetService(ctx, ServicePrefix+topic)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker/http: publish to %q: finding subscribers: %w", topic, err)
	}
	var plain []*registry.Node
	groups := make(map[string][]*registry.Node)
	for _, svc := range services {
		for _, n := range svc.Nodes {
			if n == nil || n.Metadata[MetaBroker] != "http" || n.Metadata[MetaTopic] != topic {
				continue
			}
			if q := n.Metadata[MetaQueue]; q != "" {
				groups[q] = append(groups[q], n)
			} else {
				plain = append(plain, n)
			}
		}
	}
	key := rand.Text()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, n := range plain {
		wg.Go(func() {
			err := b.deliver(ctx, n, payload, key)
			if err != nil && !errors.Is(err, errGone) {
				fail(&DeliveryError{Subscriber: n.Id, Address: n.Address, Err: err})
			}
		})
	}
	for q, members := range groups {
		wg.Go(func() {
			if err := b.deliverGroup(ctx, q, members, payload, key); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("broker/http: publish to %q: %w", topic, errors.Join(errs...))
	}
	return nil
}

// deliverGroup delivers to one member of a queue group, trying the members
// in random order, each once, while a delivery did not take: the member
// could not be dialled, had gone, or its handler refused the event (failed
// or nacked it), as another broker would redeliver a nacked message to
// another member. It stops at any other error (a message the members
// cannot take, a broken connection that may have delivered it).
func (b *httpBroker) deliverGroup(ctx context.Context, queue string, members []*registry.Node, payload []byte, key string) error {
	mrand.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	var last error
	for _, n := range members {
		err := b.deliver(ctx, n, payload, key)
		if err == nil {
			return nil
		}
		if errors.Is(err, errGone) {
			continue
		}
		last = &DeliveryError{Subscriber: n.Id, Address: n.Address, Queue: queue, Err: err}
		if !errors.Is(err, errNotDelivered) && !refused(err) || ctx.Err() != nil {
			return last
		}
	}
	return last // nil when every member had gone
}

// refused reports whether err is a subscriber's answer that its handler
// failed or nacked the event (the 500 this broker's endpoint answers then).
func refused(err error) bool {
	var e *merrors.Error
	return errors.As(err, &e) && e.Id == errorID && e.Code == nethttp.StatusInternalServerError
}

var (
	// errGone: the subscriber no longer exists; nothing was delivered.
	errGone = errors.New("broker/http: subscriber gone")
	// errNotDelivered: the request surely did not reach the subscriber.
	errNotDelivered = errors.New("broker/http: not delivered")
)

// deliver posts payload to the subscriber n.
func (b *httpBroker) deliver(ctx context.Context, n *registry.Node, payload []byte, key string) error {
	scheme := "http"
	if n.Metadata[MetaSecure] == "true" {
		scheme = "https"
	}
	u := scheme + "://" + n.Address + Path + url.PathEscape(n.Id)
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: %w", errNotDelivered, err)
	}
	req.Header.Set("Content-Type", ContentType)
	// Lets net/http resend on a stale keep-alive connection that took none
	// of the request.
	req.Header.Set("Idempotency-Key", key)
	rsp, err := b.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w: %w", errNotDelivered, err)
		}
		return err
	}
	defer rsp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(rsp.Body, 64<<10))
	switch {
	case rsp.StatusCode/100 == 2:
		return nil
	case rsp.StatusCode == nethttp.StatusNotFound:
		return errGone
	}
	return merrors.Parse(string(data))
}

func (b *httpBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	if err := broker.ValidateTopic(topic); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("broker/http: subscribe to %q: nil handler", topic)
	}
	o := broker.NewSubscribeOptions(opts...)
	s, err := b.session()
	if err != nil {
		return nil, err
	}
	sub, err := s.add(topic, o, h)
	if err != nil {
		return nil, err
	}
	sub.regMu.Lock()
	defer sub.regMu.Unlock()
	if sub.closed.Load() { // disconnected meanwhile
		return nil, broker.ErrNotConnected
	}
	if err := sub.register(ctx); err != nil {
		if ctx.Err() != nil { // the caller gave up: nothing subscribed
			sub.closed.Store(true)
			sub.cancel()
			s.remove(sub)
			return nil, fmt.Errorf("broker/http: subscribe to %q: %w", topic, err)
		}
		// The registry cannot be reached. The subscriber is kept and
		// registered by the heartbeat as soon as the registry answers, so a
		// service starts before its registry (DESIGN: keep serving, keep
		// retrying).
		sub.failing = true
		s.b.opts.Logger.Warn("broker/http: cannot register subscriber; subscribed, and retrying registration until publishers can find it",
			"topic", topic, "subscriber", sub.id, "err", err)
		s.retryNow()
	}
	return sub, nil
}

// retryNow makes the heartbeat run soon instead of after a full interval,
// for a subscriber that could not register.
func (s *session) retryNow() {
	select {
	case s.retry <- struct{}{}:
	default:
	}
}

// session is one Connect..Disconnect period: the listener and server, the
// registry cache, the subscribers and the heartbeat.
type session struct {
	b         *httpBroker
	id        string
	ctx       context.Context // handlers' root; ends on Disconnect
	cancel    context.CancelFunc
	ln        net.Listener
	srv       *nethttp.Server
	advertise string
	secure    bool
	cache     *cache.Cache
	wg        sync.WaitGroup // server and heartbeat goroutines

	retry chan struct{} // asks the heartbeat to run now; capacity 1

	mu     sync.Mutex
	subs   map[string]*subscriber
	seq    int
	closed bool

	stopOnce sync.Once
	stopped  chan struct{} // closed once the goroutines have ended
}

func (s *session) add(topic string, o broker.SubscribeOptions, h broker.Handler) (*subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, broker.ErrNotConnected
	}
	s.seq++
	ctx, cancel := context.WithCancel(s.ctx)
	sub := &subscriber{
		s:       s,
		id:      s.id + "-" + strconv.Itoa(s.seq),
		topic:   topic,
		queue:   o.Queue,
		autoAck: o.AutoAck,
		h:       h,
		ctx:     ctx,
		cancel:  cancel,
	}
	s.subs[sub.id] = sub
	return sub, nil
}

func (s *session) remove(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub.id)
	s.mu.Unlock()
}

func (s *session) lookup(id string) *subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[id]
}

// heartbeat registers every subscriber again each interval until the
// session ends. While some subscriber is not registered (the registry did
// not answer) it retries sooner, backing off from a second up to the
// interval.
func (s *session) heartbeat() {
	interval := s.b.cfg.interval
	wait, backoff := interval, time.Duration(0)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.retry:
			if backoff > 0 {
				continue // already retrying on its own schedule
			}
			t.Stop()
		}
		s.mu.Lock()
		subs := make([]*subscriber, 0, len(s.subs))
		for _, sub := range s.subs {
			subs = append(subs, sub)
		}
		s.mu.Unlock()
		failing := false
		for _, sub := range subs {
			ctx, cancel := context.WithTimeout(s.ctx, interval)
			sub.regMu.Lock()
			var err error
			if !sub.closed.Load() {
				err = sub.register(ctx)
			}
			was := sub.failing
			sub.failing = err != nil && s.ctx.Err() == nil
			sub.regMu.Unlock()
			cancel()
			switch {
			case sub.failing:
				failing = true
				if !was {
					s.b.opts.Logger.Warn("broker/http: registering subscriber again failed; will retry",
						"topic", sub.topic, "subscriber", sub.id, "err", err)
				}
			case was && err == nil:
				s.b.opts.Logger.Info("broker/http: subscriber registered", "topic", sub.topic, "subscriber", sub.id)
			}
		}
		switch {
		case !failing:
			wait, backoff = interval, 0
		case backoff == 0:
			backoff = min(time.Second, interval)
			wait = backoff
		default:
			backoff = min(2*backoff, interval)
			wait = backoff
		}
		t.Reset(wait)
	}
}

// stop ends the session: it deregisters and closes every subscriber, stops
// the heartbeat, shuts the server down gracefully within ctx and closes
// idle client connections. It may be called again to wait once more.
func (s *session) stop(ctx context.Context) error {
	var errs []error
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		subs := make([]*subscriber, 0, len(s.subs))
		for _, sub := range s.subs {
			subs = append(subs, sub)
		}
		s.subs = make(map[string]*subscriber)
		s.mu.Unlock()
		for _, sub := range subs {
			if err := sub.close(ctx); err != nil {
				s.b.opts.Logger.Warn("broker/http: deregistering subscriber failed; it expires with its TTL",
					"topic", sub.topic, "subscriber", sub.id, "err", err)
			}
		}
		s.cancel() // handlers' contexts and the heartbeat
		go func() {
			s.wg.Wait()
			close(s.stopped)
		}()
	})
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("broker/http: disconnect: shutting down server: %w", err))
	} else {
		select {
		case <-s.stopped:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("broker/http: disconnect: %w", ctx.Err()))
		}
	}
	s.cache.Close()
	s.b.tr.CloseIdleConnections()
	return errors.Join(errs...)
}

// ServeHTTP takes deliveries: POST Path+id with a body in the wire form.
func (s *session) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok || id == "" || strings.Contains(id, "/") {
		writeError(w, merrors.NotFound(errorID, "no such path %q", r.URL.Path))
		return
	}
	if r.Method != nethttp.MethodPost {
		w.Header().Set("Allow", nethttp.MethodPost)
		writeError(w, merrors.MethodNotAllowed(errorID, "method %s not allowed; use POST", r.Method))
		return
	}
	sub := s.lookup(id)
	if sub == nil {
		writeError(w, merrors.NotFound(errorID, "unknown subscriber %q", id))
		return
	}
	data, err := io.ReadAll(nethttp.MaxBytesReader(w, r.Body, int64(s.b.cfg.maxSize)))
	if err != nil {
		var tooBig *nethttp.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, merrors.RequestEntityTooLarge(errorID, "message larger than %d bytes", tooBig.Limit))
			return
		}
		writeError(w, merrors.BadRequest(errorID, "reading request: %v", err))
		return
	}
	topic, header, body, err := decode(data)
	if err != nil {
		writeError(w, merrors.BadRequest(errorID, "%v", err))
		return
	}
	if topic != sub.topic {
		writeError(w, merrors.BadRequest(errorID, "subscriber %q is subscribed to %q, not %q", id, sub.topic, topic))
		return
	}
	err = sub.handle(topic, &broker.Message{Header: header, Body: body})
	switch {
	case errors.Is(err, errGone):
		writeError(w, merrors.NotFound(errorID, "unknown subscriber %q", id))
	case err != nil:
		writeError(w, merrors.InternalServerError(errorID, "handler of subscriber %s on %q: %v", id, topic, err))
	default:
		w.WriteHeader(nethttp.StatusNoContent)
	}
}

func writeError(w nethttp.ResponseWriter, e *merrors.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(e.Code))
	_, _ = io.WriteString(w, e.Error())
}

// subscriber is one subscription of this broker.
type subscriber struct {
	s       *session
	id      string
	topic   string
	queue   string
	autoAck bool
	h       broker.Handler
	ctx     context.Context // ends on Unsubscribe or Disconnect
	cancel  context.CancelFunc

	// regMu is held while registering, so that a deregistration always
	// follows the last registration.
	regMu   sync.Mutex
	closed  atomic.Bool
	failing bool // the last registration failed; guarded by regMu
}

func (sub *subscriber) Topic() string { return sub.topic }
func (sub *subscriber) Queue() string { return sub.queue }

func (sub *subscriber) service() *registry.Service {
	s := sub.s
	return &registry.Service{
		Name: ServicePrefix + sub.topic,
		Nodes: []*registry.Node{{
			Id:      sub.id,
			Address: s.advertise,
			Metadata: map[string]string{
				MetaBroker:     "http",
				MetaTopic:      sub.topic,
				MetaQueue:      sub.queue,
				MetaSubscriber: sub.id,
				MetaSecure:     strconv.FormatBool(s.secure),
			},
		}},
	}
}

// register (re)registers the subscriber; sub.regMu must be held.
func (sub *subscriber) register(ctx context.Context) error {
	return sub.s.b.opts.Registry.Register(ctx, sub.service(), registry.RegisterTTL(sub.s.b.cfg.ttl))
}

func (sub *subscriber) Unsubscribe(ctx context.Context) error {
	sub.s.remove(sub)
	return sub.close(ctx)
}

// close stops delivery and deregisters; only the first call does anything.
func (sub *subscriber) close(ctx context.Context) error {
	sub.regMu.Lock()
	if sub.closed.Swap(true) {
		sub.regMu.Unlock()
		return nil
	}
	sub.regMu.Unlock()
	sub.cancel()
	if err := sub.s.b.opts.Registry.Deregister(ctx, sub.service()); err != nil {
		return fmt.Errorf("broker/http: unsubscribe from %q: deregistering: %w", sub.topic, err)
	}
	return nil
}

// handle runs the handler for one message and returns what the publisher
// is told: nil for an ack, an error for a nack or a failed handler.
func (sub *subscriber) handle(topic string, m *broker.Message) error {
	if sub.closed.Load() {
		return errGone
	}
	e := &event{topic: topic, msg: m}
	err := sub.call(e)
	if sub.autoAck {
		if err != nil {
			e.nack(err)
		} else {
			_ = e.Ack()
		}
	}
	return e.finish(err)
}

func (sub *subscriber) call(e *event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sub.s.b.opts.Logger.Error("broker/http: handler panicked", "topic", sub.topic, "subscriber", sub.id, "panic", r)
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return sub.h(sub.ctx, e)
}

// event is one delivery. Ack and Nack settle it while the handler runs;
// once the response is on its way they do nothing.
type event struct {
	topic string
	msg   *broker.Message

	mu       sync.Mutex
	settled  bool
	finished bool
	nackErr  error
}

func (e *event) Topic() string            { return e.topic }
func (e *event) Message() *broker.Message { return e.msg }

func (e *event) Ack() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.settled && !e.finished {
		e.settled = true
	}
	return nil
}

func (e *event) Nack() error {
	e.nack(errors.New("nacked by handler"))
	return nil
}

func (e *event) nack(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.settled && !e.finished {
		e.settled = true
		e.nackErr = err
	}
}

// finish closes the event and returns its outcome: the nack's error, else
// nil for an ack, else the handler's error.
func (e *event) finish(handlerErr error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.finished = true
	switch {
	case e.nackErr != nil:
		return e.nackErr
	case e.settled:
		return nil
	}
	return handlerErr
}

// advertise turns a listen address into one peers can dial: an unspecified
// host (":8001", "0.0.0.0:8001", "[::]:8001") becomes the first
// non-loopback IPv4 address of the machine, or 127.0.0.1 when there is
// none.
func advertise(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range ifaddrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return net.JoinHostPort(n.IP.String(), port)
			}
		}
	}
	return net.JoinHostPort("127.0.0.1", port)
}

var (
	_ broker.Broker     = (*httpBroker)(nil)
	_ broker.Subscriber = (*subscriber)(nil)
	_ broker.Event      = (*event)(nil)
)
