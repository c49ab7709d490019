package jsonrpc_test

import (
	"bytes"
	stdjson "encoding/json"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/jsonrpc"
)

// FuzzJSONRPC feeds arbitrary bytes to the decoder: it must never panic,
// and a message it accepts must survive a write and a read.
func FuzzJSONRPC(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","method":"Say.Hello","params":[{"name":"a"}],"service":"s","header":{"k":"v"}}`,
		`{"id":1,"result":{"a":1},"error":null}` + "\n" + `{"id":2,"result":null,"error":"boom"}`,
		`{"jsonrpc":"2.0","error":{"code":-1},"id":null}`,
		`{"method":"m","params":{"x":[1,2]}}`,
		``, `{"id":`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		codectest.Decode(jsonrpc.NewCodec, data)

		r := jsonrpc.NewCodec(codectest.NewBuffer(data))
		var m codec.Message
		if err := r.ReadHeader(&m, 0); err != nil {
			return
		}
		var body []byte
		if err := r.ReadBody(&body); err != nil {
			return
		}
		var v any
		if len(body) > 0 {
			v = body
		}
		buf := new(codectest.Buffer)
		c := jsonrpc.NewCodec(buf)
		if err := c.Write(&m, v); err != nil {
			t.Fatalf("Write of a decoded message %+v: %v", m, err)
		}
		var got codec.Message
		if err := c.ReadHeader(&got, m.Type); err != nil {
			t.Fatalf("ReadHeader of %q: %v", buf.Bytes(), err)
		}
		codectest.CheckHeader(t, &got, &m)
		var body2 []byte
		if err := c.ReadBody(&body2); err != nil {
			t.Fatalf("ReadBody of %q: %v", buf.Bytes(), err)
		}
		if m.Error == "" && !bytes.Equal(compact(t, body), compact(t, body2)) {
			t.Fatalf("body %q came back as %q", body, body2)
		}
	})
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) == 0 {
		return nil
	}
	var out bytes.Buffer
	if err := stdjson.Compact(&out, b); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	return out.Bytes()
}
