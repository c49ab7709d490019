package client

import (
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/transport"
	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzDecodeResponse feeds a hostile response (arbitrary headers,
// Micro-Error included, and body) to the decoding of a call's answer, for
// each request content type: it must never panic, and gives either nil
// (a decoded value) or an *errors.Error.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(uint8(0), "", "", false, "", "", []byte(`{"name":"x","n":1}`))
	f.Add(uint8(0), "application/json", "", true, "", "", []byte(`{"name":"x"}`))
	f.Add(uint8(1), "application/protobuf", "", false, "X-A", "b", []byte("\n\x03\n\x01a"))
	f.Add(uint8(2), "", `{"id":"g","code":404,"detail":"no"}`, true, "", "", []byte(nil))
	f.Add(uint8(2), "application/json-rpc", "", false, "", "", []byte(`{"id":"1","result":null,"error":"{\"code\":403}"}`+"\n"))
	f.Add(uint8(3), "application/proto-rpc", "", false, "", "", []byte("\x00\x00\x00\x01\x0a"))
	f.Add(uint8(4), "application/x-unknown", "", false, "Micro-Error", "x", []byte("junk"))
	f.Add(uint8(0), "application/json", "not json", true, "", "", []byte("{"))
	f.Add(uint8(4), "", "", false, "", "", []byte{0xff, 0xfe})
	cts := []string{"application/json", "application/protobuf", "application/json-rpc", "application/proto-rpc", "application/octet-stream"}
	f.Fuzz(func(t *testing.T, which uint8, rspCT, micErr string, hasErr bool, k, v string, body []byte) {
		ct := cts[int(which)%len(cts)]
		// One codec for every target: a failed decode must leave it usable.
		cdc, err := rpcwire.Get(ct)
		if err != nil {
			t.Fatal(err)
		}
		defer rpcwire.Put(cdc)
		req := NewRequest("greeter", "Say.Hello", nil, WithContentType(ct))
		h := map[string]string{k: v}
		if rspCT != "" {
			h[rpcwire.ContentType] = rspCT
		}
		if hasErr {
			h[rpcwire.Error] = micErr
		}
		msg := &transport.Message{Header: h, Body: body}
		targets := []any{nil, new(structpb.Struct), new(map[string]any), new([]byte), new(struct{ Name string })}
		for _, rsp := range targets {
			var m codec.Message
			err := decodeResponse(cdc, req, msg, &m, rsp)
			if err != nil {
				if _, ok := err.(*errors.Error); !ok {
					t.Fatalf("error %v (%T) is not an *errors.Error", err, err)
				}
			}
			if _, isErr := h[rpcwire.Error]; isErr && err == nil {
				t.Fatal("a Micro-Error header gave no error")
			}
		}
	})
}
