package rabbitmq

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestHeadersRoundTrip(t *testing.T) {
	long := strings.Repeat("k", 300)
	tests := []struct {
		name    string
		h       map[string]string
		escaped []string // keys that must travel escaped
	}{
		{"nil", nil, nil},
		{"empty", map[string]string{}, nil},
		{"plain", map[string]string{"Content-Type": "application/json", "Micro-Id": "1"}, nil},
		{"empty key and value", map[string]string{"": "", "k": ""}, []string{""}},
		{"binary value", map[string]string{"Bin": "\x00\xff\x80\n\r"}, nil},
		{"routing headers", map[string]string{"CC": "a", "BCC": "b", "cc": "c"}, []string{"CC", "BCC"}},
		{"long key", map[string]string{long: "v", strings.Repeat("m", 255): "w"}, []string{long}},
		{"escape key itself", map[string]string{escapedHeaders: "x", "y": "z"}, []string{escapedHeaders}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := encodeHeaders(tc.h)
			if err := tbl.Validate(); err != nil {
				t.Fatalf("encoded table does not validate: %v", err)
			}
			for _, k := range tc.escaped {
				if v, ok := tbl[k]; ok && (k != escapedHeaders || v == any(tc.h[k])) {
					t.Errorf("key %.20q travels as a plain AMQP header", k)
				}
			}
			for k := range tbl {
				if k != escapedHeaders && !plainKey(k) {
					t.Errorf("key %.20q is not a safe AMQP header name", k)
				}
			}
			got, size, err := decodeHeaders(tbl)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.h) {
				t.Errorf("decoded %v, want %v", got, tc.h)
			}
			if want := messageSize(&transportMessage{Header: tc.h}); size != want {
				t.Errorf("size %d, want %d", size, want)
			}
		})
	}
}

func TestDecodeHeadersRejects(t *testing.T) {
	tests := []struct {
		name string
		tbl  amqp.Table
	}{
		{"number", amqp.Table{"a": int32(1)}},
		{"table", amqp.Table{"a": amqp.Table{}}},
		{"nil value", amqp.Table{"a": nil}},
		{"escaped not an array", amqp.Table{escapedHeaders: "x"}},
		{"escaped odd", amqp.Table{escapedHeaders: []any{"a"}}},
		{"escaped number", amqp.Table{escapedHeaders: []any{"a", int64(2)}}},
		{"escaped duplicate", amqp.Table{"a": "1", escapedHeaders: []any{"a", "2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeHeaders(tc.tbl); !errors.Is(err, errMalformed) {
				t.Fatalf("decodeHeaders = %v, want errMalformed", err)
			}
		})
	}
	h, _, err := decodeHeaders(amqp.Table{"b": []byte("bytes"), escapedHeaders: []any{[]byte("CC"), "x"}})
	if err != nil || h["b"] != "bytes" || h["CC"] != "x" {
		t.Fatalf("byte arrays: %v %v", h, err)
	}
}

func TestDecodeFrame(t *testing.T) {
	d := func(typ, id, reply string, body []byte, h amqp.Table) *amqp.Delivery {
		return &amqp.Delivery{Type: typ, CorrelationId: id, ReplyTo: reply, Body: body, Headers: h}
	}
	tests := []struct {
		name string
		d    *amqp.Delivery
		ok   bool
		want frame
	}{
		{"open", d(typeOpen, "s1", "q", nil, nil), true, frame{typ: typeOpen, id: "s1", replyTo: "q"}},
		{"end", d(typeEnd, "s1", "q", nil, nil), true, frame{typ: typeEnd, id: "s1", replyTo: "q"}},
		{"data", d(typeData, "s1", "q", []byte("body"), amqp.Table{"a": "bc"}), true, frame{typ: typeData, id: "s1", replyTo: "q", size: 7}},
		{"reset", d(typeReset, "s1", "q", []byte{codeRefused}, nil), true, frame{typ: typeReset, id: "s1", replyTo: "q", code: codeRefused}},
		{"window", d(typeWindow, "s1", "q", windowBody(1000), nil), true, frame{typ: typeWindow, id: "s1", replyTo: "q", credit: 1000}},
		{"probe", d(typeProbe, "", "q", []byte("a\nb"), nil), true, frame{typ: typeProbe, replyTo: "q"}},
		{"empty probe", d(typeProbe, "", "q", nil, nil), true, frame{typ: typeProbe, replyTo: "q"}},
		{"no reply-to", d(typeData, "s1", "", nil, nil), false, frame{}},
		{"no id", d(typeData, "", "q", nil, nil), false, frame{}},
		{"unknown type", d("bogus", "s1", "q", nil, nil), false, frame{}},
		{"no type", d("", "s1", "q", nil, nil), false, frame{}},
		{"bad header", d(typeData, "s1", "q", nil, amqp.Table{"a": 1.5}), false, frame{}},
		{"reset without code", d(typeReset, "s1", "q", nil, nil), false, frame{}},
		{"reset long", d(typeReset, "s1", "q", []byte{1, 2}, nil), false, frame{}},
		{"window short", d(typeWindow, "s1", "q", []byte{1}, nil), false, frame{}},
		{"window zero", d(typeWindow, "s1", "q", windowBody(0), nil), false, frame{}},
		{"window huge", d(typeWindow, "s1", "q", windowBody(1<<31), nil), false, frame{}},
		{"probe empty id", d(typeProbe, "", "q", []byte("a\n\nb"), nil), false, frame{}},
		{"probe long id", d(typeProbe, "", "q", []byte(strings.Repeat("x", 256)), nil), false, frame{}},
		{"probe too big", d(typeProbe, "", "q", bytes.Repeat([]byte("x\n"), maxProbeBody), nil), false, frame{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := decodeFrame(tc.d)
			if !tc.ok {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("decodeFrame = %v, want errMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.typ != tc.want.typ || f.id != tc.want.id || f.replyTo != tc.want.replyTo || f.size != tc.want.size ||
				f.code != tc.want.code || f.credit != tc.want.credit {
				t.Fatalf("decodeFrame = %+v, want %+v", f, tc.want)
			}
		})
	}
}

func TestProbeChunks(t *testing.T) {
	var ids []string
	for i := range 3000 {
		ids = append(ids, strings.Repeat("i", 1+i%40))
	}
	bodies := encodeProbes(ids)
	if len(bodies) < 2 {
		t.Fatalf("%d ids fit one probe of %d bytes", len(ids), maxProbeBody)
	}
	var got []string
	for _, b := range bodies {
		if len(b) > maxProbeBody {
			t.Fatalf("probe body of %d bytes", len(b))
		}
		part, err := decodeProbe(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatal("probe ids differ after the round trip")
	}
	if encodeProbes(nil) != nil {
		t.Fatal("probes for no ids")
	}
}
