package bytes_test

import (
	stdbytes "bytes"
	"errors"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/bytes"
	"github.com/openmicro/go-micro/codec/codectest"
)

func TestConformance(t *testing.T) {
	codectest.Run(t, bytes.NewCodec, codectest.Caps{Raw: []byte("\x00\x01 any bytes \xff")})
}

func TestWrite(t *testing.T) {
	data := []byte("hello")
	tests := []struct {
		name string
		v    any
		want string
		is   error
	}{
		{name: "bytes", v: data, want: "hello"},
		{name: "pointer to bytes", v: &data, want: "hello"},
		{name: "frame", v: bytes.Frame{Data: data}, want: "hello"},
		{name: "pointer to frame", v: &bytes.Frame{Data: data}, want: "hello"},
		{name: "nil", v: nil},
		{name: "empty", v: []byte{}},
		{name: "nil pointer to bytes", v: (*[]byte)(nil)},
		{name: "nil pointer to frame", v: (*bytes.Frame)(nil)},
		{name: "string", v: "hello", is: codec.ErrUnsupportedType},
		{name: "struct", v: struct{}{}, is: codec.ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(codectest.Buffer)
			err := bytes.NewCodec(buf).Write(&codec.Message{}, tt.v)
			if tt.is != nil {
				if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), "codec: unsupported type: codec/bytes") {
					t.Fatalf("Write = %v, want an error wrapping %v", err, tt.is)
				}
			} else if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if buf.String() != tt.want {
				t.Fatalf("wrote %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		target func() any
		want   string
		is     error
	}{
		{name: "bytes", in: "abc", target: func() any { return new([]byte) }, want: "abc"},
		{name: "reuses capacity", in: "abc", target: func() any { b := make([]byte, 1, 64); return &b }, want: "abc"},
		{name: "frame", in: "abc", target: func() any { return &bytes.Frame{Data: []byte("stale data")} }, want: "abc"},
		{name: "empty input is an empty body", in: "", target: func() any { b := []byte("stale"); return &b }, want: ""},
		{name: "large", in: strings.Repeat("x", 100_000), target: func() any { return new([]byte) },
			want: strings.Repeat("x", 100_000)},
		{name: "nil", in: "abc", target: func() any { return nil }},
		{name: "string target", in: "abc", target: func() any { return new(string) }, is: codec.ErrUnsupportedType},
		{name: "nil pointer", in: "abc", target: func() any { return (*[]byte)(nil) }, is: codec.ErrUnsupportedType},
		{name: "nil frame", in: "abc", target: func() any { return (*bytes.Frame)(nil) }, is: codec.ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := codectest.NewBuffer([]byte(tt.in))
			c := bytes.NewCodec(buf)
			m := codec.Message{Id: "keep"}
			if err := c.ReadHeader(&m, codec.Request); err != nil || m.Id != "keep" {
				t.Fatalf("ReadHeader = %v and changed the message to %+v", err, m)
			}
			v := tt.target()
			err := c.ReadBody(v)
			if tt.is != nil {
				if !errors.Is(err, tt.is) {
					t.Fatalf("ReadBody = %v, want an error wrapping %v", err, tt.is)
				}
				if buf.Len() != 0 {
					t.Fatalf("a failed ReadBody left %d bytes for the next message", buf.Len())
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadBody: %v", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("ReadBody left %d bytes unread", buf.Len())
			}
			var got []byte
			switch v := v.(type) {
			case *[]byte:
				got = *v
			case *bytes.Frame:
				got = v.Data
			case nil:
				return
			}
			if !stdbytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("ReadBody = %q, want %q", got, tt.want)
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
	for _, v := range []any{nil, new([]byte), new(bytes.Frame)} {
		if err := bytes.NewCodec(&failingConn{err: broken}).ReadBody(v); !errors.Is(err, broken) {
			t.Fatalf("ReadBody(%T) = %v, want the connection's error", v, err)
		}
	}
}
