package handler

import (
	"context"
	stderrors "errors"
	"io"
	"slices"
	"sync"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// errorId is the Id of the errors the handler answers with.
const errorId = micro.ServiceName

var (
	// errClosing ends the watches open when Close is called.
	errClosing = stderrors.New("registry handler closing")
	// errLeft ends a watch whose client closed its side of the stream.
	errLeft = stderrors.New("watch client left")
	// errBehind ends a watch whose backlog overflowed.
	errBehind = stderrors.New("watch client fell behind")
)

// DefaultMaxBacklog is the backlog of a watch without [MaxBacklog].
const DefaultMaxBacklog = 8 << 20

// Option configures a Registry handler.
type Option func(*options)

type options struct {
	maxBacklog int
}

// MaxBacklog bounds, in bytes (approximately: the bytes of the names,
// addresses, metadata and endpoint descriptions), the changes one watch
// holds for a client that reads slower than the registry changes, beyond
// what the transport buffers. A watch whose client falls further behind
// is ended with a 503, and its client reconnects and resyncs from a fresh
// snapshot. Values below 1 are taken as 1: the backlog then holds one
// change. Default: [DefaultMaxBacklog] (8 MiB).
func MaxBacklog(n int) Option {
	return func(o *options) { o.maxBacklog = max(n, 1) }
}

// Registry serves a registry.Registry over go-micro RPC: its exported
// methods are the endpoints Registry.Register, Registry.Deregister,
// Registry.GetService, Registry.ListServices and Registry.Watch (a
// stream). Build it with [New] and mount it with server.NewHandler.
type Registry struct {
	r    registry.Registry
	opts options

	mu      sync.Mutex
	closed  bool
	watches map[*watch]struct{}
}

// watch is one open Watch stream.
type watch struct {
	cancel context.CancelCauseFunc
}

// New returns the handler serving r, which keeps the services (and
// expires their nodes' TTLs).
func New(r registry.Registry, opts ...Option) *Registry {
	o := options{maxBacklog: DefaultMaxBacklog}
	for _, opt := range opts {
		opt(&o)
	}
	return &Registry{r: r, opts: o, watches: make(map[*watch]struct{})}
}

// Close ends the Watch streams open on h, with a 503 that tells their
// clients to reconnect, and makes h refuse new ones; unary calls are still
// served. Call it before stopping the server, whose Stop otherwise waits
// for the open streams until its context ends. Close does not wait for the
// streams to finish; it is idempotent and returns nil.
//
// Close is a function rather than a method because every exported method
// of h is an endpoint for server.NewHandler, which rejects methods of any
// other shape.
func Close(h *Registry) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ws := h.watches
	h.watches = nil
	h.mu.Unlock()
	for w := range ws {
		w.cancel(errClosing)
	}
	return nil
}

// Register registers the nodes of req.Service with req.TTL.
func (h *Registry) Register(ctx context.Context, req *micro.RegisterRequest, rsp *micro.RegisterResponse) error {
	if req.Service == nil {
		return errors.BadRequest(errorId, `register: no service: send {"service": {"name": ..., "nodes": [{"id": ..., "address": ...}]}}`)
	}
	if req.TTL < 0 {
		return errors.BadRequest(errorId, "register: ttl %v is negative: send 0, or leave it out, for no expiry", req.TTL)
	}
	if err := registry.Validate(req.Service); err != nil {
		return errors.BadRequest(errorId, "register: %v", err)
	}
	return h.fail("register", h.r.Register(ctx, req.Service, registry.RegisterTTL(req.TTL)))
}

// Deregister removes the nodes of req.Service.
func (h *Registry) Deregister(ctx context.Context, req *micro.DeregisterRequest, rsp *micro.DeregisterResponse) error {
	if req.Service == nil {
		return errors.BadRequest(errorId, `deregister: no service: send {"service": {"name": ..., "nodes": [{"id": ...}]}}`)
	}
	if err := registry.Validate(req.Service); err != nil {
		return errors.BadRequest(errorId, "deregister: %v", err)
	}
	return h.fail("deregister", h.r.Deregister(ctx, req.Service))
}

// GetService answers the versions of the service req.Service, or 404.
func (h *Registry) GetService(ctx context.Context, req *micro.GetServiceRequest, rsp *micro.GetServiceResponse) error {
	if req.Service == "" {
		return errors.BadRequest(errorId, `get service: no service name: send {"service": "name"}`)
	}
	ss, err := h.r.GetService(ctx, req.Service)
	if err != nil {
		if stderrors.Is(err, registry.ErrNotFound) {
			return errors.NotFound(errorId, "service %q not found", req.Service)
		}
		return h.fail("get service", err)
	}
	if len(ss) == 0 {
		return errors.NotFound(errorId, "service %q not found", req.Service)
	}
	rsp.Services = ss
	return nil
}

