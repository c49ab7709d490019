package bytes_test

import (
	stdbytes "bytes"
	"testing"

	"github.com/openmicro/go-micro/codec/bytes"
	"github.com/openmicro/go-micro/codec/codectest"
)

// FuzzBytes feeds arbitrary bytes to the decoder: it must never panic and
// must give the bytes back unchanged.
func FuzzBytes(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add([]byte{})
	f.Add([]byte{0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		codectest.Decode(bytes.NewCodec, data)
		codectest.CheckUnmarshalBody(t, bytes.NewCodec, data)
		var fr bytes.Frame
		if err := bytes.NewCodec(codectest.NewBuffer(data)).ReadBody(&fr); err != nil {
			t.Fatalf("ReadBody: %v", err)
		}
		if !stdbytes.Equal(fr.Data, data) {
			t.Fatalf("ReadBody = %q, want %q", fr.Data, data)
		}
	})
}
