package api

import (
	"bufio"
	"context"
	"crypto/tls"
	stderrors "errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/openmicro/go-micro/errors"
)

// Handlers lists the names [Handler] accepts.
var Handlers = []string{"rpc", "api", "proxy", "event"}

// Server timeouts of the listening http.Server.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
)

var (
	// ErrStarted is returned by [Server.Start] on a server started before.
	ErrStarted = stderrors.New("api: server already started")
	// ErrStopped is returned by [Server.Start] on a stopped server.
	ErrStopped = stderrors.New("api: server stopped")
)

// Server is the API gateway: a router over the handlers (see the package
// doc) with CORS, the access log and panic recovery around it, and an
// http.Server once started. It is safe for concurrent use.
type Server struct {
	o       options
	handler http.Handler // the router and its middleware
	proxy   *proxy       // nil unless the handler is "proxy"

	mu       sync.Mutex
	state    int // 0 new, 1 started, 2 stopped
	srv      *http.Server
	addr     string
	served   chan struct{} // closed when Serve returned
	hijacked map[*trackedConn]struct{}
	inflight sync.WaitGroup
	stopped  chan struct{} // closed when Stop is done
	stopErr  error         // Stop's result, set before stopped is closed
}

// New validates the options and builds the gateway; nothing listens until
// [Server.Start]. It fails on an unknown [Handler] name (listing the
// names), a handler without what it needs ("rpc" and "api" a [Client];
// "proxy" a [Selector], a client with a selector or a [Registry]; "event" a
// [Broker]), an address that is not host:port, a namespace that is not
// dot-separated words, a CORS origin that is not "*" or
// scheme://host[:port], a TLS config without a certificate, and
// certificate files ([TLSFiles]) that do not load.
func New(opts ...Option) (*Server, error) {
	o := newOptions(opts)
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Server{o: o, hijacked: make(map[*trackedConn]struct{})}
	var catchAll http.Handler
	switch o.handler {
	case "rpc":
		catchAll = callHandler(&s.o)
	case "api":
		catchAll = apiHandler(&s.o)
	case "proxy":
		s.proxy = newProxy(&s.o)
		catchAll = s.proxy
	case "event":
		catchAll = eventHandler(&s.o, "/")
	}
	var h http.Handler = newRouter(&s.o, catchAll)
	h = CORS(o.origins)(h)
	h = recoverPanics(o.logger, h)
	s.handler = h
	return s, nil
}

// newRouter routes by path: "/rpc" exactly (with a client), paths under
// "/event/" (with a broker), and catchAll for every other path. Paths are
// taken as they are, never cleaned or redirected; a path that does not
// start with "/" gets 404. The routes are gorilla/mux's; the handlers read
// the path themselves, so a match is dispatched without the two copies of
// the request mux.Router.ServeHTTP makes to store the route and its
// variables (a tenth of the bytes the gateway allocates per request).
func newRouter(o *options, catchAll http.Handler) http.Handler {
	r := mux.NewRouter().SkipClean(true)
	if o.client != nil {
		r.Handle("/rpc", rpcHandler(o))
	}
	if o.broker != nil {
		r.PathPrefix("/event/").Handler(eventHandler(o, "/event/"))
	}
	r.PathPrefix("/").Handler(catchAll)
	return router{r}
}

// router dispatches to the handler of the route that matches.
type router struct{ r *mux.Router }

func (rt router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var m mux.RouteMatch
	if rt.r.Match(req, &m) && m.Handler != nil {
		m.Handler.ServeHTTP(w, req)
		return
	}
	WriteError(w, req, errors.NotFound(errorId, "no route for %q", req.URL.Path))
}

// validate checks the options New was given.
func (o *options) validate() error {
	if !slices.Contains(Handlers, o.handler) {
		return fmt.Errorf("api: unknown handler %q: use one of %s", o.handler, strings.Join(Handlers, ", "))
	}
	switch o.handler {
	case "rpc", "api":
		if o.client == nil {
			return fmt.Errorf("api: handler %q: %w", o.handler, ErrNoClient)
		}
	case "proxy":
		if o.selector == nil && o.registry == nil && (o.client == nil || o.client.Options().Selector == nil) {
			return fmt.Errorf("api: handler %q needs a registry (api.Registry) or a selector (api.Selector)", o.handler)
		}
	case "event":
		if o.broker == nil {
			return fmt.Errorf("api: handler %q: %w", o.handler, ErrNoBroker)
		}
	}
	if _, _, err := net.SplitHostPort(o.address); err != nil {
		return fmt.Errorf("api: address %q: %w", o.address, err)
	}
	if o.namespace != "" {
		for _, part := range strings.Split(o.namespace, ".") {
			if err := checkElement(part); err != nil {
				return fmt.Errorf("api: namespace %q: %w", o.namespace, err)
			}
		}
	}
	for _, origin := range o.origins {
		if err := CheckOrigin(origin); err != nil {
			return err
		}
	}
	if o.certFile != "" || o.keyFile != "" {
		cfg, err := LoadTLS(o.certFile, o.keyFile)
		if err != nil {
			return err
		}
		o.tls = cfg
	}
	if c := o.tls; c != nil && len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return stderrors.New("api: TLS config has no certificate (use api.LoadTLS)")
	}
	return nil
}

