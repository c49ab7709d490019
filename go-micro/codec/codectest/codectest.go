// Package codectest is the conformance suite that every codec
// implementation runs, and the helpers its tests and fuzz targets share.
//
// [Run] checks what the [codec.Codec] contract promises for any codec
// (round trips, Close, String, nil bodies, the wrong Go type) and adapts to
// what the wire format can carry through [Caps]: whether the codec has its
// own envelope for the header, and whether several messages can follow one
// another on one stream. [Decode] feeds arbitrary bytes through a codec's
// decoders for fuzz targets. [Buffer] is an in-memory io.ReadWriteCloser.
//
// The helpers are meant for tests; none of them is safe for concurrent use.
package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Buffer is an in-memory io.ReadWriteCloser over a bytes.Buffer that counts
// the calls to Close.
type Buffer struct {
	bytes.Buffer
	closes int
}

// NewBuffer returns a Buffer holding a copy of b.
func NewBuffer(b []byte) *Buffer {
	buf := new(Buffer)
	buf.Write(b)
	return buf
}

// Close counts the call and returns nil.
func (b *Buffer) Close() error {
	b.closes++
	return nil
}

// Closes reports how many times Close was called.
func (b *Buffer) Closes() int { return b.closes }

// Caps describes what a codec's wire format carries.
type Caps struct {
	// Envelope is true when the codec writes the header (Id, Type, Service,
	// Endpoint, Error, Header) itself, so ReadHeader gives it back. Without
	// an envelope the header travels in the transport's headers and
	// ReadHeader leaves the Message alone.
	Envelope bool
	// Stream is true when several messages can follow one another on one
	// stream and be read back in order.
	Stream bool
	// Proto is true when bodies may be proto.Message values.
	Proto bool
	// Raw, when not nil, is a body the codec accepts as []byte and gives
	// back unchanged when read into a *[]byte.
	Raw []byte
}

// body is one sample body: what is written and how to check what is read.
type body struct {
	name  string
	value any
	// target returns a fresh value to read into.
	target func() any
	equal  func(got any) bool
}

func bodies(caps Caps) []body {
	var bs []body
	if caps.Proto {
		want := wrapperspb.String("hello, world")
		bs = append(bs, body{
			name:   "proto",
			value:  want,
			target: func() any { return new(wrapperspb.StringValue) },
			equal:  func(got any) bool { return proto.Equal(got.(proto.Message), want) },
		})
		st, err := structpb.NewStruct(map[string]any{"name": "micro", "n": 3.0, "tags": []any{"a", true, nil}})
		if err != nil {
			panic(err) // static input: cannot fail
		}
		bs = append(bs, body{
			name:   "struct",
			value:  st,
			target: func() any { return new(structpb.Struct) },
			equal:  func(got any) bool { return proto.Equal(got.(proto.Message), st) },
		})
		empty := wrapperspb.Int64(0)
		bs = append(bs, body{
			name:   "empty proto",
			value:  empty,
			target: func() any { return wrapperspb.Int64(7) },
			equal:  func(got any) bool { return proto.Equal(got.(proto.Message), empty) },
		})
	}
	if caps.Raw != nil {
		raw := bytes.Clone(caps.Raw)
		bs = append(bs, body{
			name:   "raw",
			value:  raw,
			target: func() any { return new([]byte) },
			equal:  func(got any) bool { return bytes.Equal(*got.(*[]byte), caps.Raw) },
		})
	}
	return bs
}

func headers() []codec.Message {
	return []codec.Message{
		{Id: "1", Type: codec.Request, Service: "go.micro.srv.greeter", Endpoint: "Say.Hello",
			Header: map[string]string{"Micro-Trace": "abc", "x": "y=z"}},
		{Id: "2", Type: codec.Response},
		{Id: "", Type: codec.Event, Endpoint: "topic.created"},
	}
}

