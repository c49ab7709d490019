package client

import (
	"context"
	stderrors "errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/internal/shared"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/transport"
)

var (
	// ErrNoTransport is returned by [New] when no transport was given.
	ErrNoTransport = stderrors.New("client: no transport (use client.Transport)")
	// ErrNoBroker is returned (wrapped) by Publish when the client has no
	// broker.
	ErrNoBroker = stderrors.New("client: no broker (use client.Broker)")

	errNilRequest = errors.BadRequest(errorId, "nil request")
)

// New returns the rpc client (String "rpc"): calls and streams go to a
// node chosen by Options.Selector over Options.Transport, and events go
// out through Options.Broker. It fails with [ErrNoTransport] without a
// transport. The client returned is wrapped in Options.Wrappers, the first
// outermost. A negative Retries counts as 0; a RequestTimeout of 0 or less
// leaves calls bounded by their ctx alone.
func New(opts ...Option) (Client, error) {
	o := NewOptions(opts...)
	if o.Transport == nil {
		return nil, ErrNoTransport
	}
	c := &rpcClient{opts: o}
	c.attempt = wrapCall(c.call, o.CallWrappers, nil)
	var cl Client = c
	for i := len(o.Wrappers) - 1; i >= 0; i-- {
		cl = o.Wrappers[i](cl)
	}
	return cl, nil
}

type rpcClient struct {
	opts    Options
	attempt CallFunc // call wrapped in opts.CallWrappers
}

func (c *rpcClient) String() string   { return "rpc" }
func (c *rpcClient) Options() Options { return c.opts }

// NewRequest is [NewRequest] with Options.ContentType as the default
// content type when set.
func (c *rpcClient) NewRequest(service, endpoint string, body any, opts ...RequestOption) Request {
	// The client's content type comes first, as if given before opts.
	return newRequest(RequestOptions{ContentType: c.opts.ContentType}, service, endpoint, body, opts)
}

// NewMessage is [NewMessage] with Options.ContentType as the default
// content type when set.
func (c *rpcClient) NewMessage(topic string, payload any, opts ...MessageOption) Message {
	if c.opts.ContentType != "" {
		opts = append([]MessageOption{WithMessageContentType(c.opts.ContentType)}, opts...)
	}
	return NewMessage(topic, payload, opts...)
}

// wrapCall wraps base in the client's call wrappers, then, inside them, in
// the call's: the first of the client's is the outermost.
func wrapCall(base CallFunc, client, call []CallWrapper) CallFunc {
	fn := base
	for i := len(call) - 1; i >= 0; i-- {
		fn = call[i](fn)
	}
	for i := len(client) - 1; i >= 0; i-- {
		fn = client[i](fn)
	}
	return fn
}

// callOptions are the client's settings overlaid with opts.
func (c *rpcClient) callOptions(opts []CallOption) CallOptions {
	co := CallOptions{
		Retries:        c.opts.Retries,
		RequestTimeout: c.opts.RequestTimeout,
		Backoff:        c.opts.Backoff,
		Retry:          c.opts.Retry,
	}
	if len(opts) > 0 {
		co = applyCallOptions(co, opts)
	}
	if co.Backoff == nil {
		co.Backoff = ExponentialBackoff
	}
	if co.Retry == nil {
		co.Retry = RetryOnError
	}
	co.Retries = max(co.Retries, 0)
	return co
}

// applyCallOptions is apart from callOptions so that only calls with
// options pay for the CallOptions escaping to the heap.
func applyCallOptions(co CallOptions, opts []CallOption) CallOptions {
	p := &co
	for _, opt := range opts {
		opt(p)
	}
	return *p
}

// nodes returns the Next of a call: over the WithAddress addresses, in
// order and round again, or from the selector. marked says whether the
// outcomes go to the selector's Mark. With readOnly, the caller hands the
// nodes to no user code, so they may be the selector's own (internal/shared).
func (c *rpcClient) nodes(ctx context.Context, req Request, co *CallOptions, readOnly bool) (next selector.Next, marked bool, err error) {
	if addrs := co.Address; len(addrs) > 0 {
		i := 0
		return func() (*registry.Node, error) {
			a := addrs[i%len(addrs)]
			i++
			return &registry.Node{Id: a, Address: a}, nil
		}, false, nil
	}
	if c.opts.Selector == nil {
		return nil, false, errors.InternalServerError(errorId,
			"call to %s: the client has no selector (client.Selector) and the call no address (client.WithAddress)", target(req))
	}
	if sh, ok := c.opts.Selector.(shared.Selector); ok && readOnly {
		next, err = sh.SelectShared(ctx, req.Service(), co.SelectOptions...)
	} else {
		next, err = c.opts.Selector.Select(ctx, req.Service(), co.SelectOptions...)
	}
	if err != nil {
		return nil, false, selectError(ctx, req, err)
	}
	return next, true, nil
}

// selectError maps an error of Select or Next.
func selectError(ctx context.Context, req Request, err error) *errors.Error {
	switch {
	case ctx.Err() != nil:
		return contextError(ctx, req)
	case stderrors.Is(err, selector.ErrNotFound):
		return errors.NotFound(errorId, "service %q not found", req.Service())
	case stderrors.Is(err, selector.ErrNoneAvailable):
		return errors.ServiceUnavailable(errorId, "service %q: no node available", req.Service())
	}
	return errors.ServiceUnavailable(errorId, "service %q: selecting a node: %v", req.Service(), err)
}

