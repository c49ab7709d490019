// Package proto is the codec for "application/protobuf": the body alone, in
// the protobuf binary format, with no envelope. The header (id, endpoint,
// error, metadata) travels in the transport's headers, so ReadHeader fills
// nothing and reads nothing.
//
// Import it for its side effect to make the content type available through
// [codec.Lookup]:
//
//	import _ "github.com/openmicro/go-micro/codec/proto"
//
// # Bodies
//
// Write needs a proto.Message, which it marshals and writes in a single
// Write call; []byte and *[]byte are taken as an already encoded message
// and written as they are (a gateway passing a body through); a nil body
// writes nothing. Any other value is an error wrapping
// [codec.ErrUnsupportedType].
//
// The binary format does not delimit a message, so ReadBody reads
// everything readable, up to io.EOF, as one message: the RPC layer gives the
// codec one buffer per transport message. An empty input is a message with
// every field at its default (the encoding of such a message is empty), not
// io.EOF. proto.Message targets are unmarshalled keeping unknown fields;
// *[]byte targets receive the bytes; a nil target discards them. Malformed
// input gives an error wrapping [codec.ErrInvalidMessage]; any other target,
// or a nil pointer, an error wrapping [codec.ErrUnsupportedType], and the
// input is consumed all the same.
//
// A codec is not safe for concurrent use.
package proto
