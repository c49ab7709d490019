package rabbitmq

import (
	"encoding/binary"
	"maps"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

type transportMessage = transport.Message

// tableFrom builds an AMQP table of mixed value types from fuzz input, the
// way a foreign publisher could.
func tableFrom(b []byte) amqp.Table {
	t := amqp.Table{}
	for len(b) >= 2 {
		kind, n := b[0], int(b[1])
		b = b[2:]
		n = min(n, len(b))
		s := string(b[:n])
		b = b[n:]
		key, val, _ := strings.Cut(s, "=")
		switch kind % 7 {
		case 0:
			t[key] = val
		case 1:
			t[key] = []byte(val)
		case 2:
			t[key] = int64(len(val))
		case 3:
			t[escapedHeaders] = []any{key, val}
		case 4:
			t[escapedHeaders] = []any{key}
		case 5:
			t[escapedHeaders] = []any{key, []byte(val), val, int32(1)}
		case 6:
			t[key] = amqp.Table{val: val}
		}
	}
	return t
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(typeData, "s1", "q", []byte("body"), []byte{0, 5, 'a', '=', 'b', 'c', 'd'})
	f.Add(typeWindow, "s1", "q", binary.BigEndian.AppendUint32(nil, 5), []byte{})
	f.Add(typeReset, "s1", "q", []byte{codeClosed}, []byte{})
	f.Add(typeProbe, "", "q", []byte("a\nb\nc"), []byte{})
	f.Add(typeOpen, "s1", "q", []byte{}, []byte{3, 4, 'C', 'C', '=', 'x'})
	f.Fuzz(func(t *testing.T, typ, id, replyTo string, body, headers []byte) {
		d := &amqp.Delivery{Type: typ, CorrelationId: id, ReplyTo: replyTo, Body: body, Headers: tableFrom(headers)}
		fr, err := decodeFrame(d)
		if err != nil {
			return
		}
		if fr.replyTo == "" {
			t.Fatal("decoded a frame without reply-to")
		}
		switch fr.typ {
		case typeData:
			if want := messageSize(&fr.msg); fr.size != want {
				t.Fatalf("size %d, want %d", fr.size, want)
			}
		case typeWindow:
			if fr.credit == 0 || fr.credit > maxCredit {
				t.Fatalf("credit %d accepted", fr.credit)
			}
		case typeProbe:
			for _, id := range fr.ids {
				if id == "" || len(id) > maxShortString || strings.Contains(id, "\n") {
					t.Fatalf("probe id %q accepted", id)
				}
			}
		case typeOpen, typeEnd, typeReset:
		default:
			t.Fatalf("type %q accepted", fr.typ)
		}
	})
}

func FuzzHeaders(f *testing.F) {
	f.Add("Content-Type", "application/json", "CC", "x")
	f.Add("", "", strings.Repeat("k", 300), "\x00\xff")
	f.Add(escapedHeaders, "v", "BCC", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := map[string]string{k1: v1, k2: v2}
		tbl := encodeHeaders(h)
		if err := tbl.Validate(); err != nil {
			t.Fatal(err)
		}
		for k := range tbl {
			if k != escapedHeaders && !plainKey(k) {
				t.Fatalf("unsafe AMQP header name %q", k)
			}
		}
		got, size, err := decodeHeaders(tbl)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, h) || size != messageSize(&transport.Message{Header: h}) {
			t.Fatalf("round trip of %q gave %q (size %d)", h, got, size)
		}
	})
}
