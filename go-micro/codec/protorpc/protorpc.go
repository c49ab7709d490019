package protorpc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/internal/wire"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const (
	// ContentType is the content type the codec is registered under.
	ContentType = "application/proto-rpc"
	// Name is the name String returns.
	Name = "protorpc"
	// DefaultMaxFrameSize is the default limit, in bytes, of a frame's
	// header and of its body: 4 MiB.
	DefaultMaxFrameSize = 4 << 20
)

// ErrFrameTooLarge is returned (wrapped) for a header or body over the
// frame size limit.
var ErrFrameTooLarge = errors.New("codec/protorpc: frame too large")

// errNoHeader is returned by ReadBody when no header was read before it.
var errNoHeader = errors.New("codec/protorpc: ReadBody called before ReadHeader")

func init() { codec.Register(ContentType, NewCodec) }

// Option configures a codec made by New.
type Option func(*options)

type options struct {
	maxFrameSize int
}

// MaxFrameSize limits the size in bytes of a frame's header and of its
// body, on read and on write. Values below 1 keep the default,
// DefaultMaxFrameSize.
func MaxFrameSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxFrameSize = n
		}
	}
}

// keepBuffer is the largest scratch buffer a codec keeps between messages.
const keepBuffer = 64 << 10

// byteReader is what the codec reads from: the connection itself when it
// can read single bytes (a bytes.Buffer), a bufio.Reader over it otherwise.
type byteReader interface {
	io.Reader
	io.ByteReader
}

type protorpcCodec struct {
	rwc  io.ReadWriteCloser
	opts options
	r    byteReader // made on first read

	pending bool // a header was read and its body not yet
	bodyLen int

	rbuf []byte // scratch for reading
	hbuf []byte // scratch for encoding a header
	wbuf []byte // scratch for encoding a frame

	once     sync.Once
	closeErr error
}

// NewCodec returns a proto-rpc codec over rwc with the default options.
func NewCodec(rwc io.ReadWriteCloser) codec.Codec { return New(rwc) }

// New returns a proto-rpc codec over rwc.
func New(rwc io.ReadWriteCloser, opts ...Option) codec.Codec {
	c := &protorpcCodec{rwc: rwc, opts: options{maxFrameSize: DefaultMaxFrameSize}}
	for _, o := range opts {
		o(&c.opts)
	}
	return c
}

func (c *protorpcCodec) reader() byteReader {
	if c.r == nil {
		if br, ok := c.rwc.(byteReader); ok {
			c.r = br
		} else {
			c.r = bufio.NewReader(c.rwc)
		}
	}
	return c.r
}

// ReadHeader reads the next frame's header into m and the length of its
// body; see the package doc.
func (c *protorpcCodec) ReadHeader(m *codec.Message, t codec.MessageType) error {
	r := c.reader()
	if c.pending {
		c.pending = false
		if _, err := io.CopyN(io.Discard, r, int64(c.bodyLen)); err != nil {
			return truncated(err)
		}
	}
	hlen, err := c.readLength(r, true)
	if err != nil {
		return err
	}
	c.rbuf, err = readN(c.rbuf, r, hlen)
	if err != nil {
		return truncated(err)
	}
	blen, err := c.readLength(r, false)
	if err != nil {
		return err
	}
	c.pending, c.bodyLen = true, blen

	var got codec.Message
	err = parseHeader(c.rbuf, &got)
	c.keepRead()
	if err != nil {
		return invalid(err)
	}
	if want := wire.Side(t); want != "" && want != wire.Side(got.Type) {
		return invalid(fmt.Errorf("got a %v (%d), want a %v", got.Type, int(got.Type), t))
	}
	if m != nil {
		*m = got
	}
	return nil
}