// Run checks newCodec against the codec contract.
func Run(t *testing.T, newCodec codec.NewCodec, caps Caps) {
	t.Helper()
	t.Run("String", func(t *testing.T) {
		a, b := newCodec(new(Buffer)).String(), newCodec(new(Buffer)).String()
		if a == "" || a != b {
			t.Fatalf("String() = %q and %q, want one non-empty name", a, b)
		}
	})
	t.Run("Close", func(t *testing.T) {
		buf := new(Buffer)
		c := newCodec(buf)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if buf.Closes() != 1 {
			t.Fatalf("the connection was closed %d times, want 1", buf.Closes())
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		for _, b := range bodies(caps) {
			for _, h := range headers() {
				t.Run(fmt.Sprintf("%s/%v", b.name, h.Type), func(t *testing.T) {
					buf := new(Buffer)
					if err := newCodec(buf).Write(&h, b.value); err != nil {
						t.Fatalf("Write: %v", err)
					}
					r := newCodec(buf)
					got := codec.Message{Id: "stale", Header: map[string]string{"stale": "1"}}
					if !caps.Envelope {
						got = codec.Message{}
					}
					if err := r.ReadHeader(&got, h.Type); err != nil {
						t.Fatalf("ReadHeader: %v", err)
					}
					if caps.Envelope {
						CheckHeader(t, &got, &h)
					} else if got.Id != "" || got.Endpoint != "" || got.Header != nil {
						t.Fatalf("ReadHeader of an envelope-less codec filled %+v", got)
					}
					v := b.target()
					if err := r.ReadBody(v); err != nil {
						t.Fatalf("ReadBody: %v", err)
					}
					if !b.equal(v) {
						t.Fatalf("ReadBody = %v, want %v", v, b.value)
					}
				})
			}
		}
	})
	t.Run("NilBody", func(t *testing.T) {
		buf := new(Buffer)
		h := codec.Message{Id: "9", Type: codec.Response}
		if err := newCodec(buf).Write(&h, nil); err != nil {
			t.Fatalf("Write(nil): %v", err)
		}
		r := newCodec(buf)
		var got codec.Message
		if err := r.ReadHeader(&got, codec.Response); err != nil {
			t.Fatalf("ReadHeader: %v", err)
		}
		if err := r.ReadBody(nil); err != nil {
			t.Fatalf("ReadBody(nil): %v", err)
		}
		if caps.Envelope {
			CheckHeader(t, &got, &h)
		}
	})
	if caps.Envelope {
		t.Run("ErrorResponse", func(t *testing.T) {
			buf := new(Buffer)
			h := codec.Message{Id: "3", Type: codec.Error, Endpoint: "Say.Hello",
				Error: `{"id":"go.micro.srv.greeter","code":404,"detail":"not found"}`}
			if err := newCodec(buf).Write(&h, nil); err != nil {
				t.Fatalf("Write: %v", err)
			}
			r := newCodec(buf)
			var got codec.Message
			if err := r.ReadHeader(&got, codec.Response); err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			if got.Id != h.Id || got.Error != h.Error || got.Type != codec.Error {
				t.Fatalf("ReadHeader = %+v, want id %q, type error and error %q", got, h.Id, h.Error)
			}
			if err := r.ReadBody(nil); err != nil {
				t.Fatalf("ReadBody(nil): %v", err)
			}
		})
		t.Run("EmptyInput", func(t *testing.T) {
			var m codec.Message
			if err := newCodec(new(Buffer)).ReadHeader(&m, codec.Request); err != io.EOF {
				t.Fatalf("ReadHeader on empty input = %v, want io.EOF", err)
			}
		})
	}
	if caps.Stream {
		t.Run("Sequence", func(t *testing.T) { testSequence(t, newCodec, caps) })
	}
	t.Run("ReusedBuffer", func(t *testing.T) { testReusedBuffer(t, newCodec, caps) })
	t.Run("FailedReadBody", func(t *testing.T) { testFailedReadBody(t, newCodec, caps) })
	t.Run("TypedNilBody", func(t *testing.T) { testTypedNilBody(t, newCodec, caps) })
	if caps.Envelope {
		t.Run("ReadBodyTwice", func(t *testing.T) { testReadBodyTwice(t, newCodec, caps) })
	}
	if _, ok := newCodec(new(Buffer)).(codec.BodyUnmarshaler); ok {
		t.Run("UnmarshalBody", func(t *testing.T) {
			for _, b := range bodies(caps) {
				buf := new(Buffer)
				if err := newCodec(buf).Write(&codec.Message{Type: codec.Response}, b.value); err != nil {
					t.Fatalf("Write: %v", err)
				}
				CheckUnmarshalBody(t, newCodec, buf.Bytes())
			}
			for _, body := range []string{"", " \n", "{", "null", `{"a":1}`, `{}{}`, "\x00\x01"} {
				CheckUnmarshalBody(t, newCodec, []byte(body))
			}
		})
	}
	t.Run("WrongType", func(t *testing.T) {
		buf := new(Buffer)
		h := codec.Message{Id: "1", Type: codec.Request, Endpoint: "Say.Hello"}
		for _, v := range []any{make(chan int), func() {}} {
			err := newCodec(buf).Write(&h, v)
			if !errors.Is(err, codec.ErrUnsupportedType) {
				t.Errorf("Write(%T) = %v, want codec.ErrUnsupportedType", v, err)
			}
		}
		if buf.Len() != 0 {
			t.Fatalf("a failed Write wrote %q", buf.Bytes())
		}
	})
}

// CheckUnmarshalBody checks that the [codec.BodyUnmarshaler] of the codec
// reads body as its ReadBody reads a connection holding only body, for each
// kind of target [Decode] uses and those no codec can fill: the same value,
// or an error of the same kind (codec.ErrInvalidMessage,
// codec.ErrUnsupportedType, io.EOF, another). UnmarshalBody may refuse,
// with codec.ErrInvalidMessage, a body that ReadBody reads (or refuses)
// only the start of. It also checks that the value read does not share body's memory. It
// does nothing for a codec without UnmarshalBody; fuzz targets call it.
func CheckUnmarshalBody(t testing.TB, newCodec codec.NewCodec, body []byte) {
	t.Helper()
	bu, ok := newCodec(new(Buffer)).(codec.BodyUnmarshaler)
	if !ok {
		return
	}
	targets := []func() any{
		func() any { return nil },
		func() any { return new([]byte) },
		func() any { return new(wrapperspb.StringValue) },
		func() any { return new(structpb.Struct) },
		func() any { return new(map[string]any) },
	}
	for _, bad := range badTargets() {
		targets = append(targets, func() any { return bad })
	}
	for _, target := range targets {
		stream := newCodec(NewBuffer(body))
		want := target()
		werr := stream.ReadBody(want)
		mem := bytes.Clone(body)
		got := target()
		gerr := bu.UnmarshalBody(mem, got)
		for i := range mem {
			mem[i] ^= 0xff // what was read must not change with it
		}
		wk, gk := errKind(werr), errKind(gerr)
		if (wk == "nil" || wk == "unsupported") && gk == "invalid" {
			// Refused as more than one message: ReadBody must have left
			// something after what it read (or refused).
			if rest := stream.ReadBody(nil); rest == io.EOF {
				t.Fatalf("%T from %q: UnmarshalBody = %v, but ReadBody read the whole body", want, body, gerr)
			}
			continue
		}
		if wk != gk {
			t.Fatalf("%T from %q: UnmarshalBody = %v, ReadBody = %v", want, body, gerr, werr)
		}
		if wk == "nil" && !sameValue(got, want) {
			t.Fatalf("%T from %q: UnmarshalBody read %v, ReadBody %v", want, body, got, want)
		}
	}
}

// errKind sorts a decoding error for CheckUnmarshalBody.
func errKind(err error) string {
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "eof"
	case errors.Is(err, codec.ErrInvalidMessage):
		return "invalid"
	case errors.Is(err, codec.ErrUnsupportedType):
		return "unsupported"
	}
	return "other"
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case proto.Message:
		return proto.Equal(a, b.(proto.Message))
	case *[]byte:
		return bytes.Equal(*a, *b.(*[]byte))
	}
	return reflect.DeepEqual(a, b)
}