// ListServices answers every service, one entry per name and version.
func (h *Registry) ListServices(ctx context.Context, req *micro.ListServicesRequest, rsp *micro.ListServicesResponse) error {
	ss, err := h.r.ListServices(ctx)
	if err != nil {
		return h.fail("list services", err)
	}
	rsp.Services = ss
	return nil
}

// Watch serves a watch: it reads one micro.WatchRequest, sends the
// snapshot of the services watched (micro.WatchSnapshot messages, then
// micro.WatchReady) and then every change (micro.WatchEvent) until the
// client closes its side of the stream, the call ends, Close, or the
// client falls more than the backlog behind.
func (h *Registry) Watch(ctx context.Context, stream server.Stream) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &watch{cancel: cancel}
	if !h.track(w) {
		return errors.ServiceUnavailable(errorId, "watch: the registry is shutting down; try again")
	}
	defer h.untrack(w)

	// One goroutine reads the client's side: the request, then nothing
	// until the client leaves (its Recv ends with io.EOF or an error),
	// which ends the watch. Reading the request here rather than in Watch
	// lets Close end a watch whose client never sends it. The goroutine
	// ends with the client's side or with the call, which the server ends
	// when Watch returns.
	var req micro.WatchRequest
	got := make(chan error, 1)
	go func() {
		err := stream.Recv(&req)
		got <- err
		if err != nil {
			return
		}
		var discard micro.WatchRequest
		for stream.Recv(&discard) == nil {
		}
		cancel(errLeft)
	}()
	select {
	case err := <-got:
		if stderrors.Is(err, io.EOF) {
			return errors.BadRequest(errorId, `watch: no request: send {"service": "name"} (or {} for every service) first`)
		}
		if err != nil {
			return err // a malformed request is a 400 already
		}
	case <-ctx.Done():
		return h.ended(ctx, context.Cause(ctx))
	}

	var opts []registry.WatchOption
	if req.Service != "" {
		opts = append(opts, registry.WatchService(req.Service))
	}
	// Watch first, then read the snapshot: a change between the two is in
	// both, which the client sorts out, but none is lost.
	wt, err := h.r.Watch(ctx, opts...)
	if err != nil {
		return h.ended(ctx, h.fail("watch", err))
	}
	// The pump moves the backend's changes into a bounded backlog while
	// this goroutine sends; it ends, stopping wt, when ctx ends or the
	// backlog overflows, so a client that stops reading holds at most the
	// backlog (and the transport's window), not every change since.
	q := &backlog{limit: h.opts.maxBacklog, ready: make(chan struct{}, 1)}
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		h.pump(ctx, cancel, wt, q)
	}()
	defer func() {
		cancel(nil)
		wt.Stop()
		<-pumped
	}()

	snap, err := h.snapshot(ctx, req.Service)
	if err != nil {
		return h.ended(ctx, h.fail("watch", err))
	}
	for _, s := range snap {
		if ctx.Err() != nil {
			return h.ended(ctx, context.Cause(ctx))
		}
		if err := h.send(stream, &micro.WatchResponse{Type: micro.WatchSnapshot, Service: s}); err != nil {
			return h.ended(ctx, err)
		}
	}
	if err := h.send(stream, &micro.WatchResponse{Type: micro.WatchReady}); err != nil {
		return h.ended(ctx, err)
	}
	for {
		res := q.pop(ctx)
		if res == nil {
			return h.ended(ctx, context.Cause(ctx))
		}
		if err := h.send(stream, &micro.WatchResponse{Type: micro.WatchEvent, Action: res.Action, Service: res.Service}); err != nil {
			return h.ended(ctx, err)
		}
	}
}

// send sends one message of a watch, saying which service a message
// over the transport's size limit carried.
func (h *Registry) send(stream server.Stream, msg *micro.WatchResponse) error {
	err := stream.Send(msg)
	if err != nil && msg.Service != nil && stderrors.Is(err, transport.ErrMessageTooLarge) {
		return errors.InternalServerError(errorId, "watch: service %q version %q (%d nodes) is over the transport's message size limit: %v",
			msg.Service.Name, msg.Service.Version, len(msg.Service.Nodes), err)
	}
	return err
}

// pump moves the changes wt yields into q until ctx ends, wt ends (the
// watch is then cancelled with a *backendEnded) or q overflows (cancelled
// with errBehind). It stops wt before returning, so that the backend
// drops what it queued for this watch at once.
func (h *Registry) pump(ctx context.Context, cancel context.CancelCauseFunc, wt registry.Watcher, q *backlog) {
	defer wt.Stop()
	for {
		res, err := wt.Next()
		if err != nil {
			if ctx.Err() == nil {
				cancel(&backendEnded{err: err})
			}
			return
		}
		if res == nil || res.Service == nil {
			continue
		}
		if !q.push(res) {
			cancel(errBehind)
			return
		}
	}
}

// backendEnded is the cause of a watch the backend ended on its own.
type backendEnded struct{ err error }

