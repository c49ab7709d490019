package nats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/transport"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		typ    byte
		flags  byte
		seq, n uint64
		reason string
	}{
		{"open", frameOpen, protocolVersion, 0, DefaultWindow, ""},
		{"accept", frameAccept, protocolVersion, 0, 1, ""},
		{"window", frameWindow, 0, 1 << 40, maxCredit, ""},
		{"end", frameEnd, 0, 7, 0, ""},
		{"close", frameClose, 0, 8, 0, ""},
		{"ping", framePing, 0, 300, 0, ""},
		{"pong", framePong, 0, 301, 0, ""},
		{"reset", frameReset, 0, 0, codeRefused, "shutting down"},
		{"reset without reason", frameReset, 0, 0, codeUnknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendFrame(nil, tc.typ, tc.flags, tc.seq, tc.n, tc.reason)
			f, err := parseFrame(b)
			if err != nil {
				t.Fatalf("parseFrame: %v", err)
			}
			if f.typ != tc.typ || f.flags != tc.flags || f.seq != tc.seq || string(f.data) != tc.reason {
				t.Errorf("got %+v", f)
			}
			if tc.typ != frameEnd && tc.typ != frameClose && tc.typ != framePing && tc.typ != framePong && f.n != tc.n {
				t.Errorf("n = %d, want %d", f.n, tc.n)
			}
		})
	}
}

func TestResetReasonIsCut(t *testing.T) {
	b := appendFrame(nil, frameReset, 0, 0, codeProtocol, strings.Repeat("x", 1000))
	f, err := parseFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.data) != maxReason {
		t.Errorf("reason of %d bytes, want %d", len(f.data), maxReason)
	}
}

func TestDataFrame(t *testing.T) {
	tests := []struct {
		name  string
		flags byte
		total int
		chunk string
	}{
		{"whole", flagFirst | flagLast, 5, "hello"},
		{"first", flagFirst, 100, "part"},
		{"middle", 0, 0, "more"},
		{"last", flagLast, 0, "end"},
		{"empty message", flagFirst | flagLast, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append(appendDataHeader(nil, tc.flags, 42, tc.total), tc.chunk...)
			f, err := parseFrame(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.typ != frameData || f.flags != tc.flags || f.seq != 42 || string(f.data) != tc.chunk {
				t.Errorf("got %+v", f)
			}
			if tc.flags&flagFirst != 0 && f.n != uint64(tc.total) {
				t.Errorf("length %d, want %d", f.n, tc.total)
			}
		})
	}
}

func TestParseFrameRejects(t *testing.T) {
	uv := func(x uint64) []byte { return binary.AppendUvarint(nil, x) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", []byte{frameEnd, 0}},
		{"bad seq", []byte{frameEnd, 0, 0xff}},
		{"unknown type", cat([]byte{99, 0}, uv(1))},
		{"zero type", cat([]byte{0, 0}, uv(1))},
		{"open without window", cat([]byte{frameOpen, 1}, uv(0))},
		{"open with zero window", cat([]byte{frameOpen, 1}, uv(0), uv(0))},
		{"window too large", cat([]byte{frameWindow, 0}, uv(1), uv(maxCredit+1))},
		{"window with flags", cat([]byte{frameWindow, 1}, uv(1), uv(5))},
		{"window trailing", cat([]byte{frameWindow, 0}, uv(1), uv(5), []byte{1})},
		{"end trailing", cat([]byte{frameEnd, 0}, uv(1), []byte{1})},
		{"end with flags", cat([]byte{frameEnd, 2}, uv(1))},
		{"data unknown flag", cat([]byte{frameData, 4}, uv(1))},
		{"data first without length", cat([]byte{frameData, flagFirst}, uv(1))},
		{"reset without code", cat([]byte{frameReset, 0}, uv(0))},
		{"reset too long", cat([]byte{frameReset, 0}, uv(0), []byte{1}, bytes.Repeat([]byte{'x'}, maxReason+1))},
		{"reset with flags", cat([]byte{frameReset, 1}, uv(0), []byte{1})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if f, err := parseFrame(tc.b); !errors.Is(err, errMalformed) {
				t.Errorf("parseFrame(%x) = %+v, %v; want errMalformed", tc.b, f, err)
			}
		})
	}
}

func TestMessageEncoding(t *testing.T) {
	tests := []struct {
		name string
		m    transport.Message
	}{
		{"empty", transport.Message{}},
		{"body only", transport.Message{Body: []byte("body")}},
		{"headers only", transport.Message{Header: map[string]string{"Content-Type": "application/json"}}},
		{"empty keys and values", transport.Message{Header: map[string]string{"": "", "k": ""}, Body: []byte{0}}},
		{"binary", transport.Message{Header: map[string]string{"\x00\r\n": "\xff\x80\n\r"}, Body: []byte{0, 1, 2}}},
		{"long value", transport.Message{Header: map[string]string{"X": strings.Repeat("v", 300)}, Body: bytes.Repeat([]byte{7}, 200)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendHeaderBlock(nil, tc.m.Header)
			b = append(b, tc.m.Body...)
			if len(b) != encodedSize(&tc.m) {
				t.Errorf("encoded %d bytes, encodedSize says %d", len(b), encodedSize(&tc.m))
			}
			h, body, err := decodeMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(h, tc.m.Header) || !bytes.Equal(body, tc.m.Body) {
				t.Errorf("decoded %q %q, want %q %q", h, body, tc.m.Header, tc.m.Body)
			}
			if h == nil {
				t.Error("decoded a nil header map")
			}
		})
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad count", []byte{0xff}},
		{"count beyond data", []byte{5, 0, 0}},
		{"key beyond data", []byte{1, 9, 'a', 0}},
		{"missing value", []byte{1, 1, 'a'}},
		{"value beyond data", []byte{1, 1, 'a', 5, 'b'}},
		{"duplicate key", []byte{2, 1, 'a', 0, 1, 'a', 0}},
		{"huge length", append([]byte{1}, binary.AppendUvarint(nil, 1<<62)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if h, body, err := decodeMessage(tc.b); !errors.Is(err, errMalformed) {
				t.Errorf("decodeMessage(%x) = %q, %q, %v; want errMalformed", tc.b, h, body, err)
			}
		})
	}
}
