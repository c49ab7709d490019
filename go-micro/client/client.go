package client

import (
	"context"
	"errors"

	"github.com/openmicro/go-micro/registry"
)

// ErrClosed is returned by Send and Recv on a stream that was closed.
var ErrClosed = errors.New("client: stream closed")

// Client makes calls to services, opens streams to them and publishes
// events. Implementations are safe for concurrent use.
type Client interface {
	// NewRequest returns a request for the endpoint ("Type.Method") of the
	// service, with body as its request message.
	NewRequest(service, endpoint string, body any, opts ...RequestOption) Request
	// NewMessage returns an event for the topic with payload as its body.
	NewMessage(topic string, payload any, opts ...MessageOption) Message
	// Call sends req to a node of its service and decodes the response
	// into rsp. A failure is returned as an *errors.Error whose code says
	// what happened (see the package doc).
	Call(ctx context.Context, req Request, rsp any, opts ...CallOption) error
	// Stream opens a bidirectional stream to the endpoint of req. The
	// stream lives until Close, the server's end, or ctx's end.
	Stream(ctx context.Context, req Request, opts ...CallOption) (Stream, error)
	// Publish encodes msg with its content type's codec and publishes it on
	// the broker.
	Publish(ctx context.Context, msg Message, opts ...PublishOption) error
	// Options returns the options the client was built with.
	Options() Options
	// String names the implementation, e.g. "rpc".
	String() string
}

// Request is a call's target and request message.
type Request interface {
	// Service is the name of the service called.
	Service() string
	// Endpoint is the endpoint called, "Type.Method".
	Endpoint() string
	// ContentType is the content type the body is encoded with.
	ContentType() string
	// Body is the request message.
	Body() any
	// Stream reports whether the request opens a stream.
	Stream() bool
}

// Message is an event to publish.
type Message interface {
	// Topic is the topic published to.
	Topic() string
	// ContentType is the content type the payload is encoded with.
	ContentType() string
	// Payload is the event's body before encoding.
	Payload() any
}

// Stream is a bidirectional stream to an endpoint. Send and Recv may be
// called from two goroutines at once (one sending, one receiving), but two
// concurrent Sends or two concurrent Recvs are not safe.
type Stream interface {
	// Context is the stream's context; it ends when the stream ends.
	Context() context.Context
	// Request is the request that opened the stream.
	Request() Request
	// Send encodes and sends one message.
	Send(msg any) error
	// Recv receives and decodes one message. It returns io.EOF when the
	// server ended the stream cleanly, and the server's error (an
	// *errors.Error) when it ended with one.
	Recv(msg any) error
	// CloseSend tells the server no more messages will be sent; Recv goes
	// on working.
	CloseSend() error
	// Close ends the stream in both directions and releases it. It is
	// idempotent.
	Close() error
}

// CallFunc performs one attempt of a call on a chosen node. It is what a
// [CallWrapper] wraps.
type CallFunc func(ctx context.Context, node *registry.Node, req Request, rsp any, opts CallOptions) error

// CallWrapper is middleware around each attempt of a call, after the node
// is chosen (per-attempt logging, metrics, tracing).
type CallWrapper func(CallFunc) CallFunc

// Wrapper is middleware around a whole Client (auth headers, logging,
// caching): it returns a Client that usually embeds the one given and
// overrides some methods.
type Wrapper func(Client) Client
