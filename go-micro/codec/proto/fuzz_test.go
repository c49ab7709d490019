package proto_test

import (
	"testing"

	"github.com/openmicro/go-micro/codec/codectest"
	microproto "github.com/openmicro/go-micro/codec/proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzProto feeds arbitrary bytes to the decoder: it must never panic, and
// a message it accepts must survive a write and a read.
func FuzzProto(f *testing.F) {
	f.Add([]byte{0x0a, 0x02, 'h', 'i'})
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		codectest.Decode(microproto.NewCodec, data)
		codectest.CheckUnmarshalBody(t, microproto.NewCodec, data)
		first := new(structpb.Struct)
		if err := microproto.NewCodec(codectest.NewBuffer(data)).ReadBody(first); err != nil {
			return
		}
		buf := new(codectest.Buffer)
		c := microproto.NewCodec(buf)
		if err := c.Write(nil, first); err != nil {
			t.Fatalf("Write of a decoded message: %v", err)
		}
		second := new(structpb.Struct)
		if err := c.ReadBody(second); err != nil {
			t.Fatalf("ReadBody of % x: %v", buf.Bytes(), err)
		}
		if !proto.Equal(first, second) {
			t.Fatalf("round trip changed %v into %v", first, second)
		}
	})
}
