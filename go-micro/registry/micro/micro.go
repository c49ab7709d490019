package micro

import (
	"context"
	stderrors "errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

const (
	// ServiceName is the name the registry service is served under.
	ServiceName = "go.micro.registry"
	// DefaultAddress is where the registry is reached without
	// registry.Addrs: the registry endpoint of `micro server`.
	DefaultAddress = "127.0.0.1:8000"
	// DefaultTimeout bounds each request without registry.Timeout.
	DefaultTimeout = 10 * time.Second
)

var (
	// ErrUnreachable is matched (errors.Is) by the error of a call that
	// found nothing answering at the registry's address. The error's text
	// names the address and what to do.
	ErrUnreachable = stderrors.New("registry micro: nothing answers")
	// ErrClosed is returned by the methods of a Registry after Close.
	ErrClosed = stderrors.New("registry micro: registry closed")
)

// clientErrorId is the Id of the errors the rpc client makes itself (it
// could not dial, the call timed out, ...), as opposed to the service's.
const clientErrorId = "go.micro.client"

func init() {
	registry.Register("micro", func(opts ...registry.Option) (registry.Registry, error) {
		return NewRegistry(opts...), nil
	})
}

type loggerKey struct{}

// Logger sets the logger that receives the registry's log lines (a watch
// losing its stream and resuming). Default: slog.Default().
func Logger(l *slog.Logger) registry.Option {
	return func(o *registry.Options) { o.SetValue(loggerKey{}, l) }
}

// NewRegistry returns a client of the registry service at the first of
// registry.Addrs (the others are tried in turn when it fails), or at
// [DefaultAddress]. It reads registry.Timeout (the bound of each request;
// default [DefaultTimeout]), registry.TLS (to reach the service over TLS)
// and [Logger]. It connects to nothing: the first call dials, so a
// registry that is not running yet is no error here.
//
// The value returned implements io.Closer and Options() registry.Options;
// see the package documentation.
func NewRegistry(opts ...registry.Option) registry.Registry {
	o := registry.NewOptions(opts...)
	var addrs []string
	for _, a := range o.Addrs {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		addrs = []string{DefaultAddress}
	}
	o.Addrs = addrs
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	log, _ := o.Value(loggerKey{}).(*slog.Logger)
	if log == nil {
		log = slog.Default()
	}

	topts := []transport.Option{transport.Timeout(min(o.Timeout, transport.DefaultTimeout))}
	if o.TLS != nil {
		topts = append(topts, transport.TLS(o.TLS.Clone()))
	}
	r := &microRegistry{
		opts:     o,
		log:      log,
		sleep:    sleep,
		watchers: make(map[*watcher]struct{}),
	}
	r.tr, r.err = httptransport.NewTransport(topts...)
	if r.err == nil {
		r.client, r.err = client.New(
			client.Transport(r.tr),
			client.ContentType("application/json"),
			// One attempt per address, and a second one with one address.
			client.Retries(max(len(addrs), 2)-1),
			client.RequestTimeout(o.Timeout),
			client.Logger(log),
		)
	}
	if r.err != nil {
		r.err = fmt.Errorf("registry micro: %w", r.err)
	}
	return r
}

type microRegistry struct {
	opts   registry.Options // Addrs and Timeout resolved
	log    *slog.Logger
	tr     transport.Transport
	client client.Client
	err    error // building the client failed; every call returns it

	lastWarn atomic.Int64 // when a watcher last warned of losing its stream, unix ns

	// sleep waits between reconnection attempts: the package's sleep,
	// which tests replace to see the waits.
	sleep func(ctx context.Context, d time.Duration) bool

	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}
}

func (r *microRegistry) String() string { return "micro" }

// Options returns the options the registry was built with, its addresses
// and timeout resolved to the ones it uses.
func (r *microRegistry) Options() registry.Options {
	o := r.opts
	o.Addrs = append([]string(nil), o.Addrs...)
	return o
}

// Close stops the registry's watchers and closes its connections. Calls
// made after Close, and those in flight, return [ErrClosed]. It is
// idempotent and returns nil.
func (r *microRegistry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ws := r.watchers
	r.watchers = nil
	r.mu.Unlock()
	for w := range ws {
		w.Stop()
	}
	if r.tr != nil {
		_ = r.tr.Close()
	}
	return nil
}

func (r *microRegistry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// usable returns the error a call must return before doing anything.
func (r *microRegistry) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	if r.isClosed() {
		return ErrClosed
	}
	return nil
}

// call makes one unary call to the registry service.
func (r *microRegistry) call(ctx context.Context, endpoint string, req, rsp any) error {
	err := r.client.Call(ctx, r.client.NewRequest(ServiceName, endpoint, req), rsp,
		client.WithAddress(r.opts.Addrs...))
	if err == nil {
		return nil
	}
	return r.callError(ctx, endpoint, err)
}

