// Package json is the codec for "application/json": the body alone, as JSON,
// with no envelope. The header (id, endpoint, error, metadata) travels in the
// transport's headers, so ReadHeader fills nothing and reads nothing.
//
// Import it for its side effect to make the content type available through
// [codec.Lookup]:
//
//	import _ "github.com/openmicro/go-micro/codec/json"
//
// # Bodies
//
// Write encodes the body as one JSON value followed by a newline, in a
// single Write call on the connection; a nil body writes nothing. Values
// implementing proto.Message are encoded with protojson (lowerCamelCase
// field names, unpopulated fields left out), so handlers with protobuf
// request and response types can be called with JSON. []byte, *[]byte and
// json.RawMessage hold JSON text that is written as it is, after checking
// that it is one valid JSON value (an empty one writes nothing); this lets a
// gateway pass a body through without decoding it. Any other value is
// encoded with encoding/json.
//
// ReadBody decodes the next JSON value on the connection, so several bodies
// may follow one another. proto.Message targets are decoded with protojson,
// which ignores unknown fields: a peer built from a newer .proto with more
// fields can still talk to an older one. *[]byte and *json.RawMessage
// targets receive the JSON text of the value. A nil target discards the
// value. A target that can take no value (not a pointer, a nil pointer)
// gives an error wrapping [codec.ErrUnsupportedType], and the value is
// consumed all the same, so the next ReadBody reads the next value. At the
// end of the input ReadBody returns io.EOF (or nil for a nil
// target, as there is nothing to discard). Malformed or truncated JSON, and
// JSON that does not fit the target, give an error wrapping
// [codec.ErrInvalidMessage] and the parser's error.
//
// UnmarshalBody ([codec.BodyUnmarshaler]) decodes one whole body held in
// memory as ReadBody would, without a stream decoder; content after the
// value is refused with [codec.ErrInvalidMessage]. The client and server
// decode the messages of a transport with it.
//
// [Marshal] and [Unmarshal] encode and decode one body the same way, for
// code that holds a body outside a codec (an HTTP gateway, for example).
//
// A codec is not safe for concurrent use.
package json
