// Package codec encodes and decodes the messages of go-micro's RPC and
// pub/sub on a byte stream. A codec is chosen by the Content-Type header of
// the request: application/json, application/protobuf,
// application/json-rpc, application/proto-rpc and application/octet-stream
// are built in (sub-packages json, proto, jsonrpc, protorpc and bytes) and
// register themselves under those content types; [Lookup] of any other
// content type is an error naming the ones registered.
//
// A [Codec] frames messages on the io.ReadWriteCloser it is given: Write
// writes a header and a body, and ReadHeader then ReadBody read them back
// in the same order. Codecs whose wire format has no envelope (json, proto,
// bytes) leave the header to the transport's headers and write the body
// alone; the rpc codecs (jsonrpc, protorpc) carry id, endpoint and error in
// their own envelope. A Codec is not safe for concurrent use; decoders return
// an error for malformed input and never panic.
//
// A codec may be kept for the life of a connection whose buffer is refilled
// for each message (write a message, read it, Reset the buffer, write the
// next): every codec reads each message afresh. After ReadHeader fails with
// an error wrapping ErrInvalidMessage on a stream of several messages, the
// framing is lost (the rest of the stream may be the body of a frame that
// was refused); close the connection rather than read on.
package codec

import (
	"errors"
	"io"
)

var (
	// ErrInvalidMessage is returned (wrapped) by decoders for malformed input.
	ErrInvalidMessage = errors.New("codec: invalid message")
	// ErrUnsupportedType is returned (wrapped) by Write and ReadBody when a
	// codec cannot encode or decode a value of the given Go type (for
	// example a struct that is not a proto.Message given to the proto codec).
	ErrUnsupportedType = errors.New("codec: unsupported type")
)

// MessageType says what a message is.
type MessageType int

// The message types.
const (
	Request MessageType = iota + 1
	Response
	Event
	Error
)

func (t MessageType) String() string {
	switch t {
	case Request:
		return "request"
	case Response:
		return "response"
	case Event:
		return "event"
	case Error:
		return "error"
	}
	return "unknown"
}

// Message is the header of an RPC message or event.
type Message struct {
	// Id matches a response to its request.
	Id   string
	Type MessageType
	// Service and Endpoint name the target of a request ("Say.Hello").
	Service  string
	Endpoint string
	// Error is set on a response that failed; the body is then empty.
	Error string
	// Header holds further headers (metadata, content type, ...).
	Header map[string]string
}

// Codec reads and writes framed messages on one connection.
type Codec interface {
	// ReadHeader reads the next message's header into m; t is the type the
	// caller expects.
	ReadHeader(m *Message, t MessageType) error
	// ReadBody decodes the body of the message whose header was just read
	// into v; a nil v discards it. ReadBody consumes the body whether or not
	// it succeeds, so a failed ReadBody (the wrong Go type for v, a typed nil
	// pointer, a body that does not decode) is followed by ReadHeader for
	// the next message, never by the same body again. A target that cannot
	// take any body (not a pointer, a nil pointer) gives an error wrapping
	// ErrUnsupportedType.
	ReadBody(v any) error
	// Write writes a message: header m and body v (nil for none).
	Write(m *Message, v any) error
	// Close closes the underlying connection.
	Close() error
	// String names the codec, e.g. "json".
	String() string
}

// BodyUnmarshaler is an optional interface of a Codec whose messages are
// the body alone on the wire, the header travelling in the transport's
// headers (json, proto and bytes). UnmarshalBody decodes body, one whole
// message held in memory, into v as ReadBody would read it from a
// connection carrying only that message: a nil v discards it, an empty
// body reads as ReadBody reads one (io.EOF from json, an empty message
// from proto), and targets and malformed input give ReadBody's errors. A
// format that could hold more than one message in body (JSON) refuses one
// that does, with an error wrapping ErrInvalidMessage. body is not kept.
// Transports that receive whole messages use it to spare a stream decoder
// per message.
type BodyUnmarshaler interface {
	UnmarshalBody(body []byte, v any) error
}

// NewCodec builds a Codec over a connection.
type NewCodec func(rwc io.ReadWriteCloser) Codec