// CheckOrigin accepts an allow-list entry: "*" or scheme://host[:port].
// The sidecar and the micro command check theirs with it.
func CheckOrigin(origin string) error {
	if origin == "*" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("api: CORS origin %q: want * or scheme://host[:port]", origin)
	}
	return nil
}

// LoadTLS reads a PEM certificate (chain) and its key and returns a TLS
// config serving them (TLS 1.2 at least), for [TLS].
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("api: loading TLS certificate %q and key %q: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// ServeHTTP serves r with the whole gateway: router, CORS, access log and
// panic recovery.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, false)
}

// serve runs one request through the access log and the router; track
// says whether hijacked connections are tracked, for Stop. The reading of
// the request is bounded by the request timeout until the handler has read
// the body (see bodyRead), so that a client that sends its body slowly, or
// not at all, cannot hold a handler or its connection.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, track bool) {
	sw := &statusWriter{ResponseWriter: w, start: time.Now()}
	if track {
		sw.srv = s
	}
	if rd, ok := w.(readDeadliner); ok && rd.SetReadDeadline(sw.start.Add(s.o.timeout)) == nil {
		sw.rd, sw.deadline = rd, true
	}
	// The response must be written within the timeout once the call's own
	// timeout is over, and a long one (a proxied stream) must keep moving:
	// a client that stops reading would otherwise hold the handler, and
	// Stop, for ever.
	if wd, ok := w.(writeDeadliner); ok {
		if dl := sw.start.Add(2 * s.o.timeout); wd.SetWriteDeadline(dl) == nil {
			sw.wd, sw.wdl, sw.idle = wd, dl, s.o.timeout
		}
	}
	done := false
	defer func() {
		if !done { // the handler panicked (http.ErrAbortHandler goes on up)
			sw.info.aborted = true
			s.logRequest(r, sw)
		}
	}()
	s.handler.ServeHTTP(sw, r)
	done = true
	s.logRequest(r, sw)
}

// logRequest writes the access log line of a request. It goes to the
// logger's handler directly, without the caller's program counter (the
// source of an access log line is no news), and computes nothing when the
// handler does not take level Info.
func (s *Server) logRequest(r *http.Request, sw *statusWriter) {
	ctx := r.Context()
	h := s.o.logger.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	end := time.Now()
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	info := &sw.info
	var buf [10]slog.Attr
	attrs := append(buf[:0],
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", sw.bytes),
		slog.Duration("duration", end.Sub(sw.start)),
		slog.String("remote", r.RemoteAddr),
	)
	if info.service != "" {
		attrs = append(attrs, slog.String("service", info.service))
	}
	if info.endpoint != "" {
		attrs = append(attrs, slog.String("endpoint", info.endpoint))
	}
	if info.topic != "" {
		attrs = append(attrs, slog.String("topic", info.topic))
	}
	switch {
	case info.aborted:
		attrs = append(attrs, slog.String("error", "response aborted"))
	case info.err != nil && info.cause != "":
		attrs = append(attrs, slog.String("error", info.err.Detail+": "+info.cause))
	case info.err != nil && status >= 500:
		attrs = append(attrs, slog.String("error", info.err.Detail))
	}
	rec := slog.NewRecord(end, slog.LevelInfo, "api: request", 0)
	rec.AddAttrs(attrs...)
	_ = h.Handle(ctx, rec)
}

