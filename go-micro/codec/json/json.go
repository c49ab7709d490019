package json

import (
	"bytes"
	"errors"
	"io"
	"sync"

	stdjson "encoding/json"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/internal/wire"
	"google.golang.org/protobuf/proto"
)

const (
	// ContentType is the content type the codec is registered under.
	ContentType = "application/json"
	// Name is the name String returns.
	Name = "json"
)

func init() { codec.Register(ContentType, NewCodec) }

// jsonCodec reads and writes bare JSON values on a connection.
type jsonCodec struct {
	rwc  io.ReadWriteCloser
	rd   wire.ReadTracker
	dec  *stdjson.Decoder // made on first read, remade after a broken stream
	raw  stdjson.RawMessage
	wbuf []byte

	closeOnce sync.Once
	closeErr  error
}

// NewCodec returns a json codec over rwc.
func NewCodec(rwc io.ReadWriteCloser) codec.Codec {
	c := &jsonCodec{rwc: rwc}
	c.rd.R = rwc
	return c
}

// ReadHeader does nothing: the header of a bare JSON body travels in the
// transport's headers. It leaves m alone and reads nothing.
func (c *jsonCodec) ReadHeader(*codec.Message, codec.MessageType) error { return nil }

// ReadBody decodes the next JSON value into v; see the package doc.
func (c *jsonCodec) ReadBody(v any) error {
	if c.dec == nil {
		c.dec = stdjson.NewDecoder(&c.rd)
	}
	switch t := v.(type) {
	case nil:
		err := c.skip()
		if err == io.EOF {
			return nil
		}
		return err
	case proto.Message:
		if !t.ProtoReflect().IsValid() {
			return c.refuse(v)
		}
		if err := c.decode(&c.raw); err != nil {
			return err
		}
		err := unmarshalProto(c.raw, t)
		c.keepRaw()
		return err
	case *[]byte:
		if t == nil {
			return c.refuse(v)
		}
		return c.decode((*stdjson.RawMessage)(t))
	}
	return c.decode(v)
}

// UnmarshalBody decodes body, one whole JSON message, into v without a
// stream decoder; see [codec.BodyUnmarshaler]. Content after the value is
// refused.
func (c *jsonCodec) UnmarshalBody(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		if v == nil {
			return nil // ReadBody's skip of nothing
		}
		return io.EOF
	}
	switch t := v.(type) {
	case nil:
		return validBody(body)
	case proto.Message:
		if !t.ProtoReflect().IsValid() {
			return refuseBody(body, v)
		}
		return unmarshalProto(body, t)
	case *[]byte:
		if t == nil {
			return refuseBody(body, v)
		}
		return copyRaw(t, body)
	}
	return decodeError(v, stdjson.Unmarshal(body, v))
}

// validBody reports a body that is not one JSON value.
func validBody(body []byte) error {
	if !stdjson.Valid(body) {
		return invalid(errNotJSON)
	}
	return nil
}

// refuseBody is refuse for a body in memory: malformed input first, then
// the unsupported target.
func refuseBody(body []byte, v any) error {
	if err := validBody(body); err != nil {
		return err
	}
	return unsupported("read into", v)
}

// skip reads the next value and drops it.
func (c *jsonCodec) skip() error {
	err := c.decode(&c.raw)
	c.keepRaw()
	return err
}

// refuse consumes the next value, which v cannot take, as encoding/json
// does for a target that is not a non-nil pointer: an error reading the
// value comes first, then the unsupported type.
func (c *jsonCodec) refuse(v any) error {
	if err := c.skip(); err != nil {
		return err
	}
	return unsupported("read into", v)
}

// keepRaw empties the scratch value, dropping it once it grew large.
func (c *jsonCodec) keepRaw() {
	if cap(c.raw) > keepBuffer {
		c.raw = nil
	} else {
		c.raw = c.raw[:0]
	}
}

// decode reads the next value into v and sorts its errors: the end of the
// input, a broken connection, malformed input (after which the decoder is
// remade, so that a connection whose buffer is refilled per message can
// carry on) and a value that does not fit v.
func (c *jsonCodec) decode(v any) error {
	err := c.dec.Decode(v)
	if err == nil {
		return nil
	}
	if err == io.EOF {
		// Only white space is lost: the decoder keeps returning io.EOF, so
		// start afresh for a connection that may yet receive more.
		c.dec = nil
		return io.EOF
	}
	if rerr := c.rd.Err; rerr != nil && errors.Is(err, rerr) {
		c.rd.Err = nil
		c.dec = nil
		return err
	}
	var syntax *stdjson.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.dec = nil
	}
	return decodeError(v, err)
}

// Write writes v as one JSON value and a newline; m is not written. A nil
// v writes nothing.
func (c *jsonCodec) Write(_ *codec.Message, v any) error {
	b, owned, err := encode(v)
	if err != nil || b == nil {
		return err
	}
	if owned {
		b = append(b, '\n')
	} else {
		c.wbuf = append(append(c.wbuf[:0], b...), '\n')
		b = c.wbuf
	}
	_, err = c.rwc.Write(b)
	if cap(c.wbuf) > keepBuffer {
		c.wbuf = nil
	}
	return err
}

// Close closes the connection; later calls return the first call's error.
func (c *jsonCodec) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.rwc.Close() })
	return c.closeErr
}

// String returns "json".
func (c *jsonCodec) String() string { return Name }

// keepBuffer is the largest scratch buffer a codec keeps between messages.
const keepBuffer = 64 << 10

var (
	_ codec.Codec           = (*jsonCodec)(nil)
	_ codec.BodyUnmarshaler = (*jsonCodec)(nil)
)
