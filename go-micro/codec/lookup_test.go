package codec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/codec"
	_ "github.com/openmicro/go-micro/codec/bytes"
	"github.com/openmicro/go-micro/codec/codectest"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
	_ "github.com/openmicro/go-micro/codec/proto"
	_ "github.com/openmicro/go-micro/codec/protorpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var builtin = map[string]string{
	"application/json":         "json",
	"application/protobuf":     "proto",
	"application/json-rpc":     "jsonrpc",
	"application/proto-rpc":    "protorpc",
	"application/octet-stream": "bytes",
}

func TestLookup(t *testing.T) {
	for ct, name := range builtin {
		for _, variant := range []string{
			ct,
			ct + "; charset=utf-8",
			strings.ToUpper(ct),
			"  " + strings.ToUpper(ct[:1]) + ct[1:] + "\t;q=0.9",
		} {
			t.Run(variant, func(t *testing.T) {
				newCodec, err := codec.Lookup(variant)
				if err != nil {
					t.Fatalf("Lookup(%q): %v", variant, err)
				}
				c := newCodec(new(codectest.Buffer))
				if got := c.String(); got != name {
					t.Fatalf("Lookup(%q) made a %q codec, want %q", variant, got, name)
				}
			})
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, ct := range []string{"text/plain", "", "application/xml; charset=utf-8"} {
		_, err := codec.Lookup(ct)
		if err == nil {
			t.Fatalf("Lookup(%q) succeeded", ct)
		}
		for registered := range builtin {
			if !strings.Contains(err.Error(), registered) {
				t.Errorf("Lookup(%q) error %q does not list %q", ct, err, registered)
			}
		}
		if !strings.Contains(err.Error(), "forgotten import?") {
			t.Errorf("Lookup(%q) error %q lacks the import hint", ct, err)
		}
	}
}

func TestContentTypes(t *testing.T) {
	got := codec.ContentTypes()
	for ct := range builtin {
		found := false
		for _, g := range got {
			found = found || g == ct
		}
		if !found {
			t.Errorf("ContentTypes() = %v lacks %q", got, ct)
		}
	}
}

func TestMediaType(t *testing.T) {
	tests := map[string]string{
		"application/json":                 "application/json",
		"Application/JSON; charset=UTF-8":  "application/json",
		" \tapplication/proto-rpc \t; x=y": "application/proto-rpc",
		"":                                 "",
		";":                                "",
		"TEXT/plain":                       "text/plain",
	}
	for in, want := range tests {
		if got := codec.MediaType(in); got != want {
			t.Errorf("MediaType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessageTypeString(t *testing.T) {
	tests := map[codec.MessageType]string{
		codec.Request: "request", codec.Response: "response", codec.Event: "event",
		codec.Error: "error", 0: "unknown", 42: "unknown",
	}
	for mt, want := range tests {
		if got := mt.String(); got != want {
			t.Errorf("MessageType(%d).String() = %q, want %q", int(mt), got, want)
		}
	}
	if errors.Is(codec.ErrInvalidMessage, codec.ErrUnsupportedType) {
		t.Fatal("the two sentinels are the same error")
	}
}
