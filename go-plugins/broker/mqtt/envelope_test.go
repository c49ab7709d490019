package mqtt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/broker"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *broker.Message
	}{
		{"nil message", nil},
		{"empty", &broker.Message{}},
		{"header only", &broker.Message{Header: map[string]string{"Id": "1"}}},
		{"body only", &broker.Message{Body: []byte("hello")}},
		{"empty key and value", &broker.Message{Header: map[string]string{"": ""}}},
		{"binary", &broker.Message{
			Header: map[string]string{"Content-Type": "application/octet-stream", "k\x00": "\xff\xfe"},
			Body:   []byte{0, 1, 2, 0xff, envelopeMagic, '\n'},
		}},
		{"long value", &broker.Message{Header: map[string]string{"big": strings.Repeat("v", 300)}, Body: bytes.Repeat([]byte("b"), 1<<16)}},
		{"many headers", &broker.Message{Header: func() map[string]string {
			h := make(map[string]string)
			for i := range 200 {
				h[strings.Repeat("k", i+1)] = strings.Repeat("v", i)
			}
			return h
		}()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := EncodeEnvelope(tt.in)
			if len(p) < 3 || p[0] != envelopeMagic || p[1] != EnvelopeVersion {
				t.Fatalf("envelope starts % x", p[:min(len(p), 3)])
			}
			got, err := DecodeEnvelope(p)
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			var want broker.Message
			if tt.in != nil {
				want = *tt.in
			}
			if got.Header == nil {
				t.Error("decoded header is nil")
			}
			if !maps.Equal(got.Header, want.Header) {
				t.Errorf("header = %v, want %v", got.Header, want.Header)
			}
			if !bytes.Equal(got.Body, want.Body) {
				t.Errorf("body of %d bytes, want %d", len(got.Body), len(want.Body))
			}
		})
	}
}

func TestAppendEnvelopeKeepsPrefix(t *testing.T) {
	dst := []byte("prefix")
	out := AppendEnvelope(dst, &broker.Message{Body: []byte("x")})
	if !bytes.HasPrefix(out, []byte("prefix")) {
		t.Fatalf("prefix lost: %q", out)
	}
	if _, err := DecodeEnvelope(out[len("prefix"):]); err != nil {
		t.Fatalf("DecodeEnvelope: %v", err)
	}
}

// envelope builds a raw envelope: count, then key/value pairs as given.
func envelope(version byte, count uint64, parts ...string) []byte {
	p := []byte{envelopeMagic, version}
	p = binary.AppendUvarint(p, count)
	for _, s := range parts {
		p = binary.AppendUvarint(p, uint64(len(s)))
		p = append(p, s...)
	}
	return p
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // in the error
	}{
		{"nil", nil, "too short"},
		{"two bytes", []byte{envelopeMagic, 1}, "too short"},
		{"text", []byte("hello world"), "first byte"},
		{"json", []byte(`{"id":1}`), "first byte"},
		{"future version", envelope(2, 0), "version 2"},
		{"version zero", envelope(0, 0), "version 0"},
		{"count beyond payload", envelope(1, 5, "a", "b"), "header count"},
		{"huge count", envelope(1, 1<<62), "header count"},
		{"bad count varint", []byte{envelopeMagic, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "header count"},
		{"key past end", append(envelope(1, 1), 9, 'a', 0), "bad key"},
		{"value past end", append(envelope(1, 1, "key"), 40, 'v'), "bad value"},
		{"duplicate key", envelope(1, 2, "k", "1", "k", "2"), "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := bytes.Clone(tt.in)
			m, err := DecodeEnvelope(tt.in)
			if !errors.Is(err, ErrInvalidEnvelope) {
				t.Fatalf("DecodeEnvelope = %v, %v; want ErrInvalidEnvelope", m, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if !bytes.Equal(tt.in, orig) {
				t.Error("input changed")
			}
		})
	}
}

func TestDecodeEnvelopeBodyIsRest(t *testing.T) {
	p := append(envelope(1, 1, "Id", "7"), "the body"...)
	m, err := DecodeEnvelope(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header["Id"] != "7" || string(m.Body) != "the body" {
		t.Fatalf("got %v %q", m.Header, m.Body)
	}
}

func BenchmarkEnvelope(b *testing.B) {
	m := &broker.Message{
		Header: map[string]string{"Content-Type": "application/json", "Micro-Id": "1234567890", "Micro-Topic": "orders"},
		Body:   bytes.Repeat([]byte("x"), 256),
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = EncodeEnvelope(m)
		}
	})
	p := EncodeEnvelope(m)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEnvelope(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeEnvelope feeds arbitrary payloads to the decoder: it must not
// panic, must not change its input, and what it accepts must encode back to
// something that decodes to the same message.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("plain text"))
	f.Add(EncodeEnvelope(&broker.Message{Header: map[string]string{"Id": "1"}, Body: []byte("b")}))
	f.Add(envelope(1, 2, "k", "1", "k", "2"))
	f.Add(envelope(1, 1<<40))
	f.Add(envelope(2, 0))
	f.Fuzz(func(t *testing.T, p []byte) {
		orig := bytes.Clone(p)
		m, err := DecodeEnvelope(p)
		if !bytes.Equal(p, orig) {
			t.Fatal("input changed")
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidEnvelope) {
				t.Fatalf("error %v does not wrap ErrInvalidEnvelope", err)
			}
			return
		}
		again, err := DecodeEnvelope(EncodeEnvelope(m))
		if err != nil {
			t.Fatalf("re-encoded envelope fails: %v", err)
		}
		if !maps.Equal(again.Header, m.Header) || !bytes.Equal(again.Body, m.Body) {
			t.Fatalf("round trip changed the message: %v %q -> %v %q", m.Header, m.Body, again.Header, again.Body)
		}
	})
}

