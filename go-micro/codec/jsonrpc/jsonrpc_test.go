package jsonrpc_test

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	stdjson "encoding/json"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/jsonrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/sourcecontextpb"
)

func TestConformance(t *testing.T) {
	codectest.Run(t, jsonrpc.NewCodec, codectest.Caps{
		Envelope: true,
		Stream:   true,
		Proto:    true,
		Raw:      []byte(`{"a":1,"b":[true,null,"x"]}`),
	})
}

type greeting struct {
	Name string `json:"name"`
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		m    codec.Message
		v    any
		want string
	}{
		{"request", codec.Message{Id: "7", Type: codec.Request, Service: "greeter", Endpoint: "Say.Hello",
			Header: map[string]string{"k": "v"}}, &greeting{Name: "a"},
			`{"id":"7","method":"Say.Hello","params":[{"name":"a"}],"service":"greeter","header":{"k":"v"}}` + "\n"},
		{"request without body", codec.Message{Id: "7", Type: codec.Request, Endpoint: "Say.Hello"}, nil,
			`{"id":"7","method":"Say.Hello","params":[]}` + "\n"},
		{"event without id", codec.Message{Type: codec.Event, Endpoint: "topic"}, []byte(` [1, 2] `),
			`{"id":null,"method":"topic","params":[[1,2]]}` + "\n"},
		{"response", codec.Message{Id: "7", Type: codec.Response}, &greeting{Name: "b"},
			`{"id":"7","result":{"name":"b"},"error":null}` + "\n"},
		{"proto response", codec.Message{Id: "7", Type: codec.Response}, &sourcecontextpb.SourceContext{FileName: "a"},
			`{"id":"7","result":{"fileName":"a"},"error":null}` + "\n"},
		{"error drops the body", codec.Message{Id: "7", Type: codec.Response, Error: `{"code":500}`}, &greeting{Name: "b"},
			`{"id":"7","result":null,"error":"{\"code\":500}"}` + "\n"},
		{"error type", codec.Message{Id: "8", Type: codec.Error, Error: "boom"}, nil,
			`{"id":"8","result":null,"error":"boom"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(codectest.Buffer)
			if err := jsonrpc.NewCodec(buf).Write(&tt.m, tt.v); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Fatalf("wrote\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		m    *codec.Message
		v    any
		is   error
	}{
		{"nil message", nil, nil, nil},
		{"no type", &codec.Message{Id: "1"}, nil, nil},
		{"unknown type", &codec.Message{Type: 42}, nil, nil},
		{"invalid raw body", &codec.Message{Type: codec.Request}, []byte(`{"a"`), codec.ErrInvalidMessage},
		{"unsupported body", &codec.Message{Type: codec.Response}, make(chan int), codec.ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := new(codectest.Buffer)
			err := jsonrpc.NewCodec(buf).Write(tt.m, tt.v)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Write = %v, want an error wrapping %v", err, tt.is)
			}
			if buf.Len() != 0 {
				t.Fatalf("a failed Write wrote %q", buf.String())
			}
		})
	}
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		t        codec.MessageType
		want     codec.Message
		wantBody string // JSON of the greeting read, "" to skip
		is       []error
	}{
		{name: "net/rpc request", in: `{"method":"Say.Hello","params":[{"name":"a"}],"id":0}`, t: codec.Request,
			want: codec.Message{Id: "0", Type: codec.Request, Endpoint: "Say.Hello"}, wantBody: `{"name":"a"}`},
		{name: "2.0 request by name", in: `{"jsonrpc":"2.0","method":"Say.Hello","params":{"name":"b"},"id":"x"}`,
			t: codec.Request, want: codec.Message{Id: "x", Type: codec.Request, Endpoint: "Say.Hello"}, wantBody: `{"name":"b"}`},
		{name: "extra params refused", in: `{"method":"m","params":[{"name":"c"},2,3],"id":-1.5e3}`, t: codec.Request,
			is: []error{codec.ErrInvalidMessage}},
		{name: "one param and a numeric id", in: `{"method":"m","params":[{"name":"c"}],"id":-1.5e3}`, t: codec.Request,
			want: codec.Message{Id: "-1.5e3", Type: codec.Request, Endpoint: "m"}, wantBody: `{"name":"c"}`},
		{name: "huge numeric id", in: `{"method":"m","id":123456789012345678901234567890e400}`, t: codec.Request,
			want: codec.Message{Id: "123456789012345678901234567890e400", Type: codec.Request, Endpoint: "m"}},
		{name: "object id", in: `{"method":"m","id":{"a":1}}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "array id", in: `{"method":"m","id":[1]}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "bool id", in: `{"method":"m","id":true}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "empty header key", in: `{"method":"m","header":{"":"v","k":null}}`, t: codec.Request,
			want: codec.Message{Type: codec.Request, Endpoint: "m", Header: map[string]string{"": "v", "k": ""}}},
		{name: "duplicate keys: last wins", in: `{"method":"a","method":"b","id":"1","id":"2"}`, t: codec.Request,
			want: codec.Message{Id: "2", Type: codec.Request, Endpoint: "b"}},
		{name: "empty params", in: `{"method":"m","params":[]}`, t: codec.Request,
			want: codec.Message{Type: codec.Request, Endpoint: "m"}, wantBody: `{"name":"keep"}`},
		{name: "event", in: `{"method":"topic","params":[{"name":"e"}],"id":null}`, t: codec.Event,
			want: codec.Message{Type: codec.Event, Endpoint: "topic"}, wantBody: `{"name":"e"}`},
		{name: "any type", in: `{"method":"m","service":"s","header":{"a":"b"}}`, t: 0,
			want: codec.Message{Type: codec.Request, Service: "s", Endpoint: "m", Header: map[string]string{"a": "b"}}},
		{name: "response", in: `{"id":"1","result":{"name":"r"},"error":null}`, t: codec.Response,
			want: codec.Message{Id: "1", Type: codec.Response}, wantBody: `{"name":"r"}`},
		{name: "empty error is no error", in: `{"id":"1","result":{"name":"r"},"error":""}`, t: codec.Response,
			want: codec.Message{Id: "1", Type: codec.Response}, wantBody: `{"name":"r"}`},
		{name: "null result", in: `{"id":"1","result":null}`, t: codec.Response,
			want: codec.Message{Id: "1", Type: codec.Response}, wantBody: `{"name":"keep"}`},
		{name: "error string", in: `{"id":"1","result":null,"error":"boom"}`, t: codec.Response,
			want: codec.Message{Id: "1", Type: codec.Error, Error: "boom"}},
		{name: "2.0 error object", in: `{"jsonrpc":"2.0","error":{"code": -32601, "message": "Method not found"},"id":1}`,
			t: codec.Response, want: codec.Message{Id: "1", Type: codec.Error, Error: `{"code":-32601,"message":"Method not found"}`}},
		{name: "empty", in: "", t: codec.Request, is: []error{io.EOF}},
		{name: "white space", in: " \n ", t: codec.Response, is: []error{io.EOF}},
		{name: "truncated", in: `{"method":"m","params":[{`, t: codec.Request,
			is: []error{codec.ErrInvalidMessage, io.ErrUnexpectedEOF}},
		{name: "garbage", in: `hello`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "null", in: `null`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "array", in: `[{"method":"m"}]`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "number", in: `12`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "object id", in: `{"method":"m","id":{}}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "bool id", in: `{"method":"m","id":true}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "numeric method", in: `{"method":5}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "string params", in: `{"method":"m","params":"x"}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "bad header", in: `{"method":"m","header":{"a":1}}`, t: codec.Request, is: []error{codec.ErrInvalidMessage}},
		{name: "response when a request is expected", in: `{"id":"1","result":{}}`, t: codec.Request,
			is: []error{codec.ErrInvalidMessage}},
		{name: "request when a response is expected", in: `{"id":"1","method":"m","params":[]}`, t: codec.Response,
			is: []error{codec.ErrInvalidMessage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := jsonrpc.NewCodec(codectest.NewBuffer([]byte(tt.in)))
			got := codec.Message{Id: "stale", Service: "stale", Header: map[string]string{"stale": "1"}}
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
			if tt.wantBody == "" {
				return
			}
			g := greeting{Name: "keep"}
			if err := c.ReadBody(&g); err != nil {
				t.Fatalf("ReadBody: %v", err)
			}
			if b, _ := stdjson.Marshal(g); string(b) != tt.wantBody {
				t.Fatalf("ReadBody = %s, want %s", b, tt.wantBody)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	in := `{"id":"1","result":{"name":5}}` + "\n" +
		`{"id":"2","result":{"fileName":"a","newer":1}}` + "\n" +
		`{"id":"3","result":{"fileName":7}}` + "\n" +
		`{"id":"4","result":{"name":"ok"}}`
	c := jsonrpc.NewCodec(codectest.NewBuffer([]byte(in)))
	var m codec.Message
	if err := c.ReadBody(nil); err == nil {
		t.Fatal("ReadBody before ReadHeader succeeded")
	}
	read := func(v any) error {
		t.Helper()
		if err := c.ReadHeader(&m, codec.Response); err != nil {
			t.Fatalf("ReadHeader: %v", err)
		}
		return c.ReadBody(v)
	}
	var g greeting
	if err := read(&g); !errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadBody of a mismatched type = %v, want codec.ErrInvalidMessage", err)
	}
	sc := new(sourcecontextpb.SourceContext)
	if err := read(sc); err != nil || !proto.Equal(sc, &sourcecontextpb.SourceContext{FileName: "a"}) {
		t.Fatalf("ReadBody into a proto message = %v, %v", sc, err)
	}
	if err := c.ReadBody(sc); err == nil {
		t.Fatal("a second ReadBody for one header succeeded")
	}
	if err := read(sc); !errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadBody of a mismatched proto = %v, want codec.ErrInvalidMessage", err)
	}
	if err := read(&g); err != nil || g.Name != "ok" || m.Id != "4" {
		t.Fatalf("the stream did not carry on after bad bodies: %+v, %+v, %v", m, g, err)
	}
	if err := c.ReadHeader(&m, codec.Response); err != io.EOF {
		t.Fatalf("ReadHeader at the end = %v, want io.EOF", err)
	}
}

// TestReadRefilledBuffer reuses one codec over a buffer refilled per
// message, as the RPC layer does with its transport messages.
func TestReadRefilledBuffer(t *testing.T) {
	buf := new(codectest.Buffer)
	c := jsonrpc.NewCodec(buf)
	steps := []struct {
		in      string
		wantErr error
		wantID  string
	}{
		{in: `{"id":"1","method":"m","params":[]}`, wantID: "1"},
		{in: ``, wantErr: io.EOF},
		{in: `{"id":"2","method":"m","params":[]}`, wantID: "2"},
		{in: `{"id":"3","meth`, wantErr: codec.ErrInvalidMessage},
		{in: `{"id":"4","method":"m","params":[]}`, wantID: "4"},
		{in: `}`, wantErr: codec.ErrInvalidMessage},
		{in: `{"id":"5","method":"m","params":[]}`, wantID: "5"},
	}
	for i, s := range steps {
		buf.Reset()
		buf.WriteString(s.in)
		var m codec.Message
		err := c.ReadHeader(&m, codec.Request)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("step %d: ReadHeader(%q) = %v, want %v", i, s.in, err, s.wantErr)
		}
		if err == nil && m.Id != s.wantID {
			t.Fatalf("step %d: id = %q, want %q", i, m.Id, s.wantID)
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
	var m codec.Message
	err := jsonrpc.NewCodec(&failingConn{err: broken}).ReadHeader(&m, codec.Request)
	if !errors.Is(err, broken) || errors.Is(err, codec.ErrInvalidMessage) {
		t.Fatalf("ReadHeader = %v, want the connection's error", err)
	}
}

// TestNumericIDEchoed serves JSON-RPC 2.0 requests with numeric ids: the
// response must carry the id back as the same JSON value, as strict
// clients compare ids by type too.
func TestNumericIDEchoed(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantID string // the id member of the response, as JSON
	}{
		{"number", `{"jsonrpc":"2.0","method":"m","params":[],"id":7}`, `7`},
		{"fraction", `{"jsonrpc":"2.0","method":"m","params":[],"id":-1.5e3}`, `-1.5e3`},
		{"string that looks like a number", `{"jsonrpc":"2.0","method":"m","params":[],"id":"7"}`, `"7"`},
		{"string", `{"method":"m","params":[],"id":"abc"}`, `"abc"`},
		{"null", `{"method":"m","params":[],"id":null}`, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := codectest.NewBuffer([]byte(tt.in))
			c := jsonrpc.NewCodec(buf)
			var m codec.Message
			if err := c.ReadHeader(&m, codec.Request); err != nil {
				t.Fatal(err)
			}
			if err := c.ReadBody(nil); err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the second response to one id is a plain string again
				buf.Reset()
				if err := c.Write(&codec.Message{Id: m.Id, Type: codec.Response}, "ok"); err != nil {
					t.Fatal(err)
				}
				var rsp struct{ ID stdjson.RawMessage }
				if err := stdjson.Unmarshal(buf.Bytes(), &rsp); err != nil {
					t.Fatal(err)
				}
				want := tt.wantID
				if i == 1 && m.Id != "" {
					want = strconv.Quote(m.Id)
				}
				if string(rsp.ID) != want {
					t.Fatalf("response %d id = %s, want %s (wrote %q)", i, rsp.ID, want, buf.Bytes())
				}
			}
		})
	}
}

// TestRawBodyPassesThrough writes raw JSON bodies holding <, > and &: they
// must go out as given (compacted), not HTML-escaped. Found by FuzzJSONRPC.
func TestRawBodyPassesThrough(t *testing.T) {
	for _, typ := range []codec.MessageType{codec.Request, codec.Response} {
		buf := new(codectest.Buffer)
		body := []byte(`{"&":"<b>","x":[1, 2]}`)
		m := codec.Message{Id: "1", Type: typ, Endpoint: "a&b", Header: map[string]string{"<k>": "&v"}}
		if err := jsonrpc.NewCodec(buf).Write(&m, body); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`{"&":"<b>","x":[1,2]}`, `"a&b"`, `"<k>":"&v"`} {
			if typ == codec.Response && want == `"a&b"` {
				continue
			}
			if !strings.Contains(buf.String(), want) {
				t.Fatalf("%v: wrote %q, want it to contain %s", typ, buf.Bytes(), want)
			}
		}
		if !strings.HasSuffix(buf.String(), "}\n") || strings.Count(buf.String(), "\n") != 1 {
			t.Fatalf("%v: wrote %q, want one line", typ, buf.Bytes())
		}
	}
}
