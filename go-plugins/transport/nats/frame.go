package nats

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/openmicro/go-micro/transport"
)

// Frame types. Every NATS message of a stream carries one frame: a type
// byte, a flags byte, the sender's frame sequence number (uvarint) and a
// body that depends on the type. See doc.go for the protocol.
const (
	frameOpen   byte = 1 // client to listener: open a stream; n is the client's window
	frameAccept byte = 2 // listener's stream to client: accepted; n is its window
	frameData   byte = 3 // one chunk of a message
	frameEnd    byte = 4 // half-close: the sender sends no more
	frameClose  byte = 5 // the sender sends no more and reads no more
	frameReset  byte = 6 // the stream is over because of an error; n is a reset code
	frameWindow byte = 7 // n more bytes of credit for the receiver of the frame
	framePing   byte = 8 // are you there? answered by PONG
	framePong   byte = 9
)

// DATA flags.
const (
	flagFirst byte = 1 << 0 // the first chunk of a message: n is its length
	flagLast  byte = 1 << 1 // the last chunk of a message
)

// protocolVersion travels in the flags of OPEN and ACCEPT.
const protocolVersion = 1

// Reset codes.
const (
	codeClosed   = 1 // the listener or transport at the other end closed
	codeRefused  = 2 // the listener is shutting down
	codeTooLarge = 3 // a message over the receiver's MaxMessageSize
	codeProtocol = 4 // a malformed or unexpected frame, or lost frames
	codeUnknown  = 5 // the receiver has no such stream
	codeFlow     = 6 // the sender went past its credit
)

const (
	// maxFrameHeader bounds the bytes before a DATA frame's chunk: type,
	// flags, sequence number and message length.
	maxFrameHeader = 2 + 2*binary.MaxVarintLen64
	// frameCost is what every DATA frame costs in credit on top of its
	// chunk, so that empty messages use up credit too.
	frameCost = 64
	// maxReason bounds the text of a RESET frame.
	maxReason = 200
	// maxCredit bounds a window and a WINDOW frame's grant.
	maxCredit = 1 << 40
)

// errMalformed is the error for a frame or message that cannot be decoded.
var errMalformed = errors.New("transport/nats: malformed frame")

// frame is one decoded frame. data aliases the buffer it was parsed from.
type frame struct {
	typ   byte
	flags byte
	seq   uint64
	// n is the window (OPEN, ACCEPT), the grant (WINDOW), the message
	// length (DATA with flagFirst) or the code (RESET).
	n    uint64
	data []byte // DATA: the chunk; RESET: the reason
}

// parseFrame decodes one frame. It never panics, whatever b holds.
func parseFrame(b []byte) (frame, error) {
	var f frame
	if len(b) < 3 {
		return f, fmt.Errorf("%w: %d bytes", errMalformed, len(b))
	}
	f.typ, f.flags = b[0], b[1]
	b = b[2:]
	seq, k := binary.Uvarint(b)
	if k <= 0 {
		return f, fmt.Errorf("%w: bad sequence number", errMalformed)
	}
	f.seq, b = seq, b[k:]
	switch f.typ {
	case frameOpen, frameAccept, frameWindow:
		n, k := binary.Uvarint(b)
		if k <= 0 || n == 0 || n > maxCredit {
			return f, fmt.Errorf("%w: bad window in frame type %d", errMalformed, f.typ)
		}
		f.n, b = n, b[k:]
		if f.typ == frameWindow && f.flags != 0 {
			return f, fmt.Errorf("%w: flags %#x on WINDOW", errMalformed, f.flags)
		}
	case frameData:
		if f.flags&^(flagFirst|flagLast) != 0 {
			return f, fmt.Errorf("%w: flags %#x on DATA", errMalformed, f.flags)
		}
		if f.flags&flagFirst != 0 {
			n, k := binary.Uvarint(b)
			if k <= 0 {
				return f, fmt.Errorf("%w: bad message length", errMalformed)
			}
			f.n, b = n, b[k:]
		}
		f.data, b = b, nil
	case frameReset:
		if f.flags != 0 || len(b) < 1 || len(b) > 1+maxReason {
			return f, fmt.Errorf("%w: bad RESET", errMalformed)
		}
		f.n, f.data, b = uint64(b[0]), b[1:], nil
	case frameEnd, frameClose, framePing, framePong:
		if f.flags != 0 {
			return f, fmt.Errorf("%w: flags %#x on frame type %d", errMalformed, f.flags, f.typ)
		}
	default:
		return f, fmt.Errorf("%w: unknown frame type %d", errMalformed, f.typ)
	}
	if len(b) != 0 {
		return f, fmt.Errorf("%w: %d trailing bytes in frame type %d", errMalformed, len(b), f.typ)
	}
	return f, nil
}

// appendFrame appends a frame without a chunk (every type but DATA): n is
// written for OPEN, ACCEPT and WINDOW, n as one byte and reason for RESET.
func appendFrame(dst []byte, typ, flags byte, seq, n uint64, reason string) []byte {
	dst = append(dst, typ, flags)
	dst = binary.AppendUvarint(dst, seq)
	switch typ {
	case frameOpen, frameAccept, frameWindow:
		dst = binary.AppendUvarint(dst, n)
	case frameReset:
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		dst = append(dst, byte(n))
		dst = append(dst, reason...)
	}
	return dst
}

// appendDataHeader appends the header of a DATA frame; the chunk follows.
func appendDataHeader(dst []byte, flags byte, seq uint64, length int) []byte {
	dst = append(dst, frameData, flags)
	dst = binary.AppendUvarint(dst, seq)
	if flags&flagFirst != 0 {
		dst = binary.AppendUvarint(dst, uint64(length))
	}
	return dst
}

// A message travels encoded as its header block followed by its body. The
// header block is uvarint(number of entries) and then, for each entry,
// uvarint(len(key)), key, uvarint(len(value)), value: keys and values are
// arbitrary bytes, empty ones included.

// encodedSize is the size of m encoded: the size MaxMessageSize limits.
func encodedSize(m *transport.Message) int {
	n := uvarintLen(uint64(len(m.Header))) + len(m.Body)
	for k, v := range m.Header {
		n += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// appendHeaderBlock appends h's header block.
func appendHeaderBlock(dst []byte, h map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(h)))
	for k, v := range h {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// decodeMessage decodes an encoded message. The body aliases b; the header
// strings are copies. It never panics, whatever b holds.
func decodeMessage(b []byte) (map[string]string, []byte, error) {
	count, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad header count", errMalformed)
	}
	b = b[k:]
	// Each entry takes at least two bytes.
	if count > uint64(len(b)/2) {
		return nil, nil, fmt.Errorf("%w: %d header entries in %d bytes", errMalformed, count, len(b))
	}
	h := make(map[string]string, min(count, 64))
	for range count {
		var key, val string
		var ok bool
		if key, b, ok = readString(b); !ok {
			return nil, nil, fmt.Errorf("%w: bad header key", errMalformed)
		}
		if val, b, ok = readString(b); !ok {
			return nil, nil, fmt.Errorf("%w: bad header value", errMalformed)
		}
		if _, dup := h[key]; dup {
			return nil, nil, fmt.Errorf("%w: header %q given twice", errMalformed, key)
		}
		h[key] = val
	}
	if len(b) == 0 {
		b = nil
	}
	return h, b, nil
}

func readString(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	b = b[k:]
	return string(b[:n]), b[n:], true
}
