package http

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format after the HTTP/1.1 upgrade. Every frame starts with a fixed
// 10-byte header:
//
//	byte 0     type
//	byte 1     flags
//	bytes 2-5  stream id, big endian
//	bytes 6-9  payload length, big endian
//
// DATA (type 0) carries one whole message (payload length 0 with flagEnd is
// a bare half-close). Its payload is
//
//	uvarint(len(headerBlock)) headerBlock body
//
// where headerBlock is a run of uvarint(len(key)) key uvarint(len(value))
// value. RESET (1), WINDOW (2) and GOAWAY (3) carry a 4-byte big-endian
// value: the reset code, the credit increment, the last accepted stream id.
const (
	frameHeaderLen = 10

	frameData   uint8 = 0
	frameReset  uint8 = 1
	frameWindow uint8 = 2
	frameGoAway uint8 = 3

	// flagEnd on a DATA frame half-closes the sender's side of the stream.
	flagEnd uint8 = 1

	ctrlPayloadLen = 4
)

// Reset codes carried by a RESET frame.
const (
	codeClosed      uint32 = 0 // the peer closed the stream normally
	codeRefused     uint32 = 1 // the stream was not accepted (going away)
	codeTooLarge    uint32 = 2 // a message exceeded the receiver's limit
	codeProtocol    uint32 = 3 // a malformed message
	codeFlowControl uint32 = 4 // the sender ignored the credit window
)

var (
	errBadFrame = errors.New("transport/http: malformed frame")
	// errFrameTooLarge is returned by readFrame for a DATA frame over the
	// limit, after its payload was skipped; the connection stays usable.
	errFrameTooLarge = errors.New("transport/http: frame over the message size limit")
	errBadHeader     = errors.New("transport/http: malformed message header")
)

type frameHeader struct {
	typ   uint8
	flags uint8
	id    uint32
	size  uint32
}

// frameReader reads frames from a buffered stream.
type frameReader struct {
	r    *bufio.Reader
	max  int // largest DATA payload accepted
	hdr  [frameHeaderLen]byte
	ctrl [ctrlPayloadLen]byte
}

// readFrame reads the next frame. A DATA payload is freshly allocated and
// owned by the caller; a control payload is valid until the next call. A
// DATA frame over the limit is skipped and reported as errFrameTooLarge
// with its header; any other error leaves the stream unusable.
func (fr *frameReader) readFrame() (frameHeader, []byte, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h := frameHeader{
		typ:   fr.hdr[0],
		flags: fr.hdr[1],
		id:    binary.BigEndian.Uint32(fr.hdr[2:6]),
		size:  binary.BigEndian.Uint32(fr.hdr[6:10]),
	}
	switch h.typ {
	case frameData:
		if h.id == 0 {
			return h, nil, fmt.Errorf("%w: data on stream 0", errBadFrame)
		}
		if uint64(h.size) > uint64(fr.max) {
			if _, err := fr.r.Discard(int(h.size)); err != nil {
				return h, nil, err
			}
			return h, nil, errFrameTooLarge
		}
		if h.size == 0 {
			return h, nil, nil
		}
		p := make([]byte, h.size)
		if _, err := io.ReadFull(fr.r, p); err != nil {
			return h, nil, unexpected(err)
		}
		return h, p, nil
	case frameReset, frameWindow, frameGoAway:
		if h.size != ctrlPayloadLen {
			return h, nil, fmt.Errorf("%w: type %d with %d-byte payload", errBadFrame, h.typ, h.size)
		}
		if _, err := io.ReadFull(fr.r, fr.ctrl[:]); err != nil {
			return h, nil, unexpected(err)
		}
		return h, fr.ctrl[:], nil
	default:
		return h, nil, fmt.Errorf("%w: unknown type %d", errBadFrame, h.typ)
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// uvarintLen is the encoded length of x as a uvarint.
func uvarintLen(x int) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// headerLen is the encoded length of a header block.
func headerLen(h map[string]string) int {
	n := 0
	for k, v := range h {
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(v)) + len(v)
	}
	return n
}

// messageLen is the DATA payload length of a message whose header block is
// hl bytes long.
func messageLen(hl, body int) int { return uvarintLen(hl) + hl + body }

// appendMessage appends a DATA payload; hl must be headerLen(h).
func appendMessage(b []byte, h map[string]string, hl int, body []byte) []byte {
	b = binary.AppendUvarint(b, uint64(hl))
	for k, v := range h {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return append(b, body...)
}

// appendMessagePayload is appendMessage working out the header length
// (tests and fuzz seeds).
func appendMessagePayload(b []byte, h map[string]string, body []byte) []byte {
	return appendMessage(b, h, headerLen(h), body)
}

// appendFrameHeader appends a frame header.
func appendFrameHeader(b []byte, typ, flags uint8, id uint32, size int) []byte {
	b = append(b, typ, flags)
	b = binary.BigEndian.AppendUint32(b, id)
	return binary.BigEndian.AppendUint32(b, uint32(size))
}

// appendCtrlFrame appends a control frame with a 4-byte value.
func appendCtrlFrame(b []byte, typ uint8, id, v uint32) []byte {
	b = appendFrameHeader(b, typ, 0, id, ctrlPayloadLen)
	return binary.BigEndian.AppendUint32(b, v)
}

// readLen reads a uvarint length that must fit in the rest of b.
func readLen(b []byte) (n, adv int, ok bool) {
	x, k := binary.Uvarint(b)
	if k <= 0 || x > uint64(len(b)-k) {
		return 0, 0, false
	}
	return int(x), k, true
}

// decodeMessage splits a DATA payload into its header and body. The body
// aliases p, which the caller owns; the header strings share one copy of
// the header block.
func decodeMessage(p []byte) (map[string]string, []byte, error) {
	hl, k, ok := readLen(p)
	if !ok {
		return nil, nil, errBadHeader
	}
	h, err := decodeHeader(p[k : k+hl])
	if err != nil {
		return nil, nil, err
	}
	return h, p[k+hl:], nil
}

// decodeHeader decodes a header block. It validates the whole block before
// allocating, so a malformed block costs nothing.
func decodeHeader(b []byte) (map[string]string, error) {
	pairs := 0
	for i := 0; i < len(b); {
		kl, k, ok := readLen(b[i:])
		if !ok {
			return nil, errBadHeader
		}
		i += k + kl
		vl, k, ok := readLen(b[i:])
		if !ok {
			return nil, errBadHeader
		}
		i += k + vl
		pairs++
	}
	h := make(map[string]string, pairs)
	if pairs == 0 {
		return h, nil
	}
	s := string(b)
	for i := 0; i < len(b); {
		kl, k, _ := readLen(b[i:])
		i += k
		key := s[i : i+kl]
		i += kl
		vl, k, _ := readLen(b[i:])
		i += k
		h[key] = s[i : i+vl]
		i += vl
	}
	return h, nil
}
