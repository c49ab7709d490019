package server

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/internal/rpcwire/mdctx"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/transport"
)

// rpcRequest is the Request handlers and wrappers see.
type rpcRequest struct {
	service     string
	endpoint    string
	contentType string
	header      map[string]string
	body        any
	stream      bool
	method      *method
}

func (r *rpcRequest) Service() string           { return r.service }
func (r *rpcRequest) Endpoint() string          { return r.endpoint }
func (r *rpcRequest) ContentType() string       { return r.contentType }
func (r *rpcRequest) Header() map[string]string { return r.header }
func (r *rpcRequest) Body() any                 { return r.body }
func (r *rpcRequest) Stream() bool              { return r.stream }

// call is one call being served: what was asked and how to answer.
type call struct {
	r           *run
	sock        transport.Socket
	header      map[string]string // canonical keys
	contentType string
	id          string
	service     string
	endpoint    string
	codec       *rpcwire.Codec // nil when the content type has no codec
	answered    bool

	// Kept here rather than allocated one by one.
	in  transport.Message // the opening message
	out transport.Message // the message being sent
	env codec.Message     // the envelope being encoded
	req rpcRequest
}

// serve serves one accepted stream: one call.
func (r *run) serve(sock transport.Socket) {
	defer func() {
		_ = sock.CloseSend()
		_ = sock.Close()
	}()
	c := &call{r: r, sock: sock}
	if err := sock.Recv(r.waiting, &c.in); err != nil {
		return // the caller left, or the server stopped, before it asked
	}
	s := r.s
	s.requests.Add(1)
	c.header = canonicalHeader(c.in.Header)
	c.contentType = c.header[rpcwire.ContentType]
	c.id = c.header[rpcwire.Id]
	c.service = c.header[rpcwire.Service]
	c.endpoint = c.header[rpcwire.Endpoint]
	if err := c.serve(c.in.Body); err != nil {
		s.errs.Add(1)
		c.fail(err)
	}
	rpcwire.Put(c.codec)
}

// canonicalHeader returns h with canonical keys; h itself when they are.
func canonicalHeader(h map[string]string) map[string]string {
	for k := range h {
		if metadata.CanonicalKey(k) != k {
			return metadata.New(h)
		}
	}
	if h == nil {
		return map[string]string{}
	}
	return h
}

// serve answers the call whose opening message has body; an error it
// returns goes to the caller.
func (c *call) serve(body []byte) error {
	r := c.r
	name := r.s.opts.Name
	if c.contentType == "" {
		return errors.UnsupportedMediaType(name, "no %s header: send one of %s", rpcwire.ContentType, strings.Join(codec.ContentTypes(), ", "))
	}
	cd, err := rpcwire.Get(c.contentType)
	if err != nil {
		return errors.UnsupportedMediaType(name, "%v", err)
	}
	c.codec = cd

	var env codec.Message
	if c.endpoint == "" && len(body) > 0 {
		// An rpc codec may name the endpoint in its envelope only.
		if err := cd.Decode(body, &env, 0, nil); err != nil {
			return errors.BadRequest(name, "malformed %s request: %v", cd.String(), err)
		}
		c.merge(&env)
	}
	if c.endpoint == "" {
		return errors.BadRequest(name, "no %s header: name the endpoint (\"Type.Method\") to call", rpcwire.Endpoint)
	}
	m := r.methods[c.endpoint]
	if m == nil {
		return errors.NotFound(name, "service %s has no endpoint %s", name, c.endpoint)
	}
	stream := false
	if v := c.header[rpcwire.Stream]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.BadRequest(name, "bad %s header %q: want 1 or 0", rpcwire.Stream, v)
		}
		stream = b
	}
	switch {
	case m.stream && !stream:
		return errors.BadRequest(name, "%s is a stream endpoint: open it with Stream, not Call", c.endpoint)
	case !m.stream && stream:
		return errors.BadRequest(name, "%s is a unary endpoint: use Call, not Stream", c.endpoint)
	}

	ctx := r.ctx
	if v := c.header[rpcwire.Timeout]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.BadRequest(name, "bad %s header %q: want a Go duration such as 1.5s", rpcwire.Timeout, v)
		}
		if d <= 0 {
			return errors.Timeout(name, "the deadline of the call to %s passed before it reached the server (%s %s)", c.endpoint, rpcwire.Timeout, v)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	if m.stream {
		ctx = c.withMetadata(ctx, nil)
		return c.serveStream(ctx, m)
	}

	req := reflect.New(m.req.Elem())
	if err := cd.Decode(body, &env, 0, req.Interface()); err != nil {
		if stderrors.Is(err, codec.ErrUnsupportedType) {
			return errors.UnsupportedMediaType(name, "%s cannot decode the request of %s (%v): %v", c.contentType, c.endpoint, m.req, err)
		}
		return errors.BadRequest(name, "malformed request body for %s: %v", c.endpoint, err)
	}
	c.merge(&env)
	ctx = c.withMetadata(ctx, env.Header)

	rsp := reflect.New(m.rsp.Elem()).Interface()
	c.req = rpcRequest{
		service: c.service, endpoint: c.endpoint, contentType: c.contentType,
		header: c.header, body: req.Interface(), method: m,
	}
	if err := r.invoke(ctx, &c.req, rsp); err != nil {
		return err
	}
	return c.reply(rsp)
}

