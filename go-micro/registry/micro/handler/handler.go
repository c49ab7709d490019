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
)

// errorId is the Id of the errors the handler answers with.
const errorId = micro.ServiceName

var (
	// errClosing ends the watches open when Close is called.
	errClosing = stderrors.New("registry handler closing")
	// errLeft ends a watch whose client closed its side of the stream.
	errLeft = stderrors.New("watch client left")
)

// Registry serves a registry.Registry over go-micro RPC: its exported
// methods are the endpoints Registry.Register, Registry.Deregister,
// Registry.GetService, Registry.ListServices and Registry.Watch (a
// stream). Build it with [New] and mount it with server.NewHandler.
type Registry struct {
	r registry.Registry

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
func New(r registry.Registry) *Registry {
	return &Registry{r: r, watches: make(map[*watch]struct{})}
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
// client closes its side of the stream, the call ends or Close.
func (h *Registry) Watch(ctx context.Context, stream server.Stream) error {
	var req micro.WatchRequest
	if err := stream.Recv(&req); err != nil {
		if stderrors.Is(err, io.EOF) {
			return errors.BadRequest(errorId, `watch: no request: send {"service": "name"} (or {} for every service) first`)
		}
		return err // a malformed request is a 400 already
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &watch{cancel: cancel}
	if !h.track(w) {
		return errors.ServiceUnavailable(errorId, "watch: the registry is shutting down; try again")
	}
	defer h.untrack(w)

	// The client sends nothing more; its Recv ending (with io.EOF or an
	// error) means it left. This goroutine ends then, or when the call
	// ends and the server closes the stream.
	go func() {
		var discard micro.WatchRequest
		for {
			if err := stream.Recv(&discard); err != nil {
				cancel(errLeft)
				return
			}
		}
	}()

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
	defer wt.Stop()
	snap, err := h.snapshot(ctx, req.Service)
	if err != nil {
		return h.ended(ctx, h.fail("watch", err))
	}
	for _, s := range snap {
		if err := stream.Send(&micro.WatchResponse{Type: micro.WatchSnapshot, Service: s}); err != nil {
			return h.ended(ctx, err)
		}
	}
	if err := stream.Send(&micro.WatchResponse{Type: micro.WatchReady}); err != nil {
		return h.ended(ctx, err)
	}
	for {
		res, err := wt.Next()
		if err != nil {
			if ctx.Err() == nil {
				// The backend ended the watch on its own.
				return errors.ServiceUnavailable(errorId, "watch: the %s registry ended the watch: %v", h.r.String(), err)
			}
			return h.ended(ctx, nil)
		}
		if res == nil || res.Service == nil {
			continue
		}
		if err := stream.Send(&micro.WatchResponse{Type: micro.WatchEvent, Action: res.Action, Service: res.Service}); err != nil {
			return h.ended(ctx, err)
		}
	}
}

// ended returns what a watch ends with once ctx may have ended: a 503
// after Close, nothing when the client left, and err otherwise.
func (h *Registry) ended(ctx context.Context, err error) error {
	switch context.Cause(ctx) {
	case errClosing:
		return errors.ServiceUnavailable(errorId, "watch: the registry is shutting down; reconnect")
	case errLeft:
		return nil
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