// recoverPanics answers a panicking handler with a 500 (when nothing was
// written yet) and logs it; http.ErrAbortHandler goes on up.
func recoverPanics(l *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			l.ErrorContext(r.Context(), "api: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
			if sw, ok := w.(*statusWriter); !ok || sw.status == 0 {
				WriteError(w, r, errors.InternalServerError(errorId, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Start listens on the [Address] (with TLS when [TLS] was given), connects
// the [Broker] when there is one, and serves in the background; it returns
// once the gateway is listening. ctx bounds the start only. It fails with
// [ErrStarted] when called again and [ErrStopped] after Stop.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case 1:
		return ErrStarted
	case 2:
		return ErrStopped
	}
	if s.o.broker != nil {
		if err := s.o.broker.Connect(ctx); err != nil {
			return fmt.Errorf("api: connecting the %s broker: %w", s.o.broker.String(), err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.o.address)
	if err != nil {
		return fmt.Errorf("api: listen: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.inflight.Add(1)
			defer s.inflight.Done()
			s.serve(w, r, true)
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.o.logger.Handler(), slog.LevelWarn),
	}
	if s.o.tls != nil {
		srv.TLSConfig = s.o.tls.Clone()
	}
	s.srv, s.addr, s.served, s.state = srv, ln.Addr().String(), make(chan struct{}), 1
	useTLS := srv.TLSConfig != nil
	go func() {
		defer close(s.served)
		var err error
		if useTLS {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !stderrors.Is(err, http.ErrServerClosed) {
			s.o.logger.Error("api: serving stopped", "address", s.addr, "error", err)
		}
	}()
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	s.o.logger.InfoContext(ctx, "api: listening", "address", s.addr, "scheme", scheme, "handler", s.o.handler, "namespace", s.o.namespace)
	return nil
}

// Addr returns the address the gateway listens on once started (with the
// port chosen for ":0"), "" before.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop shuts the gateway down gracefully: it stops listening, waits within
// ctx for the requests in progress (http.Server.Shutdown), then closes the
// connections handed over to websockets and the proxy's idle connections,
// and waits for their handlers. It returns ctx's error when requests were
// still running at its end (their connections are then closed). Stop is
// idempotent (later calls return the first one's result); it does nothing
// on a server never started, which cannot be started afterwards.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case 0:
		s.state = 2
		s.stopped = make(chan struct{})
		close(s.stopped)
		s.mu.Unlock()
		s.closeProxy()
		return nil
	case 2:
		stopped := s.stopped
		s.mu.Unlock()
		select {
		case <-stopped:
			return s.stopErr
		case <-ctx.Done():
			return fmt.Errorf("api: stop: %w", ctx.Err())
		}
	}
	s.state = 2
	s.stopped = make(chan struct{})
	srv := s.srv
	s.mu.Unlock()

	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	s.closeHijacked()
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
		s.closeHijacked() // connections hijacked meanwhile
		<-done
	}
	<-s.served
	s.closeProxy()
	if err != nil {
		err = fmt.Errorf("api: stop: %w", err)
	}
	s.stopErr = err
	close(s.stopped)
	return err
}

func (s *Server) closeProxy() {
	if s.proxy != nil {
		s.proxy.close()
	}
}

// track records a hijacked connection until it is closed.
func (s *Server) track(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == 2 {
		return false
	}
	s.hijacked[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *trackedConn) {
	s.mu.Lock()
	delete(s.hijacked, c)
	s.mu.Unlock()
}

// closeHijacked closes the hijacked connections.
func (s *Server) closeHijacked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.hijacked {
		_ = c.Conn.Close()
		delete(s.hijacked, c)
	}
}

// statusWriter records the status and size of a response for the access
// log. It passes Flush and Hijack on (through http.ResponseController);
// a hijacked connection is tracked so that Stop can close it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	srv    *Server // tracks hijacked connections when set
	info   reqInfo
	start  time.Time
	// rd bounds the reading of the request while deadline is set.
	rd       readDeadliner
	deadline bool
	// wd bounds the writing of the response, at wdl; each write moves wdl
	// to idle from now once less than half of idle is left.
	wd   writeDeadliner
	wdl  time.Time
	idle time.Duration
}

// moving extends the write deadline of a response still being written.
func (w *statusWriter) moving() {
	if w.wd == nil {
		return
	}
	if now := time.Now(); w.wdl.Sub(now) < w.idle/2 {
		w.wdl = now.Add(w.idle)
		_ = w.wd.SetWriteDeadline(w.wdl)
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.moving()
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes the response, when the writer underneath can.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.moving()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (for websockets), recording status 101.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The connection is the hijacker's now (a websocket): the request's
	// deadlines do not go with it.
	_ = c.SetDeadline(time.Time{})
	w.wd, w.deadline = nil, false
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	if w.srv == nil {
		return c, brw, nil
	}
	tc := &trackedConn{Conn: c}
	tc.untrack = func() { w.srv.untrack(tc) }
	if !w.srv.track(tc) {
		_ = c.Close()
		return nil, nil, http.ErrServerClosed
	}
	return tc, brw, nil
}

// trackedConn is a hijacked connection that leaves the Server's set when
// closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	untrack func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.untrack != nil {
			c.untrack()
		}
	})
	return err
}
