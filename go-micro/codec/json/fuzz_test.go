package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"testing"

	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/json"
)

// FuzzJSON feeds arbitrary bytes to the decoder: it must never panic, and
// valid JSON written raw must read back unchanged.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `[1,2,3]`, `"x" 1 null`, `{"a":`, "", `{"fileName":"a.proto"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		codectest.Decode(json.NewCodec, data)
		var raw []byte
		_ = json.Unmarshal(data, &raw)
		if !stdjson.Valid(data) {
			return
		}
		buf := new(codectest.Buffer)
		c := json.NewCodec(buf)
		if err := c.Write(nil, data); err != nil {
			t.Fatalf("Write of valid JSON %q: %v", data, err)
		}
		var got []byte
		if err := c.ReadBody(&got); err != nil {
			t.Fatalf("ReadBody of %q: %v", buf.Bytes(), err)
		}
		if want := bytes.Trim(data, " \t\r\n"); !bytes.Equal(got, want) {
			t.Fatalf("read back %q, want %q", got, want)
		}
	})
}
