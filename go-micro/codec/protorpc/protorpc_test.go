package protorpc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/protorpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestConformance(t *testing.T) {
	codectest.Run(t, protorpc.NewCodec, codectest.Caps{
		Envelope: true,
		Stream:   true,
		Proto:    true,
		Raw:      []byte("\x00\xffany bytes"),
	})
}

// byteConn hides the ByteReader of its buffer and reads one byte at a
// time, so the codec takes its bufio path and meets short reads.
type byteConn struct{ buf *codectest.Buffer }

func (c byteConn) Read(p []byte) (int, error)  { return iotest.OneByteReader(c.buf).Read(p) }
func (c byteConn) Write(p []byte) (int, error) { return c.buf.Write(p) }
func (c byteConn) Close() error                { return c.buf.Close() }

func TestConformanceBufferedShortReads(t *testing.T) {
	codectest.Run(t, func(rwc io.ReadWriteCloser) codec.Codec {
		if b, ok := rwc.(*codectest.Buffer); ok {
			rwc = byteConn{b}
		}
		return protorpc.NewCodec(rwc)
	}, codectest.Caps{Envelope: true, Stream: true, Proto: true, Raw: bytes.Repeat([]byte("xyz"), 1000)})
}

func TestWireFormat(t *testing.T) {
	buf := new(codectest.Buffer)
	m := &codec.Message{Id: "1", Type: codec.Request, Endpoint: "S.M", Header: map[string]string{"b": "2", "a": "1"}}
	if err := protorpc.NewCodec(buf).Write(m, wrapperspb.String("hi")); err != nil {
		t.Fatal(err)
	}
	want := []byte{
		26,           // header length
		0x0a, 1, '1', // id
		0x10, 1, // type
		0x22, 3, 'S', '.', 'M', // endpoint
		0x32, 6, 0x0a, 1, 'a', 0x12, 1, '1', // header entries, sorted by key
		0x32, 6, 0x0a, 1, 'b', 0x12, 1, '2',
		4, 0x0a, 2, 'h', 'i', // body
	}
	if got := buf.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("wrote\n% x\nwant\n% x", got, want)
	}
}

// frame builds a frame from a header and a body.
func frame(header, body []byte) []byte {
	b := protowire.AppendVarint(nil, uint64(len(header)))
	b = append(b, header...)
	b = protowire.AppendVarint(b, uint64(len(body)))
	return append(b, body...)
}

