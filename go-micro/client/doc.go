// Package client is the calling side of go-micro: it sends requests to the
// nodes of a service, opens streams to them and publishes events.
//
// The package holds the [Client] interface, its requests, messages, options
// and wrappers, and the rpc client built by [New]: a [selector.Selector]
// picks the node, a [transport.Transport] carries the call, a codec chosen
// by the request's content type encodes the bodies, and a [broker.Broker]
// carries events. The built-in codecs (json, protobuf, json-rpc,
// proto-rpc, octet-stream) are imported by this package; nothing else
// needs a blank import.
//
//	c, err := client.New(client.Selector(sel), client.Transport(tr))
//	req := c.NewRequest("greeter", "Say.Hello", &pb.Request{Name: "John"})
//	rsp := new(pb.Response)
//	err = c.Call(ctx, req, rsp)
//
// # Protocol
//
// The wire protocol is the one written down in
// github.com/openmicro/go-micro/internal/rpcwire, which the rpc server
// follows too. A unary call is one transport stream: the client sends one
// message with the headers Content-Type, Micro-Service, Micro-Endpoint,
// Micro-Id (16 random bytes in hex, new for each call), Timeout (the time
// left until the call's deadline as a Go duration, "4.999s", truncated to
// the millisecond and at least 1ms) and the ctx's metadata under canonical
// keys (metadata that would override a protocol header is dropped), and the
// encoded body; it half-closes and reads one answer. An answer with a
// Micro-Error header is that error; otherwise its body is decoded into the
// response (and, for the envelope codecs json-rpc and proto-rpc, an error in
// the envelope is returned as the error). A stream opens with the same
// headers plus Micro-Stream: 1 and no body; each later message carries a
// body alone. An event is a broker message with Content-Type, Micro-Topic,
// Micro-Id and metadata headers.
//
// # Choosing nodes and retrying
//
// Call sends to the addresses given with [WithAddress] when there are any,
// in order, one address per attempt (and round again if retries outnumber
// them), without asking the selector. Otherwise it calls Select once and
// takes a node from its Next for each attempt; a call without selector and
// address fails with a 500 saying so. Select failing with
// [selector.ErrNotFound] gives a 404 (`service "greeter" not found`),
// with [selector.ErrNoneAvailable] or anything else a 503 naming the
// service. Every attempt's outcome goes to the selector's Mark (not for
// WithAddress) as what it says about the node: the error when the client
// could not reach the node or lost it (a 503 the client made), nil when the
// node answered, even with an error (a handler's 404 or 500 says nothing
// against the node), and no mark at all when the caller's ctx ended first.
//
// A call makes at most 1 + Retries attempts (default [DefaultRetries]).
// After a failed attempt the Retry function (default [RetryOnError])
// decides; it is given the number of the retry it would start (1 for the
// first), and so is the Backoff function (default [ExponentialBackoff]),
// whose wait ends early when ctx ends. RetryOnError retries 408, 500, 502,
// 503 and 504, never once ctx is done: in practice a node that cannot be
// dialled or that went away (503), a handler's failure (500) and upstream
// errors, but not an answer the client cannot decode (its own 500: the
// handler ran). When Next has no node left for a retry, the last attempt's error
// is returned.
//
// Each attempt runs through the call wrappers (the client's [WrapCall],
// then the call's [WithCallWrapper], the first outermost) around the base
// [CallFunc]; client wrappers ([Wrap]) wrap the whole client, the first
// outermost.
//
// # Timeouts
//
// A call, retries and backoffs included, ends at the earlier of its ctx's
// deadline and RequestTimeout from its start (default
// [DefaultRequestTimeout]; 0 or less leaves the ctx alone to bound it). The
// server is told the time left in the Timeout header.
//
// # Errors
//
// Call returns nil or an *errors.Error: a server's error comes back as it
// was sent, code intact (an error a call wrapper makes up is passed on as
// it is). The client's own errors have the id
// "go.micro.client":
//
//	404  the selector does not know the service
//	503  no node available; a node could not be dialled; the node closed the
//	     stream (or the connection) before answering (retried)
//	408  the call's deadline passed (ctx or RequestTimeout), naming the
//	     service and endpoint
//	499  ctx was canceled
//	413  the request (or the answer) is over the transport's message size
//	     limit (not retried; the transport stays usable)
//	415  no codec for the request's content type (the caller's mistake:
//	     nothing is sent, no node is marked, not retried)
//	400  the codec cannot encode the request body; a nil request (not
//	     retried)
//	500  the answer does not decode (or names a content type without a
//	     codec; not retried); no selector and no address
//
// # Streams
//
// Stream chooses a node as Call does and retries only the opening (dial
// and opening message), marking each try. RequestTimeout does not bound
// streams, which may live long: only ctx does, and a ctx deadline is sent
// as Timeout. Call wrappers do not apply to streams. The [Stream]'s
// Context is a child of ctx that ends at Close, when Recv returns the
// server's end of the stream, or with ctx.
//
// Send encodes a message and sends it; it returns [ErrClosed] after Close,
// io.EOF once the server has ended the stream (Recv tells how), a 400 for a
// value the codec cannot encode and a 413 for a message over the size
// limit (the stream stays usable after both). Recv returns io.EOF when the
// server ended the stream cleanly and the server's *errors.Error when it
// ended with one, and the same on every later Recv; a 408 or 499 when ctx
// ends; a 503 when the stream broke. CloseSend half-closes. Close is
// idempotent, releases the stream and makes Send and Recv return ErrClosed.
//
// A stream holds its transport stream until Close, the server's end or
// ctx's end; call Close when done with it.
//
// # Publish
//
// Publish needs Options.Broker ([ErrNoBroker] otherwise); it encodes the
// payload with the codec of the message's content type and publishes it
// on the message's topic. Its errors are wrapped with %w.
//
// # Concurrency
//
// A Client is safe for concurrent use; it keeps no connection of its own
// (the transport pools them) and reuses codec buffers between calls. A
// Stream may be used by one goroutine sending and another receiving at
// the same time, each with its own codec; Close may be called from any
// goroutine.
package client
