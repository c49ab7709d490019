package rpcwire

import (
	"errors"
	"testing"

	"github.com/openmicro/go-micro/codec"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
)

// A body holding more than one value must not leak its rest into the next
// Decode on the same Codec. A bare JSON body refuses it (the codec's
// UnmarshalBody); an envelope codec reads its first message.
func TestDecodeKeepsNothingBetweenBodies(t *testing.T) {
	for _, tc := range []struct {
		ct          string
		first, next string
		refused     bool
	}{
		{"application/json", `{"a":1}{"a":2}`, `{"a":3}`, true},
		{"application/json-rpc", `{"id":"1","result":{"a":1}}` + "\n" + `{"id":"2","result":{"a":2}}`, `{"id":"3","result":{"a":3}}`, false},
	} {
		c, err := NewCodec(tc.ct)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ A int }
		err = c.Decode([]byte(tc.first), &codec.Message{}, codec.Response, &v)
		switch {
		case tc.refused && !errors.Is(err, codec.ErrInvalidMessage):
			t.Fatalf("%s first: %v %+v, want an error wrapping codec.ErrInvalidMessage", tc.ct, err, v)
		case !tc.refused && (err != nil || v.A != 1):
			t.Fatalf("%s first: %v %+v", tc.ct, err, v)
		}
		if err := c.Decode([]byte(tc.next), &codec.Message{}, codec.Response, &v); err != nil || v.A != 3 {
			t.Fatalf("%s next: got %+v (%v), want a=3: the previous body leaked", tc.ct, v, err)
		}
	}
}

func TestMetadataDropsReserved(t *testing.T) {
	md := Metadata(map[string]string{"content-type": "x", "micro-id": "1", "x-user": "ann", "Timeout": "1s"})
	if len(md) != 1 || md["X-User"] != "ann" {
		t.Fatalf("got %v", md)
	}
}

// A pooled Codec is reused as it is, even after a failed Decode, and a
// content type without a codec is an error.
func TestGetPut(t *testing.T) {
	if _, err := Get("application/x-nothing"); err == nil {
		t.Fatal("Get of a content type without a codec succeeded")
	}
	c, err := Get("application/json; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	if c.ContentType() != "application/json" {
		t.Fatalf("content type %q, want the media type", c.ContentType())
	}
	var v struct{ A int }
	if err := c.Decode([]byte(`{"a":`), &codec.Message{}, codec.Response, &v); err == nil {
		t.Fatal("a truncated body decoded")
	}
	Put(c)
	c, err = Get("application/json")
	if err != nil {
		t.Fatal(err)
	}
	defer Put(c)
	if err := c.Decode([]byte(`{"a":7}`), &codec.Message{}, codec.Response, &v); err != nil || v.A != 7 {
		t.Fatalf("after a failed decode: %v %+v", err, v)
	}
	Put(nil)
}
