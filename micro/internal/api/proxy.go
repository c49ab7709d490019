package api

import (
	"context"
	stderrors "errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
)

// proxyDialTimeout bounds the dial of a backend node.
const proxyDialTimeout = 10 * time.Second

// proxy is the "proxy" handler: a reverse proxy to the HTTP server of the
// service named by the path's first element.
type proxy struct {
	o  *options
	tr *http.Transport
	rp *httputil.ReverseProxy
}

// proxyTarget is the node a request goes to, for Rewrite and the error
// handler.
type proxyTarget struct {
	service string
	node    *registry.Node
	sel     selector.Selector // nil when the node came from the registry
}

type proxyKey struct{}

func newProxy(o *options) *proxy {
	p := &proxy{o: o}
	p.tr = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: proxyDialTimeout}).DialContext,
		ResponseHeaderTimeout: o.timeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(proxyKey{}).(*proxyTarget)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = t.node.Address
			pr.Out.Host = ""
			pr.SetXForwarded()
		},
		Transport:      p.tr,
		ErrorHandler:   p.fail,
		ModifyResponse: p.answered,
		ErrorLog:       slog.NewLogLogger(o.logger.Handler(), slog.LevelWarn),
	}
	return p
}

// close releases the idle connections to the backends.
func (p *proxy) close() { p.tr.CloseIdleConnections() }

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if first == "" {
		WriteError(w, r, errors.NotFound(errorId, "%v: use /[service]/...", ErrNoService))
		return
	}
	if err := checkElement(first); err != nil {
		WriteError(w, r, errors.BadRequest(errorId, "%v %q: %v", ErrInvalidPath, r.URL.Path, err))
		return
	}
	service := first
	if p.o.namespace != "" {
		service = p.o.namespace + "." + first
	}
	setTarget(w, service, "")
	if r.ContentLength > p.o.maxBody {
		WriteError(w, r, &http.MaxBytesError{Limit: p.o.maxBody})
		return
	}
	t, err := p.pick(r.Context(), service)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, p.o.maxBody)
	}
	// The body streams to the backend, and the answer back, for as long
	// as they take (websockets too): the request timeout bounds the wait
	// for the answer's headers only.
	bodyRead(w)
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxyKey{}, t)))
}

// selector is the selector nodes are picked with: the one given, else the
// client's; nil when there is neither.
func (p *proxy) selector() selector.Selector {
	if p.o.selector != nil {
		return p.o.selector
	}
	if p.o.client != nil {
		return p.o.client.Options().Selector
	}
	return nil
}

// pick chooses the node of service a request goes to.
func (p *proxy) pick(ctx context.Context, service string) (*proxyTarget, error) {
	if sel := p.selector(); sel != nil {
		next, err := sel.Select(ctx, service)
		if err == nil {
			var node *registry.Node
			if node, err = next(); err == nil {
				return &proxyTarget{service: service, node: node, sel: sel}, nil
			}
		}
		switch {
		case stderrors.Is(err, selector.ErrNotFound):
			return nil, errors.NotFound(errorId, "service %q not found", service)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, hide(errors.ServiceUnavailable(errorId, "service %q unavailable", service), err)
	}
	if p.o.registry == nil {
		return nil, errors.InternalServerError(errorId, "proxy: no registry or selector (use api.Registry)")
	}
	svcs, err := p.o.registry.GetService(ctx, service)
	switch {
	case stderrors.Is(err, registry.ErrNotFound):
		return nil, errors.NotFound(errorId, "service %q not found", service)
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, hide(errors.ServiceUnavailable(errorId, "service %q unavailable", service), fmt.Errorf("registry: %w", err))
	}
	var nodes []*registry.Node
	for _, s := range svcs {
		for _, n := range s.Nodes {
			if n != nil && n.Address != "" {
				nodes = append(nodes, n)
			}
		}
	}
	if len(nodes) == 0 {
		return nil, errors.ServiceUnavailable(errorId, "service %q unavailable: no node", service)
	}
	return &proxyTarget{service: service, node: nodes[rand.N(len(nodes))]}, nil
}

// answered marks the node as good once it answered.
func (p *proxy) answered(rsp *http.Response) error {
	if t, ok := rsp.Request.Context().Value(proxyKey{}).(*proxyTarget); ok && t.sel != nil {
		t.sel.Mark(t.service, t.node, nil)
	}
	if len(p.o.origins) > 0 {
		// The gateway's allow-list decides which pages may read the
		// answer, and the CORS middleware has set its headers already: a
		// backend's own would go out beside them (two values, which
		// browsers refuse) or open what the list closes.
		for _, k := range gatewayCORSHeaders {
			rsp.Header.Del(k)
		}
	}
	return nil
}

// gatewayCORSHeaders are the CORS headers of an answer that the gateway's
// CORS middleware owns once an allow-list is set. The backend's others
// (Access-Control-Expose-Headers) pass.
var gatewayCORSHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"}

// fail answers a request the proxy could not complete: 413 for a body over
// the limit, 504 when the backend did not answer within the request
// timeout, 499 when the client went away, and 503 when the backend could
// not be reached or broke off (the node is then marked as failed). The
// answer names the service; the access log has the error.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	t, _ := r.Context().Value(proxyKey{}).(*proxyTarget)
	var (
		mbe *http.MaxBytesError
		ne  net.Error
		oe  *net.OpError
		e   *errors.Error
	)
	switch {
	case stderrors.As(err, &mbe):
		WriteError(w, r, err)
		return
	case r.Context().Err() != nil:
		e = errors.New(errorId, "client went away", errors.StatusClientClosedRequest)
	case stderrors.As(err, &oe) && oe.Op == "dial":
		e = errors.ServiceUnavailable(errorId, "service %q unavailable", t.service)
	case stderrors.Is(err, context.DeadlineExceeded), stderrors.As(err, &ne) && ne.Timeout():
		e = errors.GatewayTimeout(errorId, "service %q: no answer within %v", t.service, p.o.timeout)
	default:
		e = errors.ServiceUnavailable(errorId, "service %q unavailable", t.service)
	}
	if t.sel != nil && e.Code == http.StatusServiceUnavailable {
		t.sel.Mark(t.service, t.node, err)
	}
	WriteError(w, r, hide(e, fmt.Errorf("proxy to %s: %w", t.node.Address, err)))
}
