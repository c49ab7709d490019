package bytes

import (
	"fmt"
	"io"
	"sync"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/internal/wire"
)

const (
	// ContentType is the content type the codec is registered under.
	ContentType = "application/octet-stream"
	// Name is the name String returns.
	Name = "bytes"
)

func init() { codec.Register(ContentType, NewCodec) }

// Frame is a raw body, for code that prefers a named type to a []byte.
type Frame struct {
	Data []byte
}

type bytesCodec struct {
	rwc  io.ReadWriteCloser
	once sync.Once
	err  error
}

// NewCodec returns a raw bytes codec over rwc.
func NewCodec(rwc io.ReadWriteCloser) codec.Codec { return &bytesCodec{rwc: rwc} }

// ReadHeader does nothing: the header of a raw body travels in the
// transport's headers. It leaves m alone and reads nothing.
func (c *bytesCodec) ReadHeader(*codec.Message, codec.MessageType) error { return nil }

// ReadBody reads the rest of the input into v. A target it cannot fill
// still consumes the input.
func (c *bytesCodec) ReadBody(v any) error {
	if v == nil {
		return c.skip()
	}
	dst := dest(v)
	if dst == nil {
		if err := c.skip(); err != nil {
			return err
		}
		return unsupported("read into", v)
	}
	b, err := wire.ReadAll((*dst)[:0], c.rwc)
	*dst = b
	return err
}

// UnmarshalBody copies body, one whole message, into v without reading a
// stream; see [codec.BodyUnmarshaler].
func (c *bytesCodec) UnmarshalBody(body []byte, v any) error {
	if v == nil {
		return nil
	}
	dst := dest(v)
	if dst == nil {
		return unsupported("read into", v)
	}
	*dst = append((*dst)[:0], body...)
	return nil
}

// dest returns the byte slice a body is read into for the target v, or nil
// when v cannot take one.
func dest(v any) *[]byte {
	switch t := v.(type) {
	case *[]byte:
		return t
	case *Frame:
		if t != nil {
			return &t.Data
		}
	}
	return nil
}

// skip reads the rest of the input and drops it.
func (c *bytesCodec) skip() error {
	_, err := io.Copy(io.Discard, c.rwc)
	return err
}

// Write writes the bytes of v; m is not written.
func (c *bytesCodec) Write(_ *codec.Message, v any) error {
	var b []byte
	switch t := v.(type) {
	case nil:
	case []byte:
		b = t
	case *[]byte:
		if t != nil {
			b = *t
		}
	case Frame:
		b = t.Data
	case *Frame:
		if t != nil {
			b = t.Data
		}
	default:
		return unsupported("write", v)
	}
	if len(b) == 0 {
		return nil
	}
	_, err := c.rwc.Write(b)
	return err
}

// Close closes the connection; later calls return the first call's error.
func (c *bytesCodec) Close() error {
	c.once.Do(func() { c.err = c.rwc.Close() })
	return c.err
}

// String returns "bytes".
func (c *bytesCodec) String() string { return Name }

func unsupported(op string, v any) error {
	return fmt.Errorf("%w: codec/bytes cannot %s %T (want []byte, *[]byte or *bytes.Frame)",
		codec.ErrUnsupportedType, op, v)
}

var (
	_ codec.Codec           = (*bytesCodec)(nil)
	_ codec.BodyUnmarshaler = (*bytesCodec)(nil)
)