// sized returns a body of about n bytes the codec accepts, and how to
// check it.
func sized(caps Caps, n int) body {
	if caps.Proto {
		want := wrapperspb.String(strings.Repeat("x", n))
		return body{
			name:   fmt.Sprintf("proto of %d bytes", n),
			value:  want,
			target: func() any { return new(wrapperspb.StringValue) },
			equal:  func(got any) bool { return proto.Equal(got.(proto.Message), want) },
		}
	}
	raw := bytes.Repeat(caps.Raw, n/max(len(caps.Raw), 1)+1)
	return body{
		name:   fmt.Sprintf("raw of %d bytes", len(raw)),
		value:  raw,
		target: func() any { return new([]byte) },
		equal:  func(got any) bool { return bytes.Equal(*got.(*[]byte), raw) },
	}
}

// testReusedBuffer keeps one buffer and one codec (or one codec per side)
// for several messages, as the RPC layer does per connection: write a
// message, read it, Reset the buffer, write the next.
func testReusedBuffer(t *testing.T, newCodec codec.NewCodec, caps Caps) {
	for _, size := range []int{16, 1 << 20} {
		for _, shared := range []bool{true, false} {
			t.Run(fmt.Sprintf("%d/shared=%v", size, shared), func(t *testing.T) {
				buf := new(Buffer)
				w := newCodec(buf)
				r := w
				if !shared {
					r = newCodec(buf)
				}
				for i := range 4 {
					b := sized(caps, size+i)
					h := codec.Message{Id: fmt.Sprint(i + 1), Type: codec.Request, Endpoint: "Say.Hello",
						Header: map[string]string{"N": fmt.Sprint(i)}}
					if i%2 == 1 {
						h.Type = codec.Response
						h.Endpoint = ""
					}
					if err := w.Write(&h, b.value); err != nil {
						t.Fatalf("Write %d: %v", i, err)
					}
					var got codec.Message
					if err := r.ReadHeader(&got, h.Type); err != nil {
						t.Fatalf("ReadHeader %d: %v", i, err)
					}
					if caps.Envelope {
						CheckHeader(t, &got, &h)
					}
					v := b.target()
					if err := r.ReadBody(v); err != nil {
						t.Fatalf("ReadBody %d: %v", i, err)
					}
					if !b.equal(v) {
						t.Fatalf("ReadBody %d gave another body (%s)", i, b.name)
					}
					if buf.Len() != 0 {
						t.Fatalf("message %d left %d bytes unread", i, buf.Len())
					}
					buf.Reset()
				}
			})
		}
	}
}

