package sidecar

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"

	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/micro/internal/api"
)

// errorID is the id of the errors the sidecar itself answers with.
const errorID = "go.micro.sidecar"

var (
	// ErrMissing is wrapped by New's error when a required option is not
	// given.
	ErrMissing = errors.New("sidecar: missing option")
	// ErrInvalidOption is wrapped by New's error for an option with a bad
	// value.
	ErrInvalidOption = errors.New("sidecar: invalid option")
	// ErrStarted is returned by Start on a Server that was started.
	ErrStarted = errors.New("sidecar: already started")
	// ErrStopped is returned by Start on a Server that was stopped.
	ErrStopped = errors.New("sidecar: stopped")

	errStopping       = errors.New("the sidecar is stopping")
	errTooManySockets = errors.New("too many sockets are open")
)

// Server is the sidecar: an http.Handler serving the endpoints listed in
// the package doc, and, once started, a listener and the loops that keep
// the app registered.
type Server struct {
	opts     options
	handler  http.Handler
	app      *registry.Service // nil without App
	health   *http.Client      // nil without HealthCheck
	upgrader websocket.Upgrader
	// origins are the CORS origins, normalised; anyOrigin is set by "*".
	origins   []string
	anyOrigin bool
	// token marks the health checks of this sidecar, so that one that
	// reaches the sidecar itself is told apart from the app's answer.
	token string

	// ctx is the root of the sockets' publishes; cancel ends it in Stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	state     int // 0 new, 1 started, 2 stopped
	listener  net.Listener
	srv       *http.Server
	serveDone chan struct{}
	loopStop  context.CancelFunc
	loopDone  chan struct{}
	closing   bool                 // no new sockets once set
	sockets   map[*socket]struct{} // open sockets
	socketsWG sync.WaitGroup

	slowConsumers atomic.Int64 // sockets closed as slow consumers
}

// New returns a Server, not started. It fails, with an error wrapping
// [ErrMissing] or [ErrInvalidOption], when no registry is given or an
// option has a bad value.
func New(opts ...Option) (*Server, error) {
	o := newOptions(opts...)
	if err := o.check(); err != nil {
		return nil, err
	}
	s := &Server{opts: o, sockets: make(map[*socket]struct{}), token: rand.Text()}
	for _, origin := range o.origins {
		switch origin = api.NormalizeOrigin(origin); origin {
		case "":
		case "*":
			s.anyOrigin = true
		default:
			s.origins = append(s.origins, origin)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.upgrader = websocket.Upgrader{
		// The origin was checked before subscribing: sameOrigin.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeError(w, r, merrors.New(errorID, "sidecar: /broker: "+reason.Error(), int32(status)))
		},
	}
	if o.appName != "" {
		s.app = s.appService()
	}
	if o.healthURL != "" {
		// The app is beside the sidecar: no proxy. A redirect is an answer
		// that is not 2xx, not a hint to look elsewhere.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		s.health = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

	r := mux.NewRouter()
	r.NotFoundHandler = s.callHandler()
	r.Path("/registry").HandlerFunc(s.handleRegistry)
	r.Path("/broker").HandlerFunc(s.handleBroker)
	r.Path("/rpc").Handler(s.rpcHandler())
	r.PathPrefix("/").Handler(s.callHandler())
	s.handler = s.cors(s.sameOrigin(r))
	return s, nil
}

// check validates the options.
func (o *options) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, a...)...)
	}
	switch {
	case o.registry == nil:
		return fmt.Errorf("%w: a registry (sidecar.Registry)", ErrMissing)
	case o.address == "":
		return bad("empty address")
	case o.maxBody <= 0:
		return bad("max body size %d: want more than 0", o.maxBody)
	case o.socketBuffer <= 0:
		return bad("socket buffer %d: want more than 0", o.socketBuffer)
	case o.socketBufferBytes <= 0:
		return bad("socket buffer of %d bytes: want more than 0", o.socketBufferBytes)
	case o.maxSockets <= 0:
		return bad("max sockets %d: want more than 0", o.maxSockets)
	case o.keepAlive <= 0:
		return bad("keep-alive %v: want more than 0", o.keepAlive)
	case o.requestTimeout < 0:
		return bad("request timeout %v: want 0 or more", o.requestTimeout)
	}
	for _, origin := range o.origins {
		if origin = api.NormalizeOrigin(origin); origin == "" {
			continue
		}
		if err := api.CheckOrigin(origin); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	if o.appName == "" {
		if o.appAddress != "" {
			return bad("app at %q without a name", o.appAddress)
		}
		if o.healthURL != "" {
			return bad("a health check (%s) needs an app to register (sidecar.App)", o.healthURL)
		}
		return nil
	}
	if _, port, err := net.SplitHostPort(o.appAddress); err != nil || port == "" {
		return bad("app address %q: want host:port", o.appAddress)
	}
	switch {
	case o.ttl < 0:
		return bad("register TTL %v: want 0 (no expiry) or more", o.ttl)
	case o.interval <= 0:
		return bad("register interval %v: want more than 0", o.interval)
	case o.ttl > 0 && o.interval >= o.ttl:
		return bad("register interval %v is not below the register TTL %v: the registration would lapse", o.interval, o.ttl)
	}
	if o.healthURL != "" {
		u, err := url.Parse(o.healthURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("health check URL %q: want an http or https URL", o.healthURL)
		}
		if o.healthEvery <= 0 {
			o.healthEvery = DefaultHealthCheckInterval
		}
		if o.healthFails <= 0 {
			o.healthFails = DefaultHealthThreshold
		}
	}
	return nil
}