// Call sends req to a node and decodes the answer into rsp; see the
// package doc for retries, timeouts and the errors returned.
func (c *rpcClient) Call(ctx context.Context, req Request, rsp any, opts ...CallOption) error {
	if req == nil {
		return errNilRequest
	}
	co := c.callOptions(opts)
	if co.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, co.RequestTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return contextError(ctx, req)
	}
	// A content type without a codec is the caller's mistake: say so
	// before choosing, dialling or marking any node.
	if err := checkCodec(req.ContentType()); err != nil {
		return codecError(req, err)
	}
	// Without call wrappers no user code sees the node.
	readOnly := len(c.opts.CallWrappers) == 0 && len(co.CallWrappers) == 0
	next, marked, err := c.nodes(ctx, req, &co, readOnly)
	if err != nil {
		return err
	}
	call := c.attempt
	if len(co.CallWrappers) > 0 {
		call = wrapCall(c.call, c.opts.CallWrappers, co.CallWrappers)
	}
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.wait(ctx, req, co.Backoff(ctx, req, attempt), last); err != nil {
				return err
			}
		}
		node, err := next()
		if err != nil {
			if last != nil {
				return last // no node left to retry on: the last failure says most
			}
			return selectError(ctx, req, err)
		}
		if marked {
			at := &attemptCtx{Context: ctx}
			err = call(at, node, req, rsp, co)
			c.mark(req, node, err, at.answered.Load())
		} else {
			err = call(ctx, node, req, rsp, co)
		}
		if err == nil {
			return nil
		}
		last = err
		if attempt >= co.Retries || !co.Retry(ctx, req, attempt+1, err) {
			return err
		}
		c.opts.Logger.DebugContext(ctx, "client: retrying call", "service", req.Service(),
			"endpoint", req.Endpoint(), "node", node.Address, "retry", attempt+1, "error", err)
	}
}

// attemptCtx is the ctx of one attempt whose outcome goes to Mark: the
// base CallFunc, found through Value, records in it that the node answered,
// whatever the call wrappers then make of the answer.
type attemptCtx struct {
	context.Context
	answered atomic.Bool
}

// attemptKey is the Value key of an *attemptCtx.
type attemptKey struct{}

func (a *attemptCtx) Value(key any) any {
	if key == (attemptKey{}) {
		return a
	}
	return a.Context.Value(key)
}

// setAnswered records, for Mark, that the node of the attempt in ctx
// answered.
func setAnswered(ctx context.Context) {
	if a, ok := ctx.Value(attemptKey{}).(*attemptCtx); ok {
		a.answered.Store(true)
	}
}

// mark tells the selector how the node did: a success when it answered,
// even with an error (a handler's 404 says nothing against the node, nor
// does a 503 its own client got further down and passed on), a failure
// when the client could not reach it or lost it (a 503 the client made),
// and nothing otherwise (the caller's ctx ended first, or a call wrapper
// failed the attempt without reaching the node).
func (c *rpcClient) mark(req Request, node *registry.Node, err error, answered bool) {
	switch {
	case err == nil || answered:
		c.opts.Selector.Mark(req.Service(), node, nil)
	case nodeFailed(err):
		c.opts.Selector.Mark(req.Service(), node, err)
	}
}

// madeByClient reports whether err is an error the client made rather
// than one a node answered with.
func madeByClient(err error) bool {
	e, ok := stderrors.AsType[*errors.Error](err)
	return !ok || e == nil || e.Id == errorId
}

// nodeFailed reports whether err says the node could not be reached or
// went away.
func nodeFailed(err error) bool {
	e, ok := stderrors.AsType[*errors.Error](err)
	return ok && e != nil && e.Id == errorId && e.Code == 503
}

// wait sleeps d before a retry, or returns the ctx's error (noting the
// failure that led to the retry) when ctx ends first.
func (c *rpcClient) wait(ctx context.Context, req Request, d time.Duration, last error) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		e := contextError(ctx, req)
		return errors.New(e.Id, fmt.Sprintf("%s, waiting to retry after: %v", e.Detail, errors.FromError(last).Detail), e.Code)
	}
	return nil
}

// call is one attempt: the base CallFunc.
func (c *rpcClient) call(ctx context.Context, node *registry.Node, req Request, rsp any, _ CallOptions) error {
	cdc, err := rpcwire.Get(req.ContentType())
	if err != nil {
		return codecError(req, err)
	}
	st := getCallState()
	defer putCallState(st)
	st.out.Id, st.out.Type = newId(), codec.Request
	st.out.Service, st.out.Endpoint = req.Service(), req.Endpoint()
	body, err := cdc.Encode(&st.out, req.Body())
	if err != nil {
		rpcwire.Put(cdc)
		return encodeError(req, err)
	}
	sock, err := c.opts.Transport.Dial(ctx, node.Address)
	if err != nil {
		rpcwire.Put(cdc)
		if ctx.Err() != nil {
			return contextError(ctx, req)
		}
		return errors.ServiceUnavailable(errorId, "call to %s: dialling %s: %v", target(req), node.Address, err)
	}
	defer sock.Close()
	st.msg = transport.Message{Header: requestHeader(ctx, req, st.out.Id, false), Body: body}
	if err := sock.Send(ctx, &st.msg); err != nil {
		rpcwire.Put(cdc)
		return transportError(ctx, req, node.Address, "send", err)
	}
	if err := sock.CloseSend(); err != nil {
		rpcwire.Put(cdc)
		return transportError(ctx, req, node.Address, "close send", err)
	}
	st.msg = transport.Message{}
	if err := sock.Recv(ctx, &st.msg); err != nil {
		rpcwire.Put(cdc)
		return transportError(ctx, req, node.Address, "receive", err)
	}
	setAnswered(ctx)
	err = decodeResponse(cdc, req, &st.msg, &st.in, rsp)
	rpcwire.Put(cdc)
	return err
}
