package protorpc_test

import (
	"bytes"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/protorpc"
)

// FuzzProtoRPC feeds arbitrary bytes to the decoder: it must never panic,
// and a frame it accepts must survive a write and a read.
func FuzzProtoRPC(f *testing.F) {
	f.Add([]byte("\x10\x0a\x011\x10\x01\x22\x09Say.Hello\x06\x0a\x04John"))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		codectest.Decode(protorpc.NewCodec, data)

		r := protorpc.NewCodec(codectest.NewBuffer(data))
		var m codec.Message
		if err := r.ReadHeader(&m, 0); err != nil {
			return
		}
		var body []byte
		if err := r.ReadBody(&body); err != nil {
			return
		}
		buf := new(codectest.Buffer)
		c := protorpc.NewCodec(buf)
		if err := c.Write(&m, body); err != nil {
			t.Fatalf("Write of a decoded message %+v: %v", m, err)
		}
		var got codec.Message
		if err := c.ReadHeader(&got, m.Type); err != nil {
			t.Fatalf("ReadHeader of % x: %v", buf.Bytes(), err)
		}
		codectest.CheckHeader(t, &got, &m)
		var body2 []byte
		if err := c.ReadBody(&body2); err != nil || !bytes.Equal(body, body2) {
			t.Fatalf("body % x came back as % x, %v", body, body2, err)
		}
	})
}