// merge takes from an envelope what the transport headers did not say.
func (c *call) merge(env *codec.Message) {
	if c.id == "" {
		c.id = env.Id
	}
	if c.service == "" {
		c.service = env.Service
	}
	if c.endpoint == "" {
		c.endpoint = env.Endpoint
	}
}

// withMetadata puts the call's metadata into ctx: the headers that are not
// reserved, then those of the envelope that the headers do not have.
func (c *call) withMetadata(ctx context.Context, extra map[string]string) context.Context {
	md := rpcwire.Metadata(c.header)
	for k, v := range extra {
		k = metadata.CanonicalKey(k)
		if rpcwire.Reserved(k) {
			continue
		}
		if _, ok := md[k]; ok {
			continue
		}
		if md == nil {
			md = make(metadata.Metadata, len(extra))
		}
		md[k] = v
	}
	if len(md) == 0 {
		return ctx
	}
	// md is new, under canonical keys, and no one else holds it: stored as
	// it is, without the copy metadata.NewContext would make.
	return context.WithValue(ctx, mdctx.Key{}, md)
}

// header returns the headers of a response.
func (c *call) responseHeader() map[string]string {
	h := make(map[string]string, 3)
	if c.contentType != "" {
		h[rpcwire.ContentType] = c.contentType
	}
	if c.id != "" {
		h[rpcwire.Id] = c.id
	}
	return h
}

// envelope fills the envelope of a message to the caller. A stream's
// messages use it under the stream's sendMu.
func (c *call) envelope(t codec.MessageType, e string) *codec.Message {
	svc := c.service
	if svc == "" {
		svc = c.r.s.opts.Name
	}
	c.env = codec.Message{Id: c.id, Type: t, Service: svc, Endpoint: c.endpoint, Error: e}
	return &c.env
}

// reply sends the response of a unary call.
func (c *call) reply(rsp any) error {
	name := c.r.s.opts.Name
	b, err := c.codec.Encode(c.envelope(codec.Response, ""), rsp)
	if err != nil {
		if stderrors.Is(err, codec.ErrUnsupportedType) {
			return errors.UnsupportedMediaType(name, "%s cannot encode the response of %s (%T): %v", c.contentType, c.endpoint, rsp, err)
		}
		return errors.InternalServerError(name, "cannot encode the response of %s as %s: %v", c.endpoint, c.contentType, err)
	}
	c.out = transport.Message{Header: c.responseHeader(), Body: b}
	err = c.sock.Send(c.r.ctx, &c.out)
	switch {
	case err == nil:
		c.answered = true
		return nil
	case stderrors.Is(err, transport.ErrMessageTooLarge):
		return errors.InternalServerError(name, "the response of %s (%d bytes) is over the transport's message size limit", c.endpoint, len(b))
	}
	c.answered = true // the caller is gone; nothing more can reach it
	c.r.s.opts.Logger.Debug("server: cannot send the response", "endpoint", c.endpoint, "error", err)
	return nil
}

