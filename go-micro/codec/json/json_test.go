package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/json"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/sourcecontextpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestConformance(t *testing.T) {
	codectest.Run(t, json.NewCodec, codectest.Caps{
		Stream: true,
		Proto:  true,
		Raw:    []byte(`{"a":1,"b":[true,null,"x"]}`),
	})
}

type greeting struct {
	Name  string `json:"name"`
	Count int    `json:"count,omitempty"`
}

func TestWrite(t *testing.T) {
	raw := stdjson.RawMessage(`[1, 2]`)
	rawBytes := []byte(` {"x": null} `)
	var nilBytes *[]byte
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, ""},
		{"struct", &greeting{Name: "a", Count: 2}, "{\"name\":\"a\",\"count\":2}\n"},
		{"number", 42, "42\n"},
		{"string", "hi", "\"hi\"\n"},
		{"bytes are raw JSON", rawBytes, " {\"x\": null} \n"},
		{"pointer to bytes", &rawBytes, " {\"x\": null} \n"},
		{"raw message", raw, "[1, 2]\n"},
		{"pointer to raw message", &raw, "[1, 2]\n"},
		{"empty bytes", []byte{}, ""},
		{"nil pointer to bytes", nilBytes, ""},
		{"proto wrapper", wrapperspb.String("x"), "\"x\"\n"},
		{"typed nil proto", (*sourcecontextpb.SourceContext)(nil), "{}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(codectest.Buffer)
			if err := json.NewCodec(buf).Write(&codec.Message{}, tt.v); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Fatalf("wrote %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteProtoUsesProtoJSON(t *testing.T) {
	buf := new(codectest.Buffer)
	msg := &sourcecontextpb.SourceContext{FileName: "a.proto"}
	if err := json.NewCodec(buf).Write(nil, msg); err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := stdjson.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("output %q is not JSON: %v", buf.Bytes(), err)
	}
	if m["fileName"] != "a.proto" {
		t.Fatalf("output %q lacks the lowerCamelCase protojson field name", buf.Bytes())
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		is   error
	}{
		{"invalid raw", []byte(`{"a":`), codec.ErrInvalidMessage},
		{"two raw values", []byte(`1 2`), codec.ErrInvalidMessage},
		{"channel", make(chan int), codec.ErrUnsupportedType},
		{"NaN", math.NaN(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(codectest.Buffer)
			err := json.NewCodec(buf).Write(nil, tt.v)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Write = %v, want an error wrapping %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), "codec") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("a failed Write wrote %q", buf.Bytes())
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	var syntax *stdjson.SyntaxError
	var typeErr *stdjson.UnmarshalTypeError
	tests := []struct {
		name   string
		in     string
		target func() any
		want   any              // compared with the target after a successful read
		is     []error          // errors.Is targets of the expected error
		as     func(error) bool // extra check of the error
	}{
		{name: "struct", in: `{"name":"a","count":3}`, target: func() any { return new(greeting) },
			want: &greeting{Name: "a", Count: 3}},
		{name: "unknown field into struct", in: `{"name":"a","other":1}`, target: func() any { return new(greeting) },
			want: &greeting{Name: "a"}},
		{name: "raw", in: " [1, 2] \n", target: func() any { return new([]byte) },
			want: func() *[]byte { b := []byte("[1, 2]"); return &b }()},
		{name: "raw message", in: `{"a":{}}`, target: func() any { return new(stdjson.RawMessage) },
			want: func() *stdjson.RawMessage { b := stdjson.RawMessage(`{"a":{}}`); return &b }()},
		{name: "proto", in: `{"fileName":"a.proto"}`, target: func() any { return new(sourcecontextpb.SourceContext) },
			want: &sourcecontextpb.SourceContext{FileName: "a.proto"}},
		{name: "proto proto-name", in: `{"file_name":"a.proto"}`, target: func() any { return new(sourcecontextpb.SourceContext) },
			want: &sourcecontextpb.SourceContext{FileName: "a.proto"}},
		{name: "proto unknown field ignored", in: `{"fileName":"a.proto","newer":[1,{"x":2}]}`,
			target: func() any { return new(sourcecontextpb.SourceContext) },
			want:   &sourcecontextpb.SourceContext{FileName: "a.proto"}},
		{name: "proto null into Value", in: `null`, target: func() any { return new(structpb.Value) },
			want: structpb.NewNullValue()},
		{name: "empty", in: "", target: func() any { return new(greeting) }, is: []error{io.EOF}},
		{name: "white space", in: " \r\n\t", target: func() any { return new(greeting) }, is: []error{io.EOF}},
		{name: "empty into nil", in: "", target: func() any { return nil }},
		{name: "value into nil", in: `{"a":[1,2,3]}`, target: func() any { return nil }},
		{name: "truncated", in: `{"name":"a`, target: func() any { return new(greeting) },
			is: []error{codec.ErrInvalidMessage, io.ErrUnexpectedEOF}},
		{name: "truncated into nil", in: `[1,`, target: func() any { return nil },
			is: []error{codec.ErrInvalidMessage, io.ErrUnexpectedEOF}},
		{name: "garbage", in: `xyz`, target: func() any { return new(greeting) },
			is: []error{codec.ErrInvalidMessage}, as: func(err error) bool {
				return errors.As(err, &syntax) && strings.Contains(err.Error(), "invalid character 'x'")
			}},
		{name: "garbage into proto", in: `}{`, target: func() any { return new(structpb.Struct) },
			is: []error{codec.ErrInvalidMessage}},
		{name: "wrong type", in: `{"name":5}`, target: func() any { return new(greeting) },
			is: []error{codec.ErrInvalidMessage}, as: func(err error) bool { return errors.As(err, &typeErr) }},
		{name: "wrong type into proto", in: `{"fileName":5}`, target: func() any { return new(sourcecontextpb.SourceContext) },
			is: []error{codec.ErrInvalidMessage}},
		{name: "null into proto message", in: `null`, target: func() any { return new(sourcecontextpb.SourceContext) },
			is: []error{codec.ErrInvalidMessage}},
		{name: "non-pointer target", in: `{"name":"a"}`, target: func() any { return greeting{} },
			is: []error{codec.ErrUnsupportedType}},
		{name: "typed nil proto target", in: `{}`, target: func() any { return (*structpb.Struct)(nil) },
			is: []error{codec.ErrUnsupportedType}},
		{name: "nil *[]byte target", in: `{}`, target: func() any { return (*[]byte)(nil) },
			is: []error{codec.ErrUnsupportedType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := json.NewCodec(codectest.NewBuffer([]byte(tt.in)))
			m := codec.Message{Id: "keep"}
			if err := c.ReadHeader(&m, codec.Request); err != nil || m.Id != "keep" {
				t.Fatalf("ReadHeader = %v and changed the message to %+v", err, m)
			}
			v := tt.target()
			err := c.ReadBody(v)
			if len(tt.is) == 0 {
				if err != nil {
					t.Fatalf("ReadBody: %v", err)
				}
				if tt.want != nil && !equal(v, tt.want) {
					t.Fatalf("ReadBody = %v, want %v", v, tt.want)
				}
				return
			}
			for _, is := range tt.is {
				if !errors.Is(err, is) {
					t.Fatalf("ReadBody = %v, want an error wrapping %v", err, is)
				}
			}
			if tt.as != nil && !tt.as(err) {
				t.Fatalf("ReadBody error %q (%T) is not the one expected", err, err)
			}
		})
	}
}

func equal(got, want any) bool {
	if p, ok := want.(proto.Message); ok {
		g, ok := got.(proto.Message)
		return ok && proto.Equal(g, p)
	}
	gb, err1 := stdjson.Marshal(got)
	wb, err2 := stdjson.Marshal(want)
	return err1 == nil && err2 == nil && bytes.Equal(gb, wb)
}

// TestReadRefilledBuffer reads from a connection whose buffer is refilled
// for each message, as the RPC layer does: the end of one message, or a
// malformed one, must not spoil the next.
func TestReadRefilledBuffer(t *testing.T) {
	buf := new(codectest.Buffer)
	c := json.NewCodec(buf)
	steps := []struct {
		in      string
		wantErr error
		want    string
	}{
		{in: `{"name":"one"}`, want: "one"},
		{in: ``, wantErr: io.EOF},
		{in: `{"name":"two"}`, want: "two"},
		{in: `{"name":`, wantErr: codec.ErrInvalidMessage},
		{in: `{"name":"three"}`, want: "three"},
		{in: `nonsense`, wantErr: codec.ErrInvalidMessage},
		{in: `{"name":"four"}`, want: "four"},
		{in: `{"name":4}`, wantErr: codec.ErrInvalidMessage},
		{in: `{"name":"five"}`, want: "five"},
	}
	for i, s := range steps {
		buf.Reset()
		buf.WriteString(s.in)
		var g greeting
		err := c.ReadBody(&g)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("step %d: ReadBody(%q) = %v, want %v", i, s.in, err, s.wantErr)
		}
		if err == nil && g.Name != s.want {
			t.Fatalf("step %d: ReadBody(%q) = %+v, want name %q", i, s.in, g, s.want)
		}
	}
}

