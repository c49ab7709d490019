// Package rpcwire holds what go-micro's rpc client and server agree on: the
// header names of a request, response and event, and a codec bound to a
// reusable buffer that turns one message body into bytes and back.
//
// # The protocol
//
// A call is one transport stream. Every message on it is a
// [transport.Message]: headers plus a body encoded by the codec named in
// Content-Type.
//
// Unary: the client sends one request message (headers [ContentType],
// [Service], [Endpoint], [Id], [Timeout] when the call has a deadline, and
// the caller's metadata as further headers) and half-closes; the server
// answers with one response message carrying Content-Type and Micro-Id, and
// [Error] (the JSON of an errors.Error) instead of a body when the call
// failed.
//
// Stream: the client sends an opening message with the request headers plus
// [Stream] ("1") and no body; after it, each message carries only a body.
// The server sends a body per message and ends the stream with a final
// message carrying [Error] when the handler failed, then closes; a clean
// end is the transport's end of stream (io.EOF).
//
// Events (pub/sub) are broker messages with Content-Type, [Topic], Micro-Id
// and metadata headers and a codec-encoded body.
//
// Metadata keys are canonical (metadata.CanonicalKey); headers that are not
// reserved ([Reserved]) are metadata.
package rpcwire

import (
	"io"
	"sync"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/metadata"
)

// Header names.
const (
	ContentType = "Content-Type"
	Service     = "Micro-Service"
	Endpoint    = "Micro-Endpoint"
	Id          = "Micro-Id"
	Timeout     = "Timeout"
	Error       = "Micro-Error"
	Stream      = "Micro-Stream"
	Topic       = "Micro-Topic"
)

// Reserved reports whether a canonical header key belongs to the protocol
// rather than to the caller's metadata.
func Reserved(key string) bool {
	switch key {
	case ContentType, Service, Endpoint, Id, Timeout, Error, Stream, Topic:
		return true
	}
	return false
}

// Metadata returns the headers that are not reserved, as metadata.
func Metadata(h map[string]string) metadata.Metadata {
	var md metadata.Metadata
	for k, v := range h {
		k = metadata.CanonicalKey(k)
		if Reserved(k) {
			continue
		}
		if md == nil {
			md = make(metadata.Metadata, len(h))
		}
		md[k] = v
	}
	return md
}

// Codec is a codec bound to a buffer: Encode writes one message into the
// buffer and returns its bytes, Decode reads one message from given bytes.
// It is not safe for concurrent use.
//
// Encode reuses one codec, as writing leaves no state behind. Decode hands
// the body to the codec's [codec.BodyUnmarshaler] when it has one (json,
// proto and bytes), which decodes it in place; otherwise it makes a fresh
// codec over the body each time, because a decoder may buffer input past
// the value it read, and a body must never leak into the next message's
// decode. Such a codec ignores a body's bytes after the first message.
type Codec struct {
	buf         buffer
	c           codec.Codec
	bu          codec.BodyUnmarshaler // c's, when it has one
	nc          codec.NewCodec
	contentType string
}

// NewCodec returns a Codec for the content type, or an error wrapping
// [codec.Lookup]'s when no codec is registered for it.
func NewCodec(contentType string) (*Codec, error) {
	nc, err := codec.Lookup(contentType)
	if err != nil {
		return nil, err
	}
	c := &Codec{contentType: contentType, nc: nc}
	c.c = nc(&c.buf)
	c.bu, _ = c.c.(codec.BodyUnmarshaler)
	return c, nil
}

// pools holds a sync.Pool of Codecs per media type; only media types with
// a registered codec get one, so it stays small whatever content types
// peers send.
var pools sync.Map // media type -> *sync.Pool

// Get returns a Codec for the content type, one given back with [Put] when
// there is one, else a new one; the error is [codec.Lookup]'s for a content
// type without a codec. Every Codec can be reused after any Encode or
// Decode, failed ones included: Encode keeps nothing, and Decode reads
// with a fresh decoder.
func Get(contentType string) (*Codec, error) {
	mt := codec.MediaType(contentType)
	if p, ok := pools.Load(mt); ok {
		if c, ok := p.(*sync.Pool).Get().(*Codec); ok {
			return c, nil
		}
	}
	c, err := NewCodec(mt)
	if err != nil {
		return nil, err
	}
	pools.LoadOrStore(mt, new(sync.Pool))
	return c, nil
}

// Put gives c back for reuse by [Get]; the bytes its Encode returned must
// not be used afterwards. A nil c is ignored.
func Put(c *Codec) {
	if c == nil {
		return
	}
	if p, ok := pools.Load(c.contentType); ok {
		p.(*sync.Pool).Put(c)
	}
}

// ContentType returns the content type the Codec was made for.
func (c *Codec) ContentType() string { return c.contentType }

// String names the codec.
func (c *Codec) String() string { return c.c.String() }

// Encode encodes m and v and returns the bytes, which stay valid until the
// next Encode on c.
func (c *Codec) Encode(m *codec.Message, v any) ([]byte, error) {
	if cap(c.buf.w) > keepBuffer {
		c.buf.w = nil
	}
	c.buf.w = c.buf.w[:0]
	if err := c.c.Write(m, v); err != nil {
		return nil, err
	}
	return c.buf.w, nil
}

// Decode reads the header of type t into m (for codecs with an envelope)
// and the body into v (nil discards it). An empty body leaves v unchanged.
// body is read in place and not kept.
func (c *Codec) Decode(body []byte, m *codec.Message, t codec.MessageType, v any) error {
	if c.bu != nil {
		// A bare body: the header is in the transport's headers.
		err := c.bu.UnmarshalBody(body, v)
		if err == io.EOF {
			return nil
		}
		return err
	}
	c.buf.r, c.buf.off = body, 0
	defer func() { c.buf.r = nil }()
	d := c.nc(&c.buf)
	if err := d.ReadHeader(m, t); err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	err := d.ReadBody(v)
	if err == io.EOF {
		return nil
	}
	return err
}

// keepBuffer is the largest encode buffer kept between messages.
const keepBuffer = 64 << 10

// buffer is the io.ReadWriteCloser the codec works on: reads come from r,
// writes go to w.
type buffer struct {
	r   []byte
	off int
	w   []byte
}

func (b *buffer) Read(p []byte) (int, error) {
	if b.off >= len(b.r) {
		return 0, io.EOF
	}
	n := copy(p, b.r[b.off:])
	b.off += n
	return n, nil
}

func (b *buffer) Write(p []byte) (int, error) {
	b.w = append(b.w, p...)
	return len(p), nil
}

func (b *buffer) Close() error { return nil }
