package server

import (
	"context"
	"errors"
)

var (
	// ErrInvalidHandler is wrapped by Handle's error for a handler with no
	// method of a usable shape, or a method of the wrong shape.
	ErrInvalidHandler = errors.New("server: invalid handler")
	// ErrInvalidSubscriber is wrapped by Subscribe's error for a function
	// of the wrong shape or an invalid topic.
	ErrInvalidSubscriber = errors.New("server: invalid subscriber")
	// ErrStarted is returned by Handle, Subscribe and Start once the server
	// has started.
	ErrStarted = errors.New("server: already started")
	// ErrNotStarted is returned by Stop on a server that is not running.
	ErrNotStarted = errors.New("server: not started")
)

// Server serves a service's handlers and subscribers: it listens on the
// transport, registers the service with the registry while it runs, and
// subscribes its subscribers on the broker.
type Server interface {
	// Handle adds a handler (built by NewHandler). Each endpoint name may
	// be added once.
	Handle(h Handler) error
	// NewHandler builds a Handler from a value whose exported methods are
	// the endpoints; see the package doc for their shapes.
	NewHandler(h any, opts ...HandlerOption) Handler
	// Subscribe adds a subscriber (built by NewSubscriber).
	Subscribe(s Subscriber) error
	// NewSubscriber builds a Subscriber from a function
	// func(context.Context, *T) error for events on topic.
	NewSubscriber(topic string, fn any, opts ...SubscriberOption) Subscriber
	// Start listens, subscribes and registers; it returns once the server
	// accepts calls. A registry that cannot be reached does not fail Start:
	// the server logs it and keeps trying.
	Start(ctx context.Context) error
	// Stop deregisters first, then stops accepting, waits for the calls in
	// progress until ctx ends, unsubscribes and closes. It returns ctx's
	// error when calls were still running at its end (they are then
	// abandoned; unsubscribing then still gets up to 5 seconds). During a
	// Start it waits for the Start, then stops.
	Stop(ctx context.Context) error
	// Options returns the server's options.
	Options() Options
	// String names the implementation, e.g. "rpc".
	String() string
}

// Handler is a set of endpoints built from a value by NewHandler.
type Handler interface {
	// Name is the handler's name, the "Type" in "Type.Method".
	Name() string
	// Handler is the value the handler was built from.
	Handler() any
	// Endpoints describes the endpoints, with their request and response
	// shapes, as published in the registry.
	Endpoints() []*Endpoint
	// Err is the error NewHandler found in the value, returned by Handle.
	Err() error
}

// Subscriber is a function subscribed to a topic, built by NewSubscriber.
type Subscriber interface {
	Topic() string
	Queue() string
	Subscriber() any
	// Err is the error NewSubscriber found, returned by Subscribe.
	Err() error
}

// Request is a call as a handler wrapper sees it.
type Request interface {
	// Service is the service name the caller asked for.
	Service() string
	// Endpoint is "Type.Method".
	Endpoint() string
	// ContentType is the request's content type.
	ContentType() string
	// Header holds the request's headers, metadata included.
	Header() map[string]string
	// Body is the decoded request message of a unary call; nil for a
	// stream.
	Body() any
	// Stream reports whether the call is a stream; the rsp a HandlerFunc
	// receives is then the Stream.
	Stream() bool
}

// Stream is the server side of a stream.
type Stream interface {
	// Context is the call's context.
	Context() context.Context
	// Request is the call that opened the stream.
	Request() Request
	// Send encodes and sends one message to the client.
	Send(msg any) error
	// Recv receives and decodes one message; io.EOF once the client
	// half-closed.
	Recv(msg any) error
	// Close ends the stream; returning from the handler does it too.
	Close() error
}

// Message is an event as a subscriber wrapper sees it.
type Message interface {
	Topic() string
	ContentType() string
	Header() map[string]string
	// Payload is the decoded event, the *T the subscriber function takes.
	Payload() any
}

// HandlerFunc is one endpoint call: rsp is the response message for a
// unary call, and the Stream for a stream.
type HandlerFunc func(ctx context.Context, req Request, rsp any) error

// HandlerWrapper is middleware around every endpoint call.
type HandlerWrapper func(HandlerFunc) HandlerFunc

// SubscriberFunc is one event delivery.
type SubscriberFunc func(ctx context.Context, msg Message) error

// SubscriberWrapper is middleware around every event delivery.
type SubscriberWrapper func(SubscriberFunc) SubscriberFunc