// readLength reads a frame length. io.EOF before its first byte is the end
// of the input when first is set.
func (c *protorpcCodec) readLength(r byteReader, first bool) (int, error) {
	var x uint64
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && i == 0 && first {
				return 0, io.EOF
			}
			return 0, truncated(err)
		}
		if i == binaryMaxVarintLen64-1 && b > 1 {
			return 0, invalid(errors.New("length varint overflows 64 bits"))
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			break
		}
	}
	if x > uint64(c.opts.maxFrameSize) {
		return 0, invalid(fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, x, c.opts.maxFrameSize))
	}
	return int(x), nil
}

const binaryMaxVarintLen64 = 10

// ReadBody decodes the body of the frame whose header was just read into
// v: a proto.Message, a *[]byte, or nil to discard it. For any other type,
// or a nil pointer, the body is skipped and the error wraps
// codec.ErrUnsupportedType.
func (c *protorpcCodec) ReadBody(v any) error {
	if !c.pending {
		return errNoHeader
	}
	r := c.reader()
	switch t := v.(type) {
	case nil:
		return c.skip(r)
	case *[]byte:
		if t == nil {
			return c.refuse(r, v)
		}
		c.pending = false
		b, err := readN((*t)[:0], r, c.bodyLen)
		*t = b
		if err != nil {
			return truncated(err)
		}
		return nil
	case proto.Message:
		if !t.ProtoReflect().IsValid() {
			return c.refuse(r, v)
		}
		c.pending = false
		var err error
		c.rbuf, err = readN(c.rbuf, r, c.bodyLen)
		if err != nil {
			c.keepRead()
			return truncated(err)
		}
		err = proto.Unmarshal(c.rbuf, t)
		c.keepRead()
		if err != nil {
			return invalid(err)
		}
		return nil
	}
	return c.refuse(r, v)
}

// skip drops the pending body.
func (c *protorpcCodec) skip(r io.Reader) error {
	c.pending = false
	if _, err := io.CopyN(io.Discard, r, int64(c.bodyLen)); err != nil {
		return truncated(err)
	}
	return nil
}

// refuse skips the pending body, which v cannot take, and says so; an
// error reading the body comes first.
func (c *protorpcCodec) refuse(r io.Reader, v any) error {
	if err := c.skip(r); err != nil {
		return err
	}
	return unsupported("read into", v)
}

func (c *protorpcCodec) keepRead() {
	if cap(c.rbuf) > keepBuffer {
		c.rbuf = nil
	}
}

// Write writes one frame: header m and body v.
func (c *protorpcCodec) Write(m *codec.Message, v any) error {
	if m == nil {
		return errors.New("codec/protorpc: Write of a nil message")
	}
	c.hbuf = appendHeader(c.hbuf[:0], m)
	if len(c.hbuf) > c.opts.maxFrameSize {
		return fmt.Errorf("codec/protorpc: header: %w: %d bytes, limit %d", ErrFrameTooLarge, len(c.hbuf), c.opts.maxFrameSize)
	}
	b := protowire.AppendVarint(c.wbuf[:0], uint64(len(c.hbuf)))
	b = append(b, c.hbuf...)
	var raw []byte
	switch t := v.(type) {
	case nil:
	case proto.Message:
		size := proto.Size(t)
		if size > c.opts.maxFrameSize {
			return fmt.Errorf("codec/protorpc: body: %w: %d bytes, limit %d", ErrFrameTooLarge, size, c.opts.maxFrameSize)
		}
		b = protowire.AppendVarint(b, uint64(size))
		start := len(b)
		var err error
		b, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, t)
		if err != nil {
			return fmt.Errorf("codec/protorpc: encode %T: %w", v, err)
		}
		if len(b)-start != size {
			return fmt.Errorf("codec/protorpc: encode %T: size changed while encoding", v)
		}
		return c.write(b)
	case []byte:
		raw = t
	case *[]byte:
		if t != nil {
			raw = *t
		}
	default:
		return unsupported("write", v)
	}
	if len(raw) > c.opts.maxFrameSize {
		return fmt.Errorf("codec/protorpc: body: %w: %d bytes, limit %d", ErrFrameTooLarge, len(raw), c.opts.maxFrameSize)
	}
	b = protowire.AppendVarint(b, uint64(len(raw)))
	b = append(b, raw...)
	return c.write(b)
}