// healthHeader carries the token of the sidecar's health checks.
const healthHeader = "Micro-Sidecar-Check"

// ServeHTTP serves the sidecar's endpoints. It may be used without Start,
// mounted in another server; Stop still closes its sockets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(healthHeader) == s.token {
		// The health URL leads back here: answering would report the
		// sidecar's health as the app's.
		w.Header().Set(healthHeader, s.token)
		writeError(w, r, merrors.New(errorID, "sidecar: the health check URL points at the sidecar itself, not at the app", http.StatusLoopDetected))
		return
	}
	s.handler.ServeHTTP(w, r)
}

// sameOrigin refuses the requests of browser pages that may not use the
// sidecar (see [Server.browserRefused]), whatever the method: CORS only
// hides the answers from such pages, and the request (a form's POST, an
// image's GET) would still register, deregister or call.
func (s *Server) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := s.browserRefused(r); why != "" {
			writeError(w, r, merrors.Forbidden(errorID, "sidecar: %s", why))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// browserRefused says why r, from a browser page, is not allowed, or ""
// when it is. A browser is known by the Origin header it sends (on all
// but same-origin GET and HEAD requests) and by Sec-Fetch-Site; clients
// that are not browsers send neither and are allowed. Allowed are the
// CORS origins; a page on the sidecar's own origin; and what the user
// typed into the address bar. The sidecar serves no pages, so its own
// origin counts only when its host is an IP address or localhost: a page
// on another name whose address is the sidecar's (DNS rebinding) is
// refused.
func (s *Server) browserRefused(r *http.Request) string {
	origin := r.Header.Get("Origin")
	site := r.Header.Get("Sec-Fetch-Site")
	switch {
	case s.anyOrigin || (origin != "" && slices.Contains(s.origins, api.NormalizeOrigin(origin))):
		return ""
	case origin != "" && !sameHost(origin, r.Host):
		return fmt.Sprintf("origin %q is not allowed: list it in the CORS origins to let its pages call the sidecar", origin)
	case site == "cross-site" || site == "same-site":
		return fmt.Sprintf("a %s browser request is not allowed", site)
	case site == "same-origin" && !addressHost(r.Host):
		return fmt.Sprintf("a browser page on %q is not allowed: list its origin in the CORS origins", r.Host)
	}
	return ""
}

// sameHost reports whether origin, an http or https origin, names host.
func sameHost(origin, host string) bool {
	u, err := url.Parse(api.NormalizeOrigin(origin))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && strings.EqualFold(u.Host, host)
}

// addressHost reports whether host (host or host:port) is an IP address
// or localhost, which no web page of another site can be served from.
func addressHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

// Start connects the broker, listens on the address, serves and, with
// [App], registers the app (at once, or after a first good health check)
// and starts the loop that keeps it registered. It returns once the
// sidecar listens; ctx bounds only the start itself. A failed registration
// does not fail Start: it is logged and retried. Start may be called once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case 1:
		s.mu.Unlock()
		return ErrStarted
	case 2:
		s.mu.Unlock()
		return ErrStopped
	}
	if b := s.opts.broker; b != nil {
		if err := b.Connect(ctx); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("sidecar: connecting the %s broker: %w", b.String(), err)
		}
	}
	ln := s.opts.listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", s.opts.address); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("sidecar: listen on %s: %w", s.opts.address, err)
		}
	}
	s.state = 1
	s.listener = ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.opts.logger.Handler(), slog.LevelDebug),
	}
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.logger.Error("sidecar: serving stopped", "address", ln.Addr().String(), "error", err)
		}
	}()
	s.opts.logger.Info("sidecar: listening", "address", ln.Addr().String())
	if s.app == nil {
		s.mu.Unlock()
		return nil
	}
	// The first registration runs without the lock, so that Addr answers
	// meanwhile; Stop cancels it through loopCtx and waits for loopDone.
	loopCtx, stop := context.WithCancel(context.Background())
	s.loopStop = stop
	s.loopDone = make(chan struct{})
	s.mu.Unlock()
	regCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(loopCtx, cancel)()
	healthy, registered := s.firstRegistration(regCtx)
	go s.appLoop(loopCtx, healthy, registered)
	return nil
}