// failingConn is a connection whose reads fail.
type failingConn struct{ err error }

func (c *failingConn) Read([]byte) (int, error)    { return 0, c.err }
func (c *failingConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *failingConn) Close() error                { return nil }

func TestReadConnectionError(t *testing.T) {
	broken := errors.New("connection reset")
	c := json.NewCodec(&failingConn{err: broken})
	var g greeting
	err := c.ReadBody(&g)
	if !errors.Is(err, broken) || errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadBody = %v, want the connection's error and not an invalid message", err)
	}
}

func TestMarshalUnmarshal(t *testing.T) {
	b, err := json.Marshal(nil)
	if err != nil || string(b) != "null" {
		t.Fatalf("Marshal(nil) = %q, %v; want null", b, err)
	}
	st, err := structpb.NewStruct(map[string]any{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	got := new(structpb.Struct)
	if err := json.Unmarshal(b, got); err != nil || !proto.Equal(got, st) {
		t.Fatalf("Unmarshal(%q) = %v, %v; want %v", b, got, err, st)
	}
	var raw []byte
	if err := json.Unmarshal([]byte(`{"a":`), &raw); !errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("Unmarshal of truncated JSON into *[]byte = %v, want codec.ErrInvalidMessage", err)
	}
	if err := json.Unmarshal([]byte(` [ 1 ] `), &raw); err != nil || string(raw) != " [ 1 ] " {
		t.Fatalf("Unmarshal into *[]byte = %q, %v", raw, err)
	}
	var g greeting
	if err := json.Unmarshal([]byte(`{"name":"x"}`), &g); err != nil || g.Name != "x" {
		t.Fatalf("Unmarshal into struct = %+v, %v", g, err)
	}
	if err := json.Unmarshal([]byte(`{"name":1}`), &g); !errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("Unmarshal of a mismatched type = %v, want codec.ErrInvalidMessage", err)
	}
	if err := json.Unmarshal([]byte(`{}`), nil); err != nil {
		t.Fatalf("Unmarshal into nil = %v", err)
	}
}

