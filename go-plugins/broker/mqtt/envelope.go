package mqtt

import (
	"encoding/binary"
	"fmt"

	"github.com/openmicro/go-micro/broker"
)

// The envelope carries a [broker.Message] (header and body) in the payload
// of one MQTT PUBLISH, since MQTT 3.1.1 has no headers. Version 1:
//
//	byte 0     envelopeMagic (0xC0)
//	byte 1     version (1)
//	uvarint    n, the number of header entries
//	n times    uvarint key length, key bytes, uvarint value length, value bytes
//	the rest   the body, as is
//
// Lengths are unsigned varints (encoding/binary). 0xC0 never starts UTF-8
// text, so a text or JSON payload from another client is told apart at the
// first byte. A decoder refuses versions it does not know; a later version
// keeps the first two bytes.
const (
	envelopeMagic   = 0xC0
	envelopeVersion = 1
	// maxHeaderHint bounds the header map's initial size.
	maxHeaderHint = 32
)

// EnvelopeVersion is the version of the envelope this package writes.
const EnvelopeVersion = envelopeVersion

// MaxHeaders is the most header entries an envelope may carry. Each entry
// costs a decoder far more memory than the few bytes it can take on the
// wire, so [DecodeEnvelope] refuses envelopes with more (a hostile payload
// could otherwise take gigabytes) and Publish refuses messages with more
// with [ErrMessageTooLarge].
const MaxHeaders = 1024

// EncodeEnvelope returns m as an envelope, the payload this broker
// publishes; other MQTT clients use it to publish to go-micro subscribers.
// A nil m encodes as an empty message.
func EncodeEnvelope(m *broker.Message) []byte { return AppendEnvelope(nil, m) }

// AppendEnvelope appends the envelope of m to dst and returns the result.
func AppendEnvelope(dst []byte, m *broker.Message) []byte {
	var header map[string]string
	var body []byte
	if m != nil {
		header, body = m.Header, m.Body
	}
	size := 2 + uvarintLen(uint64(len(header))) + len(body)
	for k, v := range header {
		size += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	}
	if cap(dst)-len(dst) < size {
		grown := make([]byte, len(dst), len(dst)+size)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, envelopeMagic, envelopeVersion)
	dst = binary.AppendUvarint(dst, uint64(len(header)))
	for k, v := range header {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return append(dst, body...)
}

// DecodeEnvelope reads an envelope. The header is always a non-nil map;
// the body is nil when empty and otherwise shares p's memory. Anything that
// is not a well-formed envelope of a known version, including one naming a
// header key twice, yields an error wrapping [ErrInvalidEnvelope]; p is
// never changed and no input panics.
func DecodeEnvelope(p []byte) (*broker.Message, error) {
	if len(p) < 3 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrInvalidEnvelope, len(p))
	}
	if p[0] != envelopeMagic {
		return nil, fmt.Errorf("%w: first byte 0x%02x is not 0x%02x (not published by this broker?)",
			ErrInvalidEnvelope, p[0], envelopeMagic)
	}
	if p[1] != envelopeVersion {
		return nil, fmt.Errorf("%w: version %d not supported (this broker reads version %d)",
			ErrInvalidEnvelope, p[1], envelopeVersion)
	}
	rest := p[2:]
	n, rest, ok := readUvarint(rest)
	// Each entry takes at least two bytes (two zero lengths).
	if !ok || n > uint64(len(rest)/2) {
		return nil, fmt.Errorf("%w: bad header count", ErrInvalidEnvelope)
	}
	if n > MaxHeaders {
		return nil, fmt.Errorf("%w: %d header entries, limit %d", ErrInvalidEnvelope, n, MaxHeaders)
	}
	// The count is the sender's claim: size the map for a few entries and
	// let it grow with entries actually read, so a payload claiming
	// millions cannot make the decoder allocate many times its length.
	header := make(map[string]string, min(n, maxHeaderHint))
	for i := range int(n) {
		var k, v []byte
		if k, rest, ok = readBytes(rest); !ok {
			return nil, fmt.Errorf("%w: header %d: bad key", ErrInvalidEnvelope, i)
		}
		if v, rest, ok = readBytes(rest); !ok {
			return nil, fmt.Errorf("%w: header %d: bad value", ErrInvalidEnvelope, i)
		}
		key := string(k)
		if _, dup := header[key]; dup {
			return nil, fmt.Errorf("%w: header %q given twice", ErrInvalidEnvelope, key)
		}
		header[key] = string(v)
	}
	m := &broker.Message{Header: header}
	if len(rest) > 0 {
		m.Body = rest
	}
	return m, nil
}

// readUvarint reads one uvarint off the front of p.
func readUvarint(p []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, p, false
	}
	return v, p[n:], true
}

// readBytes reads a uvarint length and that many bytes off the front of p.
func readBytes(p []byte) ([]byte, []byte, bool) {
	n, rest, ok := readUvarint(p)
	if !ok || n > uint64(len(rest)) {
		return nil, p, false
	}
	return rest[:n], rest[n:], true
}

// uvarintLen is how many bytes binary.AppendUvarint writes for v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