func (e *backendEnded) Error() string { return "the backend ended the watch: " + e.err.Error() }

// backlog is the changes a watch has taken from the backend and not sent
// yet, bounded by limit in approximate bytes (see cost). One change is
// always accepted into an empty backlog, however large.
type backlog struct {
	limit int
	ready chan struct{} // capacity 1: a push happened since pop last looked

	mu    sync.Mutex
	items []*registry.Result
	size  int
}

// push queues res; false when that would pass the limit.
func (b *backlog) push(res *registry.Result) bool {
	n := cost(res.Service)
	b.mu.Lock()
	if len(b.items) > 0 && b.size+n > b.limit {
		b.mu.Unlock()
		return false
	}
	b.items = append(b.items, res)
	b.size += n
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
	return true
}

// pop returns the oldest queued change, waiting for one; nil once ctx
// ended, whatever is queued (the client resyncs when it reconnects).
func (b *backlog) pop(ctx context.Context) *registry.Result {
	for {
		if ctx.Err() != nil {
			return nil
		}
		b.mu.Lock()
		if len(b.items) > 0 {
			res := b.items[0]
			b.items[0] = nil
			b.items = b.items[1:]
			b.size -= cost(res.Service)
			b.mu.Unlock()
			return res
		}
		b.mu.Unlock()
		select {
		case <-b.ready:
		case <-ctx.Done():
		}
	}
}

// cost approximates the memory a service takes: the bytes of its strings
// plus a fixed amount per value.
func cost(s *registry.Service) int {
	n := 64 + len(s.Name) + len(s.Version) + mapCost(s.Metadata)
	for _, e := range s.Endpoints {
		if e != nil {
			n += 32 + len(e.Name) + mapCost(e.Metadata) + valueCost(e.Request) + valueCost(e.Response)
		}
	}
	for _, nd := range s.Nodes {
		if nd != nil {
			n += 32 + len(nd.Id) + len(nd.Address) + mapCost(nd.Metadata)
		}
	}
	return n
}

func mapCost(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += 16 + len(k) + len(v)
	}
	return n
}

func valueCost(v *registry.Value) int {
	if v == nil {
		return 0
	}
	n := 32 + len(v.Name) + len(v.Type)
	for _, sub := range v.Values {
		n += valueCost(sub)
	}
	return n
}

// ended returns what a watch ends with once ctx may have ended: a 503
// after Close, when the client fell behind or when the backend ended the
// watch, nothing when the client left, and err otherwise.
func (h *Registry) ended(ctx context.Context, err error) error {
	var be *backendEnded
	switch cause := context.Cause(ctx); {
	case cause == errClosing:
		return errors.ServiceUnavailable(errorId, "watch: the registry is shutting down; reconnect")
	case cause == errLeft:
		return nil
	case cause == errBehind:
		return errors.ServiceUnavailable(errorId, "watch: the client fell more than %d bytes of changes behind; reconnect to resync", h.opts.maxBacklog)
	case stderrors.As(cause, &be):
		return errors.ServiceUnavailable(errorId, "watch: the %s registry ended the watch: %v", h.r.String(), be.err)
	}
	return err
}

// snapshot returns the service versions a watch of service ("" for all)
// covers, each with all its nodes, sorted by name and version.
func (h *Registry) snapshot(ctx context.Context, service string) ([]*registry.Service, error) {
	var names []string
	if service != "" {
		names = []string{service}
	} else {
		list, err := h.r.ListServices(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if s != nil && !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
		slices.Sort(names)
	}
	var out []*registry.Service
	for _, name := range names {
		// ListServices may leave nodes out: GetService has them all.
		ss, err := h.r.GetService(ctx, name)
		if stderrors.Is(err, registry.ErrNotFound) {
			continue // gone since the list; its Delete is in the watch
		}
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			if s != nil {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (h *Registry) track(w *watch) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.watches[w] = struct{}{}
	return true
}

func (h *Registry) untrack(w *watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watches, w)
}

// fail turns the backend's error into the one the caller gets: 400 for
// an invalid service, 404 for an unknown one, 408 or 499 when the call's
// context ended, and 500 naming the backend otherwise.
func (h *Registry) fail(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case stderrors.Is(err, registry.ErrInvalidService):
		return errors.BadRequest(errorId, "%s: %v", op, err)
	case stderrors.Is(err, registry.ErrNotFound):
		return errors.NotFound(errorId, "%s: %v", op, err)
	case stderrors.Is(err, context.DeadlineExceeded):
		return errors.Timeout(errorId, "%s: %v", op, err)
	case stderrors.Is(err, context.Canceled):
		return errors.New(errorId, op+": "+err.Error(), errors.StatusClientClosedRequest)
	}
	var e *errors.Error
	if stderrors.As(err, &e) {
		return e
	}
	return errors.InternalServerError(errorId, "%s: the %s registry failed: %v", op, h.r.String(), err)
}