// TestHostileInput reads input built to hurt a parser: 100k nested arrays
// or objects (beyond the depth limits of encoding/json and protojson),
// duplicate keys and invalid UTF-8. Each must give an error or a value, and
// never a crash.
func TestHostileInput(t *testing.T) {
	deepArrays := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deepObjects := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	targets := map[string]func() any{
		"nil":       func() any { return nil },
		"any":       func() any { return new(any) },
		"raw":       func() any { return new([]byte) },
		"Value":     func() any { return new(structpb.Value) },
		"ListValue": func() any { return new(structpb.ListValue) },
		"Struct":    func() any { return new(structpb.Struct) },
	}
	for _, in := range []string{deepArrays, deepObjects} {
		for name, target := range targets {
			t.Run("deep/"+in[:2]+"/"+name, func(t *testing.T) {
				err := json.NewCodec(codectest.NewBuffer([]byte(in))).ReadBody(target())
				if !errors.Is(err, codec.ErrInvalidMessage) {
					t.Fatalf("ReadBody = %v, want codec.ErrInvalidMessage", err)
				}
				if name != "nil" {
					if err := json.Unmarshal([]byte(in), target()); !errors.Is(err, codec.ErrInvalidMessage) {
						t.Fatalf("Unmarshal = %v, want codec.ErrInvalidMessage", err)
					}
				}
			})
		}
		if err := json.NewCodec(new(codectest.Buffer)).Write(nil, []byte(in)); !errors.Is(err, codec.ErrInvalidMessage) {
			t.Fatalf("Write of too deep raw JSON = %v, want codec.ErrInvalidMessage", err)
		}
	}
	tests := []struct {
		name   string
		in     string
		target func() any
		want   any // nil: an error wrapping codec.ErrInvalidMessage
	}{
		{"duplicate key into struct: last wins", `{"name":"a","name":"b"}`, func() any { return new(greeting) }, &greeting{Name: "b"}},
		{"duplicate key into proto", `{"fileName":"a","fileName":"b"}`, func() any { return new(sourcecontextpb.SourceContext) }, nil},
		{"invalid UTF-8 into proto", "{\"fileName\":\"\xff\"}", func() any { return new(sourcecontextpb.SourceContext) }, nil},
		{"invalid UTF-8 into struct", "{\"name\":\"\xff\"}", func() any { return new(greeting) }, &greeting{Name: "\ufffd"}},
		{"lone surrogate into proto", `{"fileName":"\ud800"}`, func() any { return new(sourcecontextpb.SourceContext) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.target()
			err := json.NewCodec(codectest.NewBuffer([]byte(tt.in))).ReadBody(v)
			if tt.want == nil {
				if !errors.Is(err, codec.ErrInvalidMessage) {
					t.Fatalf("ReadBody = %v, want codec.ErrInvalidMessage", err)
				}
				return
			}
			if err != nil || !equal(v, tt.want) {
				t.Fatalf("ReadBody = %v, %v; want %v", v, err, tt.want)
			}
		})
	}
}
