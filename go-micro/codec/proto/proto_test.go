package proto_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/codectest"
	microproto "github.com/openmicro/go-micro/codec/proto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/sourcecontextpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestConformance(t *testing.T) {
	codectest.Run(t, microproto.NewCodec, codectest.Caps{
		Proto: true,
		Raw:   []byte{0x0a, 0x02, 'h', 'i', 0xff}, // passed through, never parsed
	})
}

func encoded(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadBody(t *testing.T) {
	hello := encoded(t, wrapperspb.String("hello"))
	tests := []struct {
		name   string
		in     []byte
		target func() any
		want   proto.Message
		is     error
	}{
		{name: "message", in: hello, target: func() any { return new(wrapperspb.StringValue) },
			want: wrapperspb.String("hello")},
		{name: "empty input is the default message", in: nil, target: func() any { return wrapperspb.String("stale") },
			want: &wrapperspb.StringValue{}},
		{name: "truncated", in: hello[:len(hello)-1], target: func() any { return new(wrapperspb.StringValue) },
			is: codec.ErrInvalidMessage},
		{name: "garbage", in: []byte{0xff, 0xff, 0xff}, target: func() any { return new(structpb.Struct) },
			is: codec.ErrInvalidMessage},
		{name: "bad varint", in: bytes.Repeat([]byte{0x80}, 11), target: func() any { return new(wrapperspb.Int64Value) },
			is: codec.ErrInvalidMessage},
		{name: "invalid UTF-8 in a string", in: []byte{0x0a, 0x01, 0xff}, target: func() any { return new(wrapperspb.StringValue) },
			is: codec.ErrInvalidMessage},
		{name: "struct target", in: hello, target: func() any { return &struct{ A string }{} },
			is: codec.ErrUnsupportedType},
		{name: "typed nil target", in: hello, target: func() any { return (*wrapperspb.StringValue)(nil) },
			is: codec.ErrUnsupportedType},
		{name: "nil *[]byte target", in: hello, target: func() any { return (*[]byte)(nil) },
			is: codec.ErrUnsupportedType},
		{name: "nil target", in: []byte{0xff}, target: func() any { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := microproto.NewCodec(codectest.NewBuffer(tt.in))
			m := codec.Message{Id: "keep"}
			if err := c.ReadHeader(&m, codec.Response); err != nil || m.Id != "keep" {
				t.Fatalf("ReadHeader = %v and changed the message to %+v", err, m)
			}
			v := tt.target()
			err := c.ReadBody(v)
			if tt.is != nil {
				if !errors.Is(err, tt.is) {
					t.Fatalf("ReadBody = %v, want an error wrapping %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadBody: %v", err)
			}
			if tt.want != nil && !proto.Equal(v.(proto.Message), tt.want) {
				t.Fatalf("ReadBody = %v, want %v", v, tt.want)
			}
		})
	}
}

func TestUnknownFieldsKept(t *testing.T) {
	in := encoded(t, &sourcecontextpb.SourceContext{FileName: "a.proto"})
	in = protowire.AppendTag(in, 9, protowire.VarintType)
	in = protowire.AppendVarint(in, 42)
	c := microproto.NewCodec(codectest.NewBuffer(in))
	got := new(sourcecontextpb.SourceContext)
	if err := c.ReadBody(got); err != nil {
		t.Fatal(err)
	}
	if got.GetFileName() != "a.proto" {
		t.Fatalf("FileName = %q", got.GetFileName())
	}
	if out := encoded(t, got); !bytes.Equal(out, in) {
		t.Fatalf("re-encoded % x, want % x (unknown field lost)", out, in)
	}
}

func TestWrite(t *testing.T) {
	raw := []byte{1, 2, 3}
	tests := []struct {
		name string
		v    any
		want []byte
		is   error
	}{
		{name: "message", v: wrapperspb.String("hi"), want: []byte{0x0a, 0x02, 'h', 'i'}},
		{name: "default message writes nothing", v: wrapperspb.String("")},
		{name: "typed nil message", v: (*wrapperspb.StringValue)(nil)},
		{name: "raw", v: raw, want: raw},
		{name: "pointer to raw", v: &raw, want: raw},
		{name: "nil pointer to raw", v: (*[]byte)(nil)},
		{name: "nil", v: nil},
		{name: "struct", v: struct{ A string }{"x"}, is: codec.ErrUnsupportedType},
		{name: "string", v: "x", is: codec.ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(codectest.Buffer)
			err := microproto.NewCodec(buf).Write(&codec.Message{Type: codec.Request}, tt.v)
			if tt.is != nil {
				if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), "proto.Message") {
					t.Fatalf("Write = %v, want a clear error wrapping %v", err, tt.is)
				}
				if buf.Len() != 0 {
					t.Fatalf("a failed Write wrote % x", buf.Bytes())
				}
				return
			}
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), tt.want) {
				t.Fatalf("wrote % x, want % x", buf.Bytes(), tt.want)
			}
		})
	}
}

// failingConn is a connection whose reads fail.
type failingConn struct{ err error }

func (c *failingConn) Read([]byte) (int, error)    { return 0, c.err }
func (c *failingConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *failingConn) Close() error                { return nil }

func TestReadConnectionError(t *testing.T) {
	broken := errors.New("connection reset")
	for _, v := range []any{nil, new([]byte), new(wrapperspb.StringValue)} {
		err := microproto.NewCodec(&failingConn{err: broken}).ReadBody(v)
		if !errors.Is(err, broken) || errors.Is(err, codec.ErrInvalidMessage) {
			t.Fatalf("ReadBody(%T) = %v, want the connection's error", v, err)
		}
	}
}

// TestReadRefilledBuffer reuses one codec over a buffer refilled per
// message, as the RPC layer does.
func TestReadRefilledBuffer(t *testing.T) {
	buf := new(codectest.Buffer)
	c := microproto.NewCodec(buf)
	for i, s := range []string{"one", "", "three with a longer text than before", "four"} {
		buf.Reset()
		buf.Write(encoded(t, wrapperspb.String(s)))
		got := wrapperspb.String("stale")
		if err := c.ReadBody(got); err != nil || got.GetValue() != s {
			t.Fatalf("message %d: ReadBody = %q, %v; want %q", i, got.GetValue(), err, s)
		}
	}
	buf.Reset()
	buf.WriteString("\xff")
	if err := c.ReadBody(new(wrapperspb.StringValue)); !errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadBody of garbage = %v", err)
	}
	if err := c.ReadBody(new(wrapperspb.StringValue)); err != nil {
		t.Fatalf("ReadBody after garbage on an empty buffer = %v", err)
	}
	if _, err := io.ReadAll(buf); err != nil {
		t.Fatal(err)
	}
}
