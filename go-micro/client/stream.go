package client

import (
	"context"
	stderrors "errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/transport"
)

// Stream opens a stream to a node of req's service: it chooses nodes as
// Call does and retries only the opening (dial and opening message), with
// the outcome of each try passed to the selector's Mark. Only ctx bounds
// the stream; RequestTimeout does not. Call wrappers do not apply.
func (c *rpcClient) Stream(ctx context.Context, req Request, opts ...CallOption) (Stream, error) {
	if req == nil {
		return nil, errNilRequest
	}
	co := c.callOptions(opts)
	if ctx.Err() != nil {
		return nil, contextError(ctx, req)
	}
	if err := checkCodec(req.ContentType()); err != nil {
		return nil, codecError(req, err)
	}
	next, marked, err := c.nodes(ctx, req, &co, false)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.wait(ctx, req, co.Backoff(ctx, req, attempt), last); err != nil {
				return nil, err
			}
		}
		node, err := next()
		if err != nil {
			if last != nil {
				return nil, last
			}
			return nil, selectError(ctx, req, err)
		}
		s, err := c.open(ctx, node, req)
		if marked {
			c.mark(req, node, err, false)
		}
		if err == nil {
			return s, nil
		}
		last = err
		if attempt >= co.Retries || !co.Retry(ctx, req, attempt+1, err) {
			return nil, err
		}
	}
}

// open dials node and sends the opening message of a stream.
func (c *rpcClient) open(ctx context.Context, node *registry.Node, req Request) (*rpcStream, error) {
	send, err := rpcwire.Get(req.ContentType())
	if err != nil {
		return nil, codecError(req, err)
	}
	recv, err := rpcwire.Get(req.ContentType())
	if err != nil {
		return nil, codecError(req, err)
	}
	sock, err := c.opts.Transport.Dial(ctx, node.Address)
	if err != nil {
		rpcwire.Put(send)
		rpcwire.Put(recv)
		if ctx.Err() != nil {
			return nil, contextError(ctx, req)
		}
		return nil, errors.ServiceUnavailable(errorId, "stream to %s: dialling %s: %v", target(req), node.Address, err)
	}
	id := newId()
	if err := sock.Send(ctx, &transport.Message{Header: requestHeader(ctx, req, id, true)}); err != nil {
		_ = sock.Close()
		rpcwire.Put(send)
		rpcwire.Put(recv)
		return nil, transportError(ctx, req, node.Address, "send", err)
	}
	s := &rpcStream{
		parent: ctx,
		req:    req,
		sock:   sock,
		addr:   node.Address,
		send:   send,
		recv:   recv,
	}
	s.sendHdr = codec.Message{Id: id, Type: codec.Request, Service: req.Service(), Endpoint: req.Endpoint()}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.stop = context.AfterFunc(s.ctx, func() { _ = sock.Close() })
	return s, nil
}

// rpcStream is a client stream. Send touches only the send side (send,
// sendHdr, sendMsg), Recv only the receive side, so one goroutine may send
// while another receives; closed, ended and finish are shared.
type rpcStream struct {
	parent context.Context // the caller's
	ctx    context.Context // ends with the stream
	cancel context.CancelFunc
	stop   func() bool // stops the AfterFunc that closes sock when ctx ends
	req    Request
	sock   transport.Socket
	addr   string

	send    *rpcwire.Codec
	sendHdr codec.Message
	sendMsg transport.Message

	recv    *rpcwire.Codec
	recvHdr codec.Message
	recvMsg transport.Message
	recvErr error // what every Recv returns once the stream ended

	closed atomic.Bool // Close was called
	ended  atomic.Bool // the server ended the stream
	once   sync.Once
}

func (s *rpcStream) Context() context.Context { return s.ctx }
func (s *rpcStream) Request() Request         { return s.req }

// Send encodes msg and sends it as one body-only message. It returns
// ErrClosed after Close, io.EOF once the server has ended the stream (Recv
// then says how), a 400 for a value the codec cannot encode and a 413 for
// a message over the transport's limit; after those two the stream stays
// usable.
func (s *rpcStream) Send(msg any) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.ended.Load() {
		return io.EOF
	}
	body, err := s.send.Encode(&s.sendHdr, msg)
	if err != nil {
		return encodeError(s.req, err)
	}
	s.sendMsg = transport.Message{Body: body}
	err = s.sock.Send(s.ctx, &s.sendMsg)
	s.sendMsg = transport.Message{}
	if err == nil {
		return nil
	}
	switch {
	case s.closed.Load():
		return ErrClosed
	case s.parent.Err() != nil:
		return contextError(s.parent, s.req)
	case stderrors.Is(err, transport.ErrMessageTooLarge):
		return transportError(s.parent, s.req, s.addr, "send", err)
	case s.ended.Load(), stderrors.Is(err, transport.ErrClosed):
		return io.EOF
	}
	return transportError(s.parent, s.req, s.addr, "send", err)
}

// Recv receives and decodes one message. Once the server ended the stream,
// with io.EOF or its *errors.Error, every later Recv returns the same.
func (s *rpcStream) Recv(msg any) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.recvErr != nil {
		return s.recvErr
	}
	s.recvMsg = transport.Message{}
	if err := s.sock.Recv(s.ctx, &s.recvMsg); err != nil {
		switch {
		case s.closed.Load():
			return ErrClosed
		case s.parent.Err() != nil:
			return s.end(contextError(s.parent, s.req))
		case stderrors.Is(err, io.EOF):
			return s.end(io.EOF)
		}
		return s.end(transportError(s.parent, s.req, s.addr, "receive", err))
	}
	if e, ok := s.recvMsg.Header[rpcwire.Error]; ok {
		s.recvMsg = transport.Message{}
		return s.end(errors.Parse(e))
	}
	err := decodeResponse(s.recv, s.req, &s.recvMsg, &s.recvHdr, msg)
	s.recvMsg = transport.Message{}
	return err
}

// end records err as the stream's end, releases the stream and returns
// err.
func (s *rpcStream) end(err error) error {
	s.recvErr = err
	s.ended.Store(true)
	s.finish()
	return err
}

// CloseSend half-closes: the server reads the end of the stream after the
// messages sent so far. Recv goes on working.
func (s *rpcStream) CloseSend() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.ended.Load() {
		return nil
	}
	if err := s.sock.CloseSend(); err != nil {
		switch {
		case s.closed.Load():
			return ErrClosed
		case s.ended.Load():
			return nil
		}
		return transportError(s.parent, s.req, s.addr, "close send", err)
	}
	return nil
}

// Close ends the stream and cancels its Context. It is idempotent and safe
// to call while Send or Recv run; they then return ErrClosed.
func (s *rpcStream) Close() error {
	s.closed.Store(true)
	s.finish()
	return nil
}

func (s *rpcStream) finish() {
	s.once.Do(func() {
		s.stop()
		s.cancel()
		_ = s.sock.Close()
	})
}