type notAPointer struct{ A string }

// badTargets are ReadBody targets no codec can fill.
func badTargets() []any {
	return []any{(*[]byte)(nil), (*structpb.Struct)(nil), notAPointer{}, (*map[string]any)(nil), (*notAPointer)(nil)}
}

// testFailedReadBody checks that a ReadBody refusing its target still
// consumes the body, so that the next message is read next.
func testFailedReadBody(t *testing.T, newCodec codec.NewCodec, caps Caps) {
	b := bodies(caps)[0]
	for _, bad := range badTargets() {
		t.Run(fmt.Sprintf("%T", bad), func(t *testing.T) {
			buf := new(Buffer)
			w := newCodec(buf)
			first := codec.Message{Id: "1", Type: codec.Request, Endpoint: "Say.Hello"}
			if err := w.Write(&first, b.value); err != nil {
				t.Fatalf("Write: %v", err)
			}
			r := newCodec(buf)
			var got codec.Message
			if err := r.ReadHeader(&got, codec.Request); err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			if err := r.ReadBody(bad); !errors.Is(err, codec.ErrUnsupportedType) {
				t.Fatalf("ReadBody(%T) = %v, want codec.ErrUnsupportedType", bad, err)
			}
			if !caps.Stream {
				if buf.Len() != 0 {
					t.Fatalf("a refused ReadBody left %d bytes for the next message", buf.Len())
				}
				return
			}
			second := codec.Message{Id: "2", Type: codec.Request, Endpoint: "Say.Bye"}
			b := sized(caps, 40) // unlike the first body, so that reading it again shows
			if err := w.Write(&second, b.value); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := r.ReadHeader(&got, codec.Request); err != nil {
				t.Fatalf("ReadHeader after a refused ReadBody: %v", err)
			}
			if caps.Envelope {
				CheckHeader(t, &got, &second)
			}
			v := b.target()
			if err := r.ReadBody(v); err != nil {
				t.Fatalf("ReadBody after a refused ReadBody: %v", err)
			}
			if !b.equal(v) {
				t.Fatalf("ReadBody after a refused ReadBody = %v, want %v", v, b.value)
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes left unread", buf.Len())
			}
		})
	}
}

// testTypedNilBody writes typed nil bodies: no panic, and what is written
// reads back.
func testTypedNilBody(t *testing.T, newCodec codec.NewCodec, caps Caps) {
	values := []any{(*[]byte)(nil)}
	if caps.Proto {
		values = append(values, (*structpb.Struct)(nil), (*wrapperspb.StringValue)(nil), (*structpb.ListValue)(nil))
	}
	for _, v := range values {
		t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
			buf := new(Buffer)
			h := codec.Message{Id: "1", Type: codec.Response}
			if err := newCodec(buf).Write(&h, v); err != nil {
				t.Fatalf("Write(%T(nil)): %v", v, err)
			}
			r := newCodec(buf)
			var got codec.Message
			if err := r.ReadHeader(&got, codec.Response); err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			var target any // a nil raw body may be no body at all: discard it
			if p, ok := v.(proto.Message); ok {
				target = p.ProtoReflect().Type().New().Interface()
			}
			if err := r.ReadBody(target); err != nil {
				t.Fatalf("ReadBody of what Write(%T(nil)) wrote (%q): %v", v, buf.Bytes(), err)
			}
		})
	}
}

