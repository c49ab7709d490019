// Package server is the serving side of go-micro's RPC: it turns the
// methods of Go values into endpoints, serves calls and streams arriving
// over a transport, delivers broker events to subscriber functions, and
// keeps the service registered in the registry while it runs.
//
// [New] builds the rpc server (String "rpc"); it needs a Transport and a
// Registry, and a Broker once there are subscribers:
//
//	srv, err := server.New(
//		server.Name("greeter"),
//		server.Transport(tr), server.Registry(reg),
//	)
//	err = srv.Handle(srv.NewHandler(new(Say)))
//	err = srv.Start(ctx)
//	defer srv.Stop(ctx)
//
// # Handlers
//
// [NewHandler] makes every exported method of a value an endpoint named
// "Type.Method", Type being the value's type name without the pointer (or
// [HandlerName]). A method has one of two shapes:
//
//	func (s *Say) Hello(ctx context.Context, req *Request, rsp *Response) error
//	func (s *Say) Chat(ctx context.Context, stream server.Stream) error
//
// Request and response are pointer types the call's codec can decode and
// encode: structs, proto messages, maps, []byte (for
// application/octet-stream), and so on. The server allocates both, decodes
// the request into the first, calls the method and encodes the second.
// Any other shape, and a value with no exported method, makes Handle fail
// with an error wrapping [ErrInvalidHandler] that names each bad method and
// what is wrong with it; a name handled twice, and Handle after Start,
// fail too ([ErrStarted]).
//
// # Endpoint shapes in the registry
//
// Each endpoint is published as a registry.Endpoint whose Request and
// Response are registry.Value trees, so tools can show and fill in a
// request without the .proto. The root Value has the type's short Name and
// its qualified Type (the proto full name, "greeter.Request", or the Go
// type, "greeter.Request"); its Values are the fields:
//
//   - proto messages: Name is the field's JSON name; Type is the scalar
//     kind ("string", "int64", "bool", "bytes", ...), or the full name of
//     the message or enum; a message field lists its own fields.
//   - Go values: Name is the json tag's name (else the field name; fields
//     tagged "-" and unexported ones are left out, embedded structs are
//     flattened as encoding/json does); Type is the Go type ("string",
//     "int64", "time.Time", "pkg.Address", "[]byte", "any"), pointers
//     left out. Types that marshal themselves (json.Marshaler,
//     encoding.TextMarshaler) are not opened.
//   - Repeated fields and slices have Type "[]" + the element's type, maps
//     "map[" + key + "]" + value ("map[string]int64"); when the element or
//     value is a message or struct, its fields are the field's Values.
//
// A recursive type is opened once per path: where a type appears again
// inside itself its Value carries the name and type but no Values, and no
// tree is deeper than 10 levels, so a Value never contains itself. Stream
// endpoints have Metadata {"stream": "true"} and no Request or Response,
// unless [StreamTypes] declares their kind and message types (as generated
// code does): then "stream" holds the kind and both shapes are published.
// [EndpointMetadata] adds metadata of its own. Endpoints are sorted by name.
//
// # Protocol
//
// The server speaks the protocol of the internal rpcwire package, which
// the rpc client speaks too; each accepted transport stream is one call.
// Unary: one request message (Content-Type, Micro-Service, Micro-Endpoint,
// Micro-Id, an optional Timeout, and metadata as further headers), then one
// response message with Content-Type (as in the request) and Micro-Id
// (echoed), and either the encoded response or, on failure, a Micro-Error
// header holding the JSON of an errors.Error. Stream: an opening message
// with Micro-Stream: 1 and no body, then bodies both ways; the server
// ends with a last message carrying Micro-Error when the handler failed,
// then closes, and a clean end is the transport's io.EOF.
//
// Header keys are read case-insensitively. The Timeout header is a Go
// duration (time.ParseDuration, "1.5s"): the handler's context ends after
// it. Headers that are not reserved by the protocol reach the handler as
// metadata (metadata.FromContext). Content-Type picks the codec; every
// built-in one is available (json, proto, jsonrpc, protorpc, bytes). With
// the rpc codecs (jsonrpc, protorpc), whose bodies carry an envelope,
// responses fill it (id, type, service, endpoint, error), and a request's
// id, service, endpoint and header entries are taken from the envelope
// where the transport headers do not give them (the headers win).
//
// # Errors the caller gets
//
// Every failure reaches the caller as one error message whose
// errors.Error has Id = the service name unless the handler's own error
// names another:
//
//   - no codec for the Content-Type (or none given): 415 Unsupported Media
//     Type; a codec that cannot take the endpoint's Go types (a plain struct
//     with application/protobuf) gives 415 too, for the request, the
//     response, or a stream message whose Recv or Send error the handler
//     returns;
//   - unknown endpoint: 404 Not Found, naming service and endpoint;
//   - missing endpoint, malformed body, bad Timeout or Micro-Stream header,
//     Call on a stream endpoint or Stream on a unary one: 400 Bad Request
//     saying which;
//   - a Timeout that is zero or negative: 408, without running the handler;
//   - a handler's error: errors.FromError of it (so an *errors.Error keeps
//     its code, a context deadline becomes 408, anything else 500);
//   - a panicking handler: 500; the panic and its stack are logged through
//     slog and the server goes on serving;
//   - a response too large for the transport: 500.
//
// # Wrappers
//
// [HandlerWrapper]s wrap every endpoint call, the first given outermost.
// For a stream the HandlerFunc's rsp is the [Stream] and Request.Body is
// nil. [SubscriberWrapper]s wrap every event delivery the same way.
//
// # Debug
//
// Every server serves, and publishes, the Debug handler: Debug.Health
// answers {"status": "ok"} and Debug.Stats answers [StatsResponse] (start
// time, uptime, heap bytes in use, goroutines, and the calls and failed
// calls counted since New). Their request and response types are plain
// structs with JSON tags, so they are called with application/json (or
// jsonrpc); application/protobuf gets 415.
//
// # Subscribers
//
// [NewSubscriber] takes a func(ctx context.Context, msg *T) error and a
// topic (and [Queue] to join a queue group). On Start the server connects
// its Broker, if it has subscribers, and subscribes each; an event is
// decoded by its Content-Type header into a new T, its other headers reach
// ctx as metadata, and the function's nil acks it while an error nacks it
// (what a nack does is the broker's business). An event that cannot be
// decoded is logged and, since redelivering it cannot help, rejected when
// the broker's events have Reject ([broker.Rejecter]: rabbitmq sends it to
// its dead-letter exchange, JetStream terminates it) and acked otherwise. A
// panicking subscriber is logged and its event nacked. Stop unsubscribes
// and disconnects the broker.
//
// # Lifecycle
//
// Start checks the options, listens on Address, subscribes, starts
// serving and then registers the service: its name, version, endpoints and
// one node whose Id is Options.Id (by default Name-<random UUID>), whose
// address is Advertise or else the listener's (an unspecified host such as
// 0.0.0.0 or :: is replaced by the machine's first private IPv4 address, or
// 127.0.0.1) and whose metadata is Options.Metadata plus "transport",
// "broker", "registry", "server" ("rpc") and "protocol" ("mucp"). While
// the server runs, Options().Address is the bound address.
//
// A registry that cannot be reached does not fail Start: the server logs
// one warning naming the registry and the address being registered, keeps
// serving, and retries (backing off from half a second up to
// RegisterInterval); when a registration works again it logs one info
// line. The registration is renewed every RegisterInterval with the TTL
// RegisterTTL, which must be longer.
//
// Start's ctx bounds Start's own work (listening, subscribing, the first
// registration); calls get contexts of their own, which end with their
// Timeout or when Stop gives up on them.
//
// Stop stops the renewals, deregisters (logging a failure), and only then
// stops accepting calls, so that callers stop picking the node before it
// refuses them; it closes the streams that have not sent their request
// yet, waits for the calls and streams in progress until its ctx ends,
// unsubscribes, disconnects the broker, and returns ctx's error if calls
// had to be cut short (their contexts end then). A Stop that comes while
// Start runs waits for the Start (returning ctx's error if ctx ends first)
// and then stops the server. A server may be started again after Stop.
// Start on a running server returns [ErrStarted], Stop on a stopped one
// [ErrNotStarted].
//
// Every goroutine the server starts ends by Stop. Server methods are safe
// for concurrent use, and handlers are called concurrently, one goroutine
// per call; a Stream's Send and Recv may be used from two goroutines (one
// each).
package server
