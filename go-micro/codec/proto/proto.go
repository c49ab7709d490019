package proto

import (
	"fmt"
	"io"
	"sync"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/internal/wire"
	"google.golang.org/protobuf/proto"
)

const (
	// ContentType is the content type the codec is registered under.
	ContentType = "application/protobuf"
	// Name is the name String returns.
	Name = "proto"
)

func init() { codec.Register(ContentType, NewCodec) }

// keepBuffer is the largest scratch buffer a codec keeps between messages.
const keepBuffer = 64 << 10

type protoCodec struct {
	rwc  io.ReadWriteCloser
	buf  []byte // scratch for reading and writing
	once sync.Once
	err  error
}

// NewCodec returns a protobuf codec over rwc.
func NewCodec(rwc io.ReadWriteCloser) codec.Codec { return &protoCodec{rwc: rwc} }

// ReadHeader does nothing: the header of a bare protobuf body travels in
// the transport's headers. It leaves m alone and reads nothing.
func (c *protoCodec) ReadHeader(*codec.Message, codec.MessageType) error { return nil }

// ReadBody reads the rest of the input as one message into v. A target it
// cannot fill still consumes the input.
func (c *protoCodec) ReadBody(v any) error {
	switch t := v.(type) {
	case nil:
		return c.skip()
	case proto.Message:
		if !t.ProtoReflect().IsValid() {
			return c.refuse(v)
		}
		b, err := wire.ReadAll(c.buf[:0], c.rwc)
		c.keep(b)
		if err != nil {
			return err
		}
		if err := proto.Unmarshal(b, t); err != nil {
			return fmt.Errorf("%w: %w", codec.ErrInvalidMessage, err)
		}
		return nil
	case *[]byte:
		if t == nil {
			return c.refuse(v)
		}
		b, err := wire.ReadAll((*t)[:0], c.rwc)
		*t = b
		return err
	}
	return c.refuse(v)
}

// UnmarshalBody decodes body, one whole message, into v without reading a
// stream; see [codec.BodyUnmarshaler]. A *[]byte gets a copy of body.
func (c *protoCodec) UnmarshalBody(body []byte, v any) error {
	switch t := v.(type) {
	case nil:
		return nil
	case proto.Message:
		if !t.ProtoReflect().IsValid() {
			return unsupported("read into", v)
		}
		if err := proto.Unmarshal(body, t); err != nil {
			return fmt.Errorf("%w: %w", codec.ErrInvalidMessage, err)
		}
		return nil
	case *[]byte:
		if t == nil {
			return unsupported("read into", v)
		}
		*t = append((*t)[:0], body...)
		return nil
	}
	return unsupported("read into", v)
}

// skip reads the rest of the input and drops it.
func (c *protoCodec) skip() error {
	_, err := io.Copy(io.Discard, c.rwc)
	return err
}

// refuse consumes the body, which v cannot take, and says so; an error of
// the connection comes first.
func (c *protoCodec) refuse(v any) error {
	if err := c.skip(); err != nil {
		return err
	}
	return unsupported("read into", v)
}

// Write writes the body v; m is not written.
func (c *protoCodec) Write(_ *codec.Message, v any) error {
	var b []byte
	switch t := v.(type) {
	case nil:
		return nil
	case proto.Message:
		var err error
		b, err = proto.MarshalOptions{}.MarshalAppend(c.buf[:0], t)
		c.keep(b)
		if err != nil {
			return fmt.Errorf("codec/proto: encode %T: %w", v, err)
		}
	case []byte:
		b = t
	case *[]byte:
		if t == nil {
			return nil
		}
		b = *t
	default:
		return unsupported("write", v)
	}
	if len(b) == 0 {
		return nil
	}
	_, err := c.rwc.Write(b)
	return err
}

// keep holds on to b as scratch space unless it grew large.
func (c *protoCodec) keep(b []byte) {
	if cap(b) <= keepBuffer {
		c.buf = b[:0]
	} else {
		c.buf = nil
	}
}

// Close closes the connection; later calls return the first call's error.
func (c *protoCodec) Close() error {
	c.once.Do(func() { c.err = c.rwc.Close() })
	return c.err
}

// String returns "proto".
func (c *protoCodec) String() string { return Name }

func unsupported(op string, v any) error {
	return fmt.Errorf("%w: codec/proto cannot %s %T (not a proto.Message, []byte or *[]byte)",
		codec.ErrUnsupportedType, op, v)
}

var (
	_ codec.Codec           = (*protoCodec)(nil)
	_ codec.BodyUnmarshaler = (*protoCodec)(nil)
)
