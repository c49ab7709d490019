package rabbitmq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

// Frame types, carried in the AMQP "type" property of every message the
// transport publishes.
const (
	typeOpen   = "open"   // a new stream; ReplyTo is the dialler's queue
	typeData   = "data"   // one transport.Message: headers and body
	typeEnd    = "end"    // half-close: the sender sends no more
	typeReset  = "reset"  // the stream is over; the body holds a reset code
	typeWindow = "window" // credit: the body holds 4 bytes, big endian
	typeProbe  = "probe"  // liveness: the body lists stream ids, one a line
)

// Reset codes, the one-byte body of a reset frame.
const (
	codeClosed    byte = iota // the peer closed the stream
	codeRefused               // the listener is shutting down, closed or full
	codeTooLarge              // a message was over the receiver's limit
	codeFlow                  // the sender overran its credit
	codeMalformed             // a frame could not be decoded
	codeUnknown               // the receiver does not know the stream
)

const (
	// escapedHeaders is the AMQP header that carries, as an array of
	// alternating keys and values, the message headers that cannot be AMQP
	// header names of their own (see plainKey).
	escapedHeaders = "micro.headers"
	// maxShortString is the longest AMQP short string: header names,
	// queue names, correlation ids and reply-to addresses.
	maxShortString = 255
	// maxProbeBody bounds the body of one probe frame.
	maxProbeBody = 16 << 10
	// frameOverhead is added to a message's size when it is charged to
	// the stream's credit, so that empty messages cost something too.
	frameOverhead = 64
)

var errMalformed = errors.New("transport/rabbitmq: malformed frame")

// frame is one decoded AMQP message.
type frame struct {
	typ     string
	id      string // the stream: AMQP correlation id
	replyTo string // where the sender wants frames for this stream
	msg     transport.Message
	size    int      // data: the message's size as MaxMessageSize counts it
	credit  uint32   // window
	code    byte     // reset
	ids     []string // probe
}

// plainKey reports whether a message header can travel as an AMQP header
// of its own name. RabbitMQ refuses "CC" and "BCC" unless they are arrays
// of routing keys (it closes the channel), and AMQP header names are
// short strings of 1 to 255 bytes; such keys travel in escapedHeaders.
func plainKey(k string) bool {
	return k != "" && len(k) <= maxShortString && k != "CC" && k != "BCC" && k != escapedHeaders
}

// messageSize is a message's size as MaxMessageSize counts it: the bytes
// of its header keys and values plus its body.
func messageSize(m *transport.Message) int {
	n := len(m.Body)
	for k, v := range m.Header {
		n += len(k) + len(v)
	}
	return n
}

// encodeHeaders turns message headers into an AMQP table.
func encodeHeaders(h map[string]string) amqp.Table {
	if len(h) == 0 {
		return nil
	}
	t := make(amqp.Table, len(h))
	var esc []any
	for k, v := range h {
		if plainKey(k) {
			t[k] = v
		} else {
			esc = append(esc, k, v)
		}
	}
	if esc != nil {
		t[escapedHeaders] = esc
	}
	return t
}

// decodeHeaders turns an AMQP table from a peer back into message headers
// and returns their size. Values must be strings (or byte arrays); the
// escaped entries must pair up and not repeat a key.
func decodeHeaders(t amqp.Table) (map[string]string, int, error) {
	if len(t) == 0 {
		return nil, 0, nil
	}
	h := make(map[string]string, len(t))
	size := 0
	add := func(k, v string) error {
		if _, dup := h[k]; dup {
			return fmt.Errorf("%w: header %q twice", errMalformed, k)
		}
		h[k] = v
		size += len(k) + len(v)
		return nil
	}
	for k, v := range t {
		if k != escapedHeaders {
			s, ok := stringValue(v)
			if !ok {
				return nil, 0, fmt.Errorf("%w: header %q is a %T, not a string", errMalformed, k, v)
			}
			if err := add(k, s); err != nil {
				return nil, 0, err
			}
			continue
		}
		arr, ok := v.([]any)
		if !ok || len(arr)%2 != 0 {
			return nil, 0, fmt.Errorf("%w: %s is not an array of key and value pairs", errMalformed, escapedHeaders)
		}
		for i := 0; i < len(arr); i += 2 {
			ek, ok1 := stringValue(arr[i])
			ev, ok2 := stringValue(arr[i+1])
			if !ok1 || !ok2 {
				return nil, 0, fmt.Errorf("%w: %s holds a value that is not a string", errMalformed, escapedHeaders)
			}
			if err := add(ek, ev); err != nil {
				return nil, 0, err
			}
		}
	}
	return h, size, nil
}

func stringValue(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	}
	return "", false
}

// decodeFrame decodes a delivery from a peer. Nothing in it is trusted:
// any property may be missing or wrong, the headers may hold any AMQP
// type and the body anything. A frame whose stream id and reply-to are
// known but whose content is bad comes back with them and an error, so
// that the stream can be reset.
func decodeFrame(d *amqp.Delivery) (frame, error) {
	f := frame{typ: d.Type, id: d.CorrelationId, replyTo: d.ReplyTo}
	if f.replyTo == "" {
		return f, fmt.Errorf("%w: %q frame without reply-to", errMalformed, f.typ)
	}
	if f.typ == typeProbe {
		ids, err := decodeProbe(d.Body)
		f.ids = ids
		return f, err
	}
	if f.id == "" {
		return f, fmt.Errorf("%w: %q frame without stream id", errMalformed, f.typ)
	}
	switch f.typ {
	case typeOpen, typeEnd:
		return f, nil
	case typeData:
		h, n, err := decodeHeaders(d.Headers)
		if err != nil {
			return f, err
		}
		f.msg = transport.Message{Header: h, Body: d.Body}
		f.size = n + len(d.Body)
		return f, nil
	case typeReset:
		if len(d.Body) != 1 {
			return f, fmt.Errorf("%w: reset body of %d bytes", errMalformed, len(d.Body))
		}
		f.code = d.Body[0]
		return f, nil
	case typeWindow:
		if len(d.Body) != 4 {
			return f, fmt.Errorf("%w: window body of %d bytes", errMalformed, len(d.Body))
		}
		f.credit = binary.BigEndian.Uint32(d.Body)
		if f.credit == 0 || f.credit > maxCredit {
			return f, fmt.Errorf("%w: window credit %d", errMalformed, f.credit)
		}
		return f, nil
	}
	return f, fmt.Errorf("%w: unknown frame type %q", errMalformed, f.typ)
}

// decodeProbe splits a probe body into stream ids.
func decodeProbe(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > maxProbeBody {
		return nil, fmt.Errorf("%w: probe body of %d bytes", errMalformed, len(b))
	}
	ids := strings.Split(string(b), "\n")
	for _, id := range ids {
		if id == "" || len(id) > maxShortString {
			return nil, fmt.Errorf("%w: probe lists a stream id of %d bytes", errMalformed, len(id))
		}
	}
	return ids, nil
}

// encodeProbes packs stream ids into probe bodies of at most maxProbeBody
// bytes.
func encodeProbes(ids []string) [][]byte {
	var out [][]byte
	var b []byte
	for _, id := range ids {
		if len(b) > 0 && len(b)+1+len(id) > maxProbeBody {
			out = append(out, b)
			b = nil
		}
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, id...)
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

func windowBody(credit uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), credit)
}