// Addr is the address the sidecar listens on once started (with the port
// chosen for port 0), else the configured address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.opts.address
}

// Stop stops the sidecar gracefully within ctx (bounded by
// [DefaultGracePeriod] when ctx has no deadline): it stops the app's
// registration loop and deregisters the app, closes every /broker socket
// (close code 1001, going away) and unsubscribes it, and shuts the HTTP
// server down, waiting for running requests. When ctx ends first it drops
// the sockets' connections and ends their publishes. The client, registry
// and broker are left to their owner. Stop is idempotent; it returns
// ctx's error when the sockets or requests outlast it.
func (s *Server) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultGracePeriod)
		defer cancel()
	}
	s.mu.Lock()
	if s.state == 2 {
		s.mu.Unlock()
		return nil
	}
	started := s.state == 1
	s.state = 2
	s.closing = true
	open := make([]*socket, 0, len(s.sockets))
	for ss := range s.sockets {
		open = append(open, ss)
	}
	s.mu.Unlock()

	var errs []error
	if started && s.app != nil {
		s.loopStop()
		select {
		case <-s.loopDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("sidecar: waiting for the registration loop: %w", ctx.Err()))
		}
		s.deregisterApp(ctx)
	}
	for _, ss := range open {
		ss.close(websocket.CloseGoingAway, "sidecar: stopping")
	}
	if started {
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sidecar: shutting the http server down: %w", err))
		}
	}
	sockets := make(chan struct{})
	go func() { s.socketsWG.Wait(); close(sockets) }()
	select {
	case <-sockets:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("sidecar: waiting for the sockets to close: %w", ctx.Err()))
		s.cancel() // ends the publishes and unsubscriptions under way
		for _, ss := range open {
			ss.abort()
		}
		<-sockets // abort closes the connections: this is quick
	}
	s.cancel()
	if started {
		_ = s.srv.Close()
		<-s.serveDone
	}
	if s.health != nil {
		s.health.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// enter adds ss to the open sockets; it fails once Stop began or when
// [MaxSockets] are open.
func (s *Server) enter(ss *socket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errStopping
	}
	if len(s.sockets) >= s.opts.maxSockets {
		return fmt.Errorf("%w (%d): close one first", errTooManySockets, s.opts.maxSockets)
	}
	s.sockets[ss] = struct{}{}
	s.socketsWG.Add(1)
	return nil
}

// leave removes ss from the open sockets.
func (s *Server) leave(ss *socket) {
	s.mu.Lock()
	delete(s.sockets, ss)
	s.mu.Unlock()
	s.socketsWG.Done()
}

// openSockets returns how many /broker sockets are open.
func (s *Server) openSockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sockets)
}