// FuzzEnvelopeRoundTrip builds messages from fuzz input and checks they
// survive encoding.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	f.Add("Id", "1", "k2", "", []byte("body"))
	f.Add("", "", "\x00", "\xff", []byte{})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, body []byte) {
		in := &broker.Message{Header: map[string]string{k1: v1, k2: v2}, Body: body}
		out, err := DecodeEnvelope(EncodeEnvelope(in))
		if err != nil {
			t.Fatalf("DecodeEnvelope: %v", err)
		}
		if !maps.Equal(out.Header, in.Header) || !bytes.Equal(out.Body, in.Body) {
			t.Fatalf("round trip: %v %q -> %v %q", in.Header, in.Body, out.Header, out.Body)
		}
	})
}

// TestDecodeEnvelopeAllocationBound: a hostile payload that claims as many
// header entries as its length allows (and then fails) must not make the
// decoder allocate far more than the payload itself, or a 256 MiB MQTT
// packet would take gigabytes.
func TestDecodeEnvelopeAllocationBound(t *testing.T) {
	const size = 1 << 20
	p := []byte{envelopeMagic, envelopeVersion}
	p = binary.AppendUvarint(p, size/2-4)
	p = append(p, make([]byte, size-len(p))...) // empty keys and values: the second is a duplicate
	if _, err := DecodeEnvelope(p); !errors.Is(err, ErrInvalidEnvelope) {
		t.Fatalf("DecodeEnvelope: %v, want ErrInvalidEnvelope", err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _ = DecodeEnvelope(p)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > size {
		t.Errorf("decoding a %d-byte hostile payload allocated %d bytes, want at most %d", size, got, size)
	}
}

// TestEnvelopeHeaderLimit: an envelope may carry MaxHeaders header entries
// and no more, since each costs the decoder far more memory than the
// bytes it takes on the wire.
func TestEnvelopeHeaderLimit(t *testing.T) {
	header := func(n int) map[string]string {
		h := make(map[string]string, n)
		for i := range n {
			h[strconv.Itoa(i)] = ""
		}
		return h
	}
	if _, err := DecodeEnvelope(EncodeEnvelope(&broker.Message{Header: header(MaxHeaders)})); err != nil {
		t.Errorf("DecodeEnvelope with MaxHeaders entries: %v", err)
	}
	if _, err := DecodeEnvelope(EncodeEnvelope(&broker.Message{Header: header(MaxHeaders + 1)})); !errors.Is(err, ErrInvalidEnvelope) {
		t.Errorf("DecodeEnvelope with MaxHeaders+1 entries: %v, want ErrInvalidEnvelope", err)
	}
}