func (c *protorpcCodec) write(b []byte) error {
	_, err := c.rwc.Write(b)
	if cap(b) <= keepBuffer {
		c.wbuf = b[:0]
	} else {
		c.wbuf = nil
	}
	if cap(c.hbuf) > keepBuffer {
		c.hbuf = nil
	}
	return err
}

// Close closes the connection; later calls return the first call's error.
func (c *protorpcCodec) Close() error {
	c.once.Do(func() { c.closeErr = c.rwc.Close() })
	return c.closeErr
}

// String returns "protorpc".
func (c *protorpcCodec) String() string { return Name }

// Header field numbers.
const (
	fieldID       protowire.Number = 1
	fieldType     protowire.Number = 2
	fieldService  protowire.Number = 3
	fieldEndpoint protowire.Number = 4
	fieldError    protowire.Number = 5
	fieldHeader   protowire.Number = 6

	entryKey   protowire.Number = 1
	entryValue protowire.Number = 2
)

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendHeader(b []byte, m *codec.Message) []byte {
	b = appendString(b, fieldID, m.Id)
	if m.Type != 0 {
		b = protowire.AppendTag(b, fieldType, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(int32(m.Type))))
	}
	b = appendString(b, fieldService, m.Service)
	b = appendString(b, fieldEndpoint, m.Endpoint)
	b = appendString(b, fieldError, m.Error)
	if len(m.Header) == 0 {
		return b
	}
	for _, k := range slices.Sorted(maps.Keys(m.Header)) {
		v := m.Header[k]
		size := 0
		if k != "" {
			size += protowire.SizeTag(entryKey) + protowire.SizeBytes(len(k))
		}
		if v != "" {
			size += protowire.SizeTag(entryValue) + protowire.SizeBytes(len(v))
		}
		b = protowire.AppendTag(b, fieldHeader, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		b = appendString(b, entryKey, k)
		b = appendString(b, entryValue, v)
	}
	return b
}

// parseHeader decodes a header into m, skipping unknown fields and fields
// of an unexpected wire type.
func parseHeader(b []byte, m *codec.Message) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && num >= fieldID && num <= fieldHeader && num != fieldType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case fieldID:
				m.Id = string(v)
			case fieldService:
				m.Service = string(v)
			case fieldEndpoint:
				m.Endpoint = string(v)
			case fieldError:
				m.Error = string(v)
			case fieldHeader:
				k, val, err := parseEntry(v)
				if err != nil {
					return err
				}
				if m.Header == nil {
					m.Header = make(map[string]string)
				}
				m.Header[k] = val
			}
		case typ == protowire.VarintType && num == fieldType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			m.Type = codec.MessageType(int32(v))
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}

// parseEntry decodes one map<string, string> entry.
func parseEntry(b []byte) (key, value string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == entryKey || num == entryValue) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			b = b[n:]
			if num == entryKey {
				key = string(v)
			} else {
				value = string(v)
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
	}
	return key, value, nil
}

// readN reads exactly n bytes from r into b[:0], growing b as the bytes
// arrive rather than all at once, so that a length promising more than the
// input holds allocates little.
func readN(b []byte, r io.Reader, n int) ([]byte, error) {
	b = b[:0]
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n-len(b), max(len(b), 512)))
		}
		m, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil && len(b) < n {
			return b, err
		}
	}
	return b, nil
}

// truncated sorts an error met inside a frame: the end of the input there
// means the frame was cut short; any other error is the connection's.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return invalid(io.ErrUnexpectedEOF)
	}
	return err
}

func invalid(err error) error {
	return fmt.Errorf("%w: protorpc: %w", codec.ErrInvalidMessage, err)
}

func unsupported(op string, v any) error {
	return fmt.Errorf("%w: codec/protorpc cannot %s %T (want a proto.Message, []byte or *[]byte)",
		codec.ErrUnsupportedType, op, v)
}

var _ codec.Codec = (*protorpcCodec)(nil)