// testReadBodyTwice checks that an envelope codec reads one body per
// header: a second ReadBody fails and does not eat the next message.
func testReadBodyTwice(t *testing.T, newCodec codec.NewCodec, caps Caps) {
	b := bodies(caps)[0]
	buf := new(Buffer)
	w := newCodec(buf)
	for i := range 2 {
		h := codec.Message{Id: fmt.Sprint(i + 1), Type: codec.Request, Endpoint: "Say.Hello"}
		if err := w.Write(&h, b.value); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	r := newCodec(buf)
	var got codec.Message
	if err := r.ReadHeader(&got, codec.Request); err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	if err := r.ReadBody(b.target()); err != nil {
		t.Fatalf("ReadBody: %v", err)
	}
	if err := r.ReadBody(b.target()); err == nil {
		t.Fatal("a second ReadBody for one header succeeded")
	}
	if err := r.ReadHeader(&got, codec.Request); err != nil || got.Id != "2" {
		t.Fatalf("ReadHeader after a second ReadBody = %+v, %v; want message 2", got, err)
	}
	v := b.target()
	if err := r.ReadBody(v); err != nil || !b.equal(v) {
		t.Fatalf("ReadBody of message 2 = %v, %v", v, err)
	}
}

// testSequence writes several messages on one stream and reads them back,
// discarding some bodies on the way, then expects the end of the stream.
func testSequence(t *testing.T, newCodec codec.NewCodec, caps Caps) {
	t.Helper()
	bs := bodies(caps)
	hs := headers()
	buf := new(Buffer)
	w := newCodec(buf)
	const n = 12
	for i := range n {
		h := hs[i%len(hs)]
		h.Id = fmt.Sprint(i + 1)
		if err := w.Write(&h, bs[i%len(bs)].value); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	r := newCodec(buf)
	for i := range n {
		want := hs[i%len(hs)]
		want.Id = fmt.Sprint(i + 1)
		var got codec.Message
		if err := r.ReadHeader(&got, want.Type); err != nil {
			t.Fatalf("ReadHeader %d: %v", i, err)
		}
		if caps.Envelope {
			CheckHeader(t, &got, &want)
		}
		b := bs[i%len(bs)]
		switch {
		case i%3 == 1:
			if err := r.ReadBody(nil); err != nil {
				t.Fatalf("ReadBody(nil) %d: %v", i, err)
			}
		case i%3 == 2 && caps.Envelope:
			// Skip the body: the next ReadHeader must step over it.
		default:
			v := b.target()
			if err := r.ReadBody(v); err != nil {
				t.Fatalf("ReadBody %d: %v", i, err)
			}
			if !b.equal(v) {
				t.Fatalf("ReadBody %d = %v, want %v", i, v, b.value)
			}
		}
	}
	var m codec.Message
	err := r.ReadHeader(&m, codec.Request)
	if !caps.Envelope {
		if err != nil {
			t.Fatalf("ReadHeader at the end: %v", err)
		}
		err = r.ReadBody(bs[0].target())
	}
	if err != io.EOF {
		t.Fatalf("reading past the last message = %v, want io.EOF", err)
	}
}

// CheckHeader fails t unless got carries the header fields of want. A nil
// and an empty Header are equal.
func CheckHeader(t testing.TB, got, want *codec.Message) {
	t.Helper()
	if got.Id != want.Id || got.Type != want.Type || got.Service != want.Service ||
		got.Endpoint != want.Endpoint || got.Error != want.Error ||
		!maps.Equal(got.Header, want.Header) {
		t.Fatalf("header = %+v, want %+v", *got, *want)
	}
}

// Decode reads messages from data with a codec made by newCodec until an
// error or the end, reading each body into a different kind of target (nil,
// *[]byte, a proto message, a map), and returns how many it read in full.
// Fuzz targets call it; a panic is the only failure.
func Decode(newCodec codec.NewCodec, data []byte) int {
	c := newCodec(NewBuffer(data))
	types := []codec.MessageType{0, codec.Request, codec.Response, codec.Event, codec.Error}
	n := 0
	for i := range 64 {
		var m codec.Message
		if err := c.ReadHeader(&m, types[i%len(types)]); err != nil {
			break
		}
		_ = m.Type.String()
		var v any
		switch i % 5 {
		case 1:
			v = new([]byte)
		case 2:
			v = new(wrapperspb.StringValue)
		case 3:
			v = new(structpb.Struct)
		case 4:
			v = new(map[string]any)
		}
		if err := c.ReadBody(v); err != nil {
			break
		}
		n++
	}
	_ = c.Close()
	return n
}
