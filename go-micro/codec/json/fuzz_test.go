package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"testing"

	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/json"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzJSON feeds arbitrary bytes to the decoder: it must never panic;
// valid JSON written raw must read back unchanged; and a value decoded
// into an any or a structpb.Value must survive a write and a read.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `[1,2,3]`, `"x" 1 null`, `{"a":`, "", `{"fileName":"a.proto"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		codectest.Decode(json.NewCodec, data)
		codectest.CheckUnmarshalBody(t, json.NewCodec, data)
		var raw []byte
		_ = json.Unmarshal(data, &raw)
		roundTripAny(t, data)
		roundTripValue(t, data)
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

// roundTripAny reads the first value into an any, writes it and reads it
// again: the two must be equal.
func roundTripAny(t *testing.T, data []byte) {
	t.Helper()
	var first any
	if err := json.NewCodec(codectest.NewBuffer(data)).ReadBody(&first); err != nil || first == nil {
		return // JSON null gives a nil any, which the codec writes as no body
	}
	buf := new(codectest.Buffer)
	c := json.NewCodec(buf)
	if err := c.Write(nil, first); err != nil {
		t.Fatalf("Write of %#v decoded from %q: %v", first, data, err)
	}
	var second any
	if err := c.ReadBody(&second); err != nil {
		t.Fatalf("ReadBody of %q: %v", buf.Bytes(), err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("round trip changed %#v into %#v", first, second)
	}
}

// roundTripValue does the same through protojson with a structpb.Value.
func roundTripValue(t *testing.T, data []byte) {
	t.Helper()
	first := new(structpb.Value)
	if err := json.NewCodec(codectest.NewBuffer(data)).ReadBody(first); err != nil {
		return
	}
	buf := new(codectest.Buffer)
	c := json.NewCodec(buf)
	if err := c.Write(nil, first); err != nil {
		t.Fatalf("Write of %v decoded from %q: %v", first, data, err)
	}
	second := new(structpb.Value)
	if err := c.ReadBody(second); err != nil {
		t.Fatalf("ReadBody of %q: %v", buf.Bytes(), err)
	}
	if !proto.Equal(first, second) {
		t.Fatalf("round trip changed %v into %v", first, second)
	}
}
