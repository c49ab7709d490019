// Package jsonrpc is the codec for "application/json-rpc": each message is
// a self-delimiting JSON-RPC envelope, so many requests and responses can
// follow one another on one stream.
//
// Import it for its side effect to make the content type available through
// [codec.Lookup]:
//
//	import _ "github.com/openmicro/go-micro/codec/jsonrpc"
//
// # Wire format
//
// Each message is one JSON object and a newline, written in a single Write
// call. Requests and events have the JSON-RPC 1.0 request shape, responses
// and errors the response shape (as net/rpc/jsonrpc writes them):
//
//	{"id":"1","method":"Say.Hello","params":[{"name":"John"}],"service":"greeter","header":{"k":"v"}}
//	{"id":"1","result":{"msg":"Hello John"},"error":null}
//	{"id":"1","result":null,"error":"{\"code\":404,\"detail\":\"not found\"}"}
//
// "method" carries [codec.Message].Endpoint and "params" holds the body as
// its only element ([] for none). "result" holds the body of a response
// (null for none, and always null when "error" is set); "error" carries
// Message.Error as a string. "id" is Message.Id as a string, or null when it
// is empty. "service" and "header" are extensions that carry
// Message.Service and Message.Header; they are left out when empty and
// other JSON-RPC peers ignore them. Bodies are encoded as the json codec
// encodes them (protojson for proto messages, []byte as raw JSON), see
// [github.com/openmicro/go-micro/codec/json].
//
// Reading is tolerant of JSON-RPC 2.0 peers: a numeric id is taken as its
// text (and the response to such a request, written by the same codec,
// carries the id back as the same number), a "jsonrpc" member is ignored,
// "params" may be an object (the body itself, for by-name parameters), and
// an "error" that is not a string (a 2.0 error object) is kept as its
// compact JSON text. An id that is neither a string nor a number, and
// "params" with more than one element (a body is one value), are errors.
// JSON carries only valid UTF-8: invalid bytes in an id, endpoint or header
// are written as U+FFFD.
//
// # Reading
//
// ReadHeader reads the next envelope and fills every field of the message:
// a message with "method" or "params" is a [codec.Request] (a [codec.Event]
// when the caller expects one), any other a [codec.Response], or a
// [codec.Error] when "error" is set. When the caller expects a request or
// event and gets a response, or the other way round, ReadHeader returns an
// error wrapping [codec.ErrInvalidMessage]; a zero MessageType accepts both.
// At the end of the input it returns io.EOF. ReadBody then decodes the body
// into v; a nil v discards it, and a missing or null body leaves v
// unchanged. A body left unread is skipped by the next ReadHeader. Malformed
// input gives errors wrapping [codec.ErrInvalidMessage].
//
// A codec is not safe for concurrent use.
package jsonrpc
