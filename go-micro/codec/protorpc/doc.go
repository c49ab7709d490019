// Package protorpc is the codec for "application/proto-rpc": a compact,
// self-delimiting binary framing with the header in its own envelope, so
// many requests and responses can follow one another on one stream.
//
// Import it for its side effect to make the content type available through
// [codec.Lookup]:
//
//	import _ "github.com/openmicro/go-micro/codec/protorpc"
//
// # Wire format
//
// Each message is a frame written in a single Write call:
//
//	uvarint(len(header)) header uvarint(len(body)) body
//
// The header is a protobuf message (encoded by hand with protowire), whose
// fields are those of [codec.Message]; zero values are left out, header
// entries are written sorted by key and unknown fields are skipped on read:
//
//	message Header {
//	  string id = 1;
//	  int32 type = 2;       // codec.MessageType: 1 request, 2 response, 3 event, 4 error
//	  string service = 3;
//	  string endpoint = 4;
//	  string error = 5;
//	  map<string, string> header = 6;
//	}
//
// The body is the protobuf encoding of a proto.Message, or the bytes of a
// []byte or *[]byte written as they are (an already encoded message); a nil
// body is empty. Any other Go type is an error wrapping
// [codec.ErrUnsupportedType].
//
// # Limits and errors
//
// The header and the body are each at most [DefaultMaxFrameSize] bytes
// (change it with [New] and [MaxFrameSize]). A longer length read from the
// wire is an error wrapping [ErrFrameTooLarge] and [codec.ErrInvalidMessage]
// before anything is allocated for it, so a garbage length cannot exhaust
// memory; Write refuses such a frame with [ErrFrameTooLarge] and writes
// nothing. ReadHeader returns io.EOF at the end of the input, and truncated
// or malformed input gives errors wrapping [codec.ErrInvalidMessage]. When
// the caller expects a request or event and reads a response or error, or
// the other way round, ReadHeader returns an error wrapping
// [codec.ErrInvalidMessage]; a zero MessageType accepts any. A body left
// unread is skipped by the next ReadHeader.
//
// A codec is not safe for concurrent use.
package protorpc