// fail sends err to the caller as the call's last message.
func (c *call) fail(err error) {
	if c.answered {
		return
	}
	c.answered = true
	if _, ok := stderrors.AsType[*errors.Error](err); !ok && stderrors.Is(err, codec.ErrUnsupportedType) {
		// A stream's Recv or Send met a type the codec cannot take, and
		// the handler passed the error up.
		err = errors.UnsupportedMediaType(c.r.s.opts.Name, "%v", err)
	}
	e := errors.FromError(err)
	we := *e
	if we.Id == "" {
		we.Id = c.r.s.opts.Name
	}
	text := we.Error()
	h := c.responseHeader()
	h[rpcwire.Error] = text
	var body []byte
	if c.codec != nil {
		body, _ = c.codec.Encode(c.envelope(codec.Error, text), nil)
	}
	c.out = transport.Message{Header: h, Body: body}
	if err := c.sock.Send(c.r.ctx, &c.out); err != nil {
		c.r.s.opts.Logger.Debug("server: cannot send the error", "endpoint", c.endpoint, "error", err)
	}
}

// invoke runs the wrapped handler, turning a panic into an error.
func (r *run) invoke(ctx context.Context, req Request, rsp any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.s.opts.Logger.Error("server: handler panicked; the caller gets an internal error",
				"service", r.s.opts.Name, "endpoint", req.Endpoint(), "panic", p, "stack", string(debug.Stack()))
			err = errors.InternalServerError(r.s.opts.Name, "%s failed: the handler panicked", req.Endpoint())
		}
	}()
	err = r.handler(ctx, req, rsp)
	if e, ok := err.(*errors.Error); ok && e == nil {
		return nil // a typed nil *errors.Error is success
	}
	return err
}

// dispatch is the innermost HandlerFunc: it calls the endpoint's method.
func (r *run) dispatch(ctx context.Context, req Request, rsp any) error {
	name := r.s.opts.Name
	var m *method
	if rq, ok := req.(*rpcRequest); ok && rq.method != nil {
		m = rq.method
	} else if m = r.methods[req.Endpoint()]; m == nil {
		return errors.NotFound(name, "service %s has no endpoint %s", name, req.Endpoint())
	}
	if ctx == nil {
		ctx = r.ctx
	}
	var args [4]reflect.Value
	args[0], args[1] = m.recv, reflect.ValueOf(ctx)
	if m.stream {
		st, ok := rsp.(Stream)
		if !ok || st == nil {
			return errors.InternalServerError(name, "%s: a handler wrapper passed %T as the stream", m.name, rsp)
		}
		args[2] = reflect.ValueOf(st)
		return asError(m.fn.Call(args[:3]))
	}
	reqV, rspV := reflect.ValueOf(req.Body()), reflect.ValueOf(rsp)
	if !reqV.IsValid() || reqV.Type() != m.req || reqV.IsNil() {
		return errors.InternalServerError(name, "%s: a handler wrapper passed a request body of type %T, want %v", m.name, req.Body(), m.req)
	}
	if !rspV.IsValid() || rspV.Type() != m.rsp || rspV.IsNil() {
		return errors.InternalServerError(name, "%s: a handler wrapper passed a response of type %T, want %v", m.name, rsp, m.rsp)
	}
	args[2], args[3] = reqV, rspV
	return asError(m.fn.Call(args[:]))
}

