// Package bytes is the codec for "application/octet-stream": the body is
// raw bytes, with no envelope and no encoding. The header travels in the
// transport's headers, so ReadHeader fills nothing and reads nothing.
//
// Import it for its side effect to make the content type available through
// [codec.Lookup]:
//
//	import _ "github.com/openmicro/go-micro/codec/bytes"
//
// Write accepts []byte, *[]byte, [Frame] and *[Frame] and writes the bytes
// in a single Write call; a nil or empty body writes nothing. ReadBody reads
// everything readable, up to io.EOF, as one body (the RPC layer gives the
// codec one buffer per transport message) into a *[]byte or a *[Frame],
// reusing its capacity; a nil target discards it. An empty input is an empty
// body, not io.EOF. Any other Go type, or a nil pointer, is an error
// wrapping [codec.ErrUnsupportedType], and the input is consumed all the
// same.
//
// A codec is not safe for concurrent use.
package bytes