// callError turns the error of a call to endpoint into the registry's:
// ctx's own error when ctx ended, ErrClosed after Close, an error matching
// ErrUnreachable when the service could not be reached, and otherwise an
// error naming the endpoint and the address, wrapping the *errors.Error.
func (r *microRegistry) callError(ctx context.Context, endpoint string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("registry micro: %s: %w", endpoint, ctxErr)
	}
	if r.isClosed() {
		return ErrClosed
	}
	e := errors.FromError(err)
	switch {
	case e.Code == 503 && e.Id == clientErrorId:
		return &unreachableError{addrs: r.opts.Addrs, detail: e.Detail, cause: err}
	case e.Code == 408 && e.Id == clientErrorId:
		return fmt.Errorf("registry micro: %s: the registry at %s did not answer within %v: %w",
			endpoint, r.addrList(), r.opts.Timeout, context.DeadlineExceeded)
	}
	return &serviceError{endpoint: endpoint, addrs: r.addrList(), err: e}
}

func (r *microRegistry) addrList() string { return strings.Join(r.opts.Addrs, ", ") }

// unreachableError is the error of a call that could not reach the
// registry service: detail is the client's account of why.
type unreachableError struct {
	addrs  []string
	detail string
	cause  error
}

func (e *unreachableError) Error() string {
	const todo = `start it with "micro server" or choose another registry with --registry`
	addrs := strings.Join(e.addrs, ", ")
	if strings.Contains(e.detail, "connection refused") {
		return fmt.Sprintf("registry micro: nothing answers at %s: %s", addrs, todo)
	}
	// Something answered, or the dial failed otherwise: say what went
	// wrong (a TLS mismatch, a timeout, another server at the address).
	reason := e.detail
	for _, a := range e.addrs {
		if i := strings.LastIndex(reason, a+": "); i >= 0 {
			reason = reason[i+len(a)+2:]
		}
	}
	return fmt.Sprintf("registry micro: cannot reach the registry at %s (%s): %s", addrs, reason, todo)
}

func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *unreachableError) Unwrap() error        { return e.cause }

// serviceError is an error the registry service answered with.
type serviceError struct {
	endpoint string
	addrs    string
	err      *errors.Error
}

func (e *serviceError) Error() string {
	return fmt.Sprintf("registry micro: %s at %s: %d %s: %s", e.endpoint, e.addrs, e.err.Code, e.err.Status, e.err.Detail)
}

func (e *serviceError) Unwrap() error { return e.err }

func (r *microRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	ttl := max(registry.NewRegisterOptions(opts...).TTL, 0)
	err := r.call(ctx, endpointRegister, &RegisterRequest{Service: s, TTL: ttl}, new(RegisterResponse))
	return invalidIfBadRequest(err)
}

func (r *microRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	// Only the ids matter: leave the endpoints at home.
	slim := &registry.Service{Name: s.Name, Version: s.Version, Nodes: make([]*registry.Node, len(s.Nodes))}
	for i, n := range s.Nodes {
		slim.Nodes[i] = &registry.Node{Id: n.Id}
	}
	err := r.call(ctx, endpointDeregister, &DeregisterRequest{Service: slim}, new(DeregisterResponse))
	return invalidIfBadRequest(err)
}

// invalidIfBadRequest makes the service's 400 to a Register or Deregister
// match registry.ErrInvalidService, as the local check's error does.
func invalidIfBadRequest(err error) error {
	var se *serviceError
	if stderrors.As(err, &se) && se.err.Code == 400 {
		return fmt.Errorf("%w: %w", registry.ErrInvalidService, err)
	}
	return err
}

func (r *microRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if err := r.usable(ctx); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty name", registry.ErrNotFound)
	}
	rsp := new(GetServiceResponse)
	if err := r.call(ctx, endpointGetService, &GetServiceRequest{Service: name}, rsp); err != nil {
		// Only the registry's own answer for an unknown service means
		// not found: another 404 (a server without the registry's
		// endpoints at the address) is an error to show as it is.
		var se *serviceError
		if stderrors.As(err, &se) && se.err.Code == 404 && se.err.Detail == notFoundDetail(name) {
			return nil, fmt.Errorf("%w: %q", registry.ErrNotFound, name)
		}
		return nil, err
	}
	out := clean(rsp.Services)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q", registry.ErrNotFound, name)
	}
	return out, nil
}

func (r *microRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if err := r.usable(ctx); err != nil {
		return nil, err
	}
	rsp := new(ListServicesResponse)
	if err := r.call(ctx, endpointListServices, new(ListServicesRequest), rsp); err != nil {
		return nil, err
	}
	return clean(rsp.Services), nil
}

// clean drops the nil services and nil nodes an answer may hold, so that
// callers never meet them.
func clean(ss []*registry.Service) []*registry.Service {
	out := ss[:0]
	for _, s := range ss {
		if s == nil {
			continue
		}
		nodes := s.Nodes[:0]
		for _, n := range s.Nodes {
			if n != nil {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			nodes = nil
		}
		s.Nodes = nodes
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var _ registry.Registry = (*microRegistry)(nil)