func TestReadHeader(t *testing.T) {
	id7 := []byte{0x0a, 1, '7'}
	tooLarge := protowire.AppendVarint(nil, protorpc.DefaultMaxFrameSize+1)
	tests := []struct {
		name string
		in   []byte
		t    codec.MessageType
		want codec.Message
		is   []error
	}{
		{name: "empty", in: nil, is: []error{io.EOF}},
		{name: "cut length", in: []byte{0x80}, is: []error{codec.ErrInvalidMessage, io.ErrUnexpectedEOF}},
		{name: "cut header", in: []byte{5, 0x0a}, is: []error{codec.ErrInvalidMessage, io.ErrUnexpectedEOF}},
		{name: "no body length", in: []byte{0}, is: []error{codec.ErrInvalidMessage, io.ErrUnexpectedEOF}},
		{name: "huge header length", in: []byte{0xff, 0xff, 0xff, 0xff, 0x0f},
			is: []error{codec.ErrInvalidMessage, protorpc.ErrFrameTooLarge}},
		{name: "header length just over", in: tooLarge, is: []error{codec.ErrInvalidMessage, protorpc.ErrFrameTooLarge}},
		{name: "huge body length", in: append([]byte{0}, tooLarge...),
			is: []error{codec.ErrInvalidMessage, protorpc.ErrFrameTooLarge}},
		{name: "length overflows", in: bytes.Repeat([]byte{0xff}, 11), is: []error{codec.ErrInvalidMessage}},
		{name: "cut string in header", in: frame([]byte{0x0a, 5, 'a'}, nil), is: []error{codec.ErrInvalidMessage}},
		{name: "field number zero", in: frame([]byte{0x00, 0x00}, nil), is: []error{codec.ErrInvalidMessage}},
		{name: "bad map entry", in: frame([]byte{0x32, 2, 0x0a, 9}, nil), is: []error{codec.ErrInvalidMessage}},
		{name: "empty header", in: frame(nil, nil), want: codec.Message{}},
		{name: "unknown fields skipped", in: frame(append([]byte{0x48, 0x96, 0x01, 0x52, 1, 'x', 0x0d, 1, 2, 3, 4}, id7...), nil),
			want: codec.Message{Id: "7"}},
		{name: "wrong wire type skipped", in: frame(append([]byte{0x08, 1, 0x12, 1, 'x'}, id7...), nil),
			want: codec.Message{Id: "7"}},
		{name: "map entry parts", in: frame([]byte{0x32, 3, 0x12, 1, 'v', 0x32, 3, 0x0a, 1, 'k', 0x32, 0}, nil),
			want: codec.Message{Header: map[string]string{"": "", "k": ""}}},
		{name: "duplicate key: last wins", in: frame([]byte{0x32, 6, 0x0a, 1, 'k', 0x12, 1, '1', 0x32, 6, 0x0a, 1, 'k', 0x12, 1, '2'}, nil),
			want: codec.Message{Header: map[string]string{"k": "2"}}},
		{name: "response when a request is expected", in: frame([]byte{0x10, 2}, nil), t: codec.Request,
			is: []error{codec.ErrInvalidMessage}},
		{name: "request when a response is expected", in: frame([]byte{0x10, 1}, nil), t: codec.Error,
			is: []error{codec.ErrInvalidMessage}},
		{name: "unknown type when a request is expected", in: frame([]byte{0x10, 9}, nil), t: codec.Request,
			is: []error{codec.ErrInvalidMessage}},
		{name: "negative type", in: frame([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, nil),
			want: codec.Message{Type: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := protorpc.NewCodec(codectest.NewBuffer(tt.in))
			got := codec.Message{Id: "stale", Header: map[string]string{"stale": "1"}}
			err := c.ReadHeader(&got, tt.t)
			if len(tt.is) > 0 {
				for _, is := range tt.is {
					if !errors.Is(err, is) {
						t.Fatalf("ReadHeader = %v, want an error wrapping %v", err, is)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			codectest.CheckHeader(t, &got, &tt.want)
		})
	}
}

func TestReadBody(t *testing.T) {
	hi, err := proto.Marshal(wrapperspb.String("hi"))
	if err != nil {
		t.Fatal(err)
	}
	in := frame(nil, hi)                                      // 1: read with the wrong type, which skips it
	in = append(in, frame([]byte{0x0a, 1, '2'}, hi)...)       // 2: skipped by ReadHeader
	in = append(in, frame(nil, []byte{0xff, 0xff})...)        // 3: garbage body
	in = append(in, frame(nil, []byte{0x0a, 5, 'x'})...)      // 4: truncated inside the body
	in = append(in, frame([]byte{0x0a, 1, '5'}, hi)...)       // 5: fine
	in = append(in, frame(nil, []byte{1, 2, 3, 4, 5})[:4]...) // 6: cut short
	c := protorpc.NewCodec(codectest.NewBuffer(in))
	var m codec.Message

	if err := c.ReadBody(nil); err == nil {
		t.Fatal("ReadBody before ReadHeader succeeded")
	}
	if err := c.ReadHeader(&m, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.ReadBody(&struct{}{}); !errors.Is(err, codec.ErrUnsupportedType) {
		t.Fatalf("ReadBody into a struct = %v, want codec.ErrUnsupportedType", err)
	}
	var raw []byte
	if err := c.ReadBody(&raw); err == nil {
		t.Fatalf("a second ReadBody for one header, after a refused target, succeeded: % x", raw)
	}
	if err := c.ReadHeader(&m, 0); err != nil || m.Id != "2" {
		t.Fatalf("ReadHeader 2 = %+v, %v", m, err)
	}
	for i := 3; i <= 4; i++ {
		if err := c.ReadHeader(&m, 0); err != nil {
			t.Fatalf("ReadHeader %d: %v", i, err)
		}
		if err := c.ReadBody(new(wrapperspb.StringValue)); !errors.Is(err, codec.ErrInvalidMessage) {
			t.Fatalf("ReadBody %d = %v, want codec.ErrInvalidMessage", i, err)
		}
	}
	if err := c.ReadHeader(&m, 0); err != nil || m.Id != "5" {
		t.Fatalf("ReadHeader 5 = %+v, %v", m, err)
	}
	got := new(wrapperspb.StringValue)
	if err := c.ReadBody(got); err != nil || got.GetValue() != "hi" {
		t.Fatalf("ReadBody 5 = %v, %v", got, err)
	}
	if err := c.ReadHeader(&m, 0); err != nil {
		t.Fatalf("ReadHeader 6: %v", err)
	}
	if err := c.ReadBody(&raw); !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadBody of a cut body = %v, want an invalid message and io.ErrUnexpectedEOF", err)
	}
}

func TestMaxFrameSize(t *testing.T) {
	buf := new(codectest.Buffer)
	small := protorpc.New(buf, protorpc.MaxFrameSize(8))
	m := &codec.Message{Type: codec.Request}
	for _, v := range []any{[]byte("123456789"), wrapperspb.String("1234567")} {
		if err := small.Write(m, v); !errors.Is(err, protorpc.ErrFrameTooLarge) {
			t.Fatalf("Write(%T) over the limit = %v, want ErrFrameTooLarge", v, err)
		}
	}
	if err := small.Write(&codec.Message{Type: codec.Request, Endpoint: "Endpoint"}, nil); !errors.Is(err, protorpc.ErrFrameTooLarge) {
		t.Fatalf("Write of a header over the limit = %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("refused writes wrote % x", buf.Bytes())
	}
	if err := small.Write(m, []byte("12345678")); err != nil {
		t.Fatalf("Write at the limit: %v", err)
	}
	if err := protorpc.NewCodec(buf).Write(m, []byte("123456789")); err != nil {
		t.Fatal(err)
	}
	var got codec.Message
	var body []byte
	if err := small.ReadHeader(&got, codec.Request); err != nil {
		t.Fatal(err)
	}
	if err := small.ReadBody(&body); err != nil || string(body) != "12345678" {
		t.Fatalf("ReadBody at the limit = %q, %v", body, err)
	}
	if err := small.ReadHeader(&got, codec.Request); !errors.Is(err, protorpc.ErrFrameTooLarge) {
		t.Fatalf("ReadHeader over the limit = %v, want ErrFrameTooLarge", err)
	}
	if c := protorpc.New(new(codectest.Buffer), protorpc.MaxFrameSize(0)); c.Write(m, make([]byte, 1<<20)) != nil {
		t.Fatal("MaxFrameSize(0) did not keep the default")
	}
}

// TestLyingLengthAllocatesLittle reads a frame promising a body of almost
// the limit with hardly any bytes behind it.
func TestLyingLengthAllocatesLittle(t *testing.T) {
	in := append([]byte{0}, protowire.AppendVarint(nil, protorpc.DefaultMaxFrameSize)...)
	in = append(in, "only a few bytes"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		c := protorpc.NewCodec(codectest.NewBuffer(in))
		var m codec.Message
		if err := c.ReadHeader(&m, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.ReadBody(new(wrapperspb.StringValue)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadBody = %v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("ten reads of a lying length allocated %d bytes", grew)
	}
}

func TestWriteErrors(t *testing.T) {
	buf := new(codectest.Buffer)
	c := protorpc.NewCodec(buf)
	if err := c.Write(nil, nil); err == nil {
		t.Fatal("Write(nil message) succeeded")
	}
	for _, v := range []any{"text", struct{}{}, 5} {
		if err := c.Write(&codec.Message{Type: codec.Request}, v); !errors.Is(err, codec.ErrUnsupportedType) {
			t.Fatalf("Write(%T) = %v, want codec.ErrUnsupportedType", v, err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("failed writes wrote % x", buf.Bytes())
	}
}

// TestReadRefilledBuffer reuses one codec over a buffer refilled per
// message, as the RPC layer does with its transport messages.
func TestReadRefilledBuffer(t *testing.T) {
	buf := new(codectest.Buffer)
	c := protorpc.NewCodec(buf)
	w := protorpc.NewCodec(new(codectest.Buffer))
	for i := range 5 {
		buf.Reset()
		if i == 2 {
			buf.Write([]byte{9, 1})
			var m codec.Message
			if err := c.ReadHeader(&m, 0); !errors.Is(err, codec.ErrInvalidMessage) {
				t.Fatalf("ReadHeader of a cut frame = %v", err)
			}
			continue
		}
		w = protorpc.NewCodec(buf)
		if err := w.Write(&codec.Message{Id: fmt.Sprint(i), Type: codec.Response}, wrapperspb.Int32(int32(i))); err != nil {
			t.Fatal(err)
		}
		var m codec.Message
		v := new(wrapperspb.Int32Value)
		if err := c.ReadHeader(&m, codec.Response); err != nil {
			t.Fatalf("ReadHeader %d: %v", i, err)
		}
		if err := c.ReadBody(v); err != nil || m.Id != fmt.Sprint(i) || v.GetValue() != int32(i) {
			t.Fatalf("message %d = %+v, %v, %v", i, m, v, err)
		}
	}
	_ = w.Close()
}

// failingConn is a connection whose reads fail.
type failingConn struct{ err error }

func (c *failingConn) Read([]byte) (int, error)    { return 0, c.err }
func (c *failingConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *failingConn) Close() error                { return nil }

func TestReadConnectionError(t *testing.T) {
	broken := errors.New("connection reset")
	var m codec.Message
	err := protorpc.NewCodec(&failingConn{err: broken}).ReadHeader(&m, codec.Request)
	if !errors.Is(err, broken) || errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadHeader = %v, want the connection's error", err)
	}
}