func asError(out []reflect.Value) error {
	err, _ := out[0].Interface().(error)
	return err
}

// errStreamClosed is returned by Send on a stream that was closed.
var errStreamClosed = fmt.Errorf("server: stream closed: %w", transport.ErrClosed)

// rpcStream is the server side of a stream.
type rpcStream struct {
	ctx  context.Context
	req  *rpcRequest
	call *call

	sendMu sync.Mutex
	enc    *rpcwire.Codec // used under sendMu
	closed atomic.Bool

	out transport.Message // used under sendMu

	recvMu sync.Mutex
	dec    *rpcwire.Codec    // used under recvMu
	in     transport.Message // used under recvMu
	env    codec.Message     // used under recvMu
}

func (st *rpcStream) Context() context.Context { return st.ctx }
func (st *rpcStream) Request() Request         { return st.req }

func (st *rpcStream) Send(msg any) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.closed.Load() {
		return errStreamClosed
	}
	c := st.call
	b, err := st.enc.Encode(c.envelope(codec.Response, ""), msg)
	if err != nil {
		return fmt.Errorf("server: stream %s: encode: %w", c.endpoint, err)
	}
	st.out = transport.Message{Body: b}
	return c.sock.Send(st.ctx, &st.out)
}

func (st *rpcStream) Recv(msg any) error {
	st.recvMu.Lock()
	defer st.recvMu.Unlock()
	c := st.call
	st.in = transport.Message{}
	if err := c.sock.Recv(st.ctx, &st.in); err != nil {
		return err
	}
	err := st.dec.Decode(st.in.Body, &st.env, 0, msg)
	st.in = transport.Message{}
	if err != nil {
		if stderrors.Is(err, codec.ErrUnsupportedType) {
			return fmt.Errorf("server: stream %s: %w", c.endpoint, err)
		}
		return errors.BadRequest(c.r.s.opts.Name, "stream %s: malformed message: %v", c.endpoint, err)
	}
	return nil
}

// Close ends the stream towards the client: it reads io.EOF after the
// messages sent so far. Recv still works.
func (st *rpcStream) Close() error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.closed.Swap(true) {
		return nil
	}
	return st.call.sock.CloseSend()
}

// serveStream runs a stream endpoint; an error it returns ends the stream
// as its last message.
func (c *call) serveStream(ctx context.Context, m *method) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A handler that waits on its ctx (pushing rare events, say) learns
	// that the client went away from the socket, not from Send or Recv.
	if ds, ok := c.sock.(transport.DoneSocket); ok {
		done := ds.Done()
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done(): // the handler returned
			}
		}()
	}
	// Send and Recv may run at once: Send encodes with the call's codec,
	// Recv decodes with one of its own.
	dec, err := rpcwire.NewCodec(c.contentType)
	if err != nil {
		return errors.UnsupportedMediaType(c.r.s.opts.Name, "%v", err)
	}
	rq := &rpcRequest{
		service: c.service, endpoint: c.endpoint, contentType: c.contentType,
		header: c.header, stream: true, method: m,
	}
	st := &rpcStream{ctx: ctx, req: rq, call: c, enc: c.codec, dec: dec}
	err = c.r.invoke(ctx, rq, st)
	// The handler is done: a Send it left running (on a goroutine of its
	// own, to a client that stopped reading) gives up now rather than hold
	// sendMu below until the client reads.
	cancel()
	st.sendMu.Lock()
	closed := st.closed.Swap(true) // later Sends fail; the codec is the call's again
	st.sendMu.Unlock()
	if closed {
		c.answered = true
		if err != nil {
			c.r.s.opts.Logger.Debug("server: a stream handler failed after closing its stream; the client saw a clean end",
				"endpoint", c.endpoint, "error", err)
		}
	}
	if err == io.EOF {
		return nil // the client's end, passed up by the handler
	}
	return err
}
