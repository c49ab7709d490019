package rabbitmq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
)

func TestNormalizeAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		tls  bool
		want string // "" for an error
	}{
		{"", false, DefaultAddr},
		{"", true, defaultTLSAddr},
		{DefaultAddr, true, defaultTLSAddr},
		{"127.0.0.1:5672", false, "amqp://127.0.0.1:5672"},
		{"127.0.0.1:5671", true, "amqps://127.0.0.1:5671"},
		{"rabbit", false, "amqp://rabbit"},
		{" amqp://u:p@h:1/v ", false, "amqp://u:p@h:1/v"},
		{"AMQP://u:p@h:1/v", true, "amqps://u:p@h:1/v"},
		{"amqps://h", false, "amqps://h"},
		{"http://h:80", false, ""},
		{"amqp://h:port", false, ""},
		{"amqp://h /", false, ""},
		{"amqp://u:p@[::1", false, ""},
	} {
		got, err := normalizeAddr(tc.in, tc.tls)
		if tc.want == "" {
			if err == nil || !errors.Is(err, errOption) {
				t.Errorf("normalizeAddr(%q, %v) = %q, %v; want an option error", tc.in, tc.tls, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalizeAddr(%q, %v) = %q, %v; want %q", tc.in, tc.tls, got, err, tc.want)
		}
	}
}

func TestGroupQueueName(t *testing.T) {
	long := strings.Repeat("t", 300)
	for _, tc := range []struct {
		exchange, topic, group string
		want                   string // "" when hashed
	}{
		{"micro", "orders", "billing", "micro:orders:billing"},
		{"micro", "orders.created", "g-1", "micro:orders.created:g-1"},
		{"micro", "a:b", "c", ""},
		{"micro", "a", "b:c", ""},
		{"micro", "a", "b~0123456789abcdef", ""},
		{"amq.topic", "a", "b", ""},
		{"micro", long, "g", ""},
	} {
		got := groupQueueName(tc.exchange, tc.topic, tc.group)
		if tc.want != "" && got != tc.want {
			t.Errorf("groupQueueName(%q, %q, %q) = %q, want %q", tc.exchange, tc.topic, tc.group, got, tc.want)
		}
		if tc.want == "" && !strings.Contains(got, "~") {
			t.Errorf("groupQueueName(%q, %q, %q) = %q, want a hashed name", tc.exchange, tc.topic, tc.group, got)
		}
		checkQueueName(t, got)
	}
	if groupQueueName("micro", "a:b", "c") == groupQueueName("micro", "a", "b:c") {
		t.Error("ambiguous triples share a queue")
	}
}

func checkQueueName(t *testing.T, name string) {
	t.Helper()
	if len(name) == 0 || len(name) > maxShortstr || !utf8.ValidString(name) || strings.HasPrefix(name, "amq.") {
		t.Errorf("queue name %q (%d bytes) is not a name the server takes", name, len(name))
	}
}

func TestHeaderValue(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		in   any
		want string
		ok   bool
	}{
		{nil, "", true},
		{"s", "s", true},
		{[]byte{0xff, 'a'}, "\xffa", true},
		{false, "false", true},
		{int8(math.MinInt8), "-128", true},
		{int16(-1), "-1", true},
		{int32(7), "7", true},
		{int64(math.MaxInt64), "9223372036854775807", true},
		{int(3), "3", true},
		{uint8(255), "255", true},
		{uint16(65535), "65535", true},
		{uint32(1), "1", true},
		{uint64(math.MaxUint64), "18446744073709551615", true},
		{float32(0.1), "0.1", true},
		{math.Inf(-1), "-Inf", true},
		{ts, "2024-01-02T02:04:05Z", true},
		{amqp.Decimal{Scale: 0, Value: 5}, "5", true},
		{amqp.Decimal{Scale: 3, Value: 5}, "0.005", true},
		{amqp.Decimal{Scale: 2, Value: -150}, "-1.50", true},
		{amqp.Decimal{Scale: 1, Value: math.MinInt32}, "-214748364.8", true},
		{amqp.Table{"a": 1}, "", false},
		{[]any{1}, "", false},
		{struct{}{}, "", false},
	} {
		got, ok := headerValue(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("headerValue(%#v) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDeliveryCount(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{nil, 0, false},
		{"3", 0, false},
		{int8(2), 2, true},
		{int16(2), 2, true},
		{int32(2), 2, true},
		{int64(2), 2, true},
		{int(2), 2, true},
		{uint8(2), 2, true},
		{uint16(2), 2, true},
		{uint32(2), 2, true},
		{uint64(2), 2, true},
		{uint64(math.MaxUint64), math.MaxInt64, true},
		{int64(-1), 0, false},
	} {
		got, ok := deliveryCount(amqp.Table{"x-delivery-count": tc.in})
		if got != tc.want || ok != tc.ok {
			t.Errorf("deliveryCount(%#v) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDeliveryKey(t *testing.T) {
	a := deliveryKey(&amqp.Delivery{RoutingKey: "ab", Body: []byte("c")})
	b := deliveryKey(&amqp.Delivery{RoutingKey: "a", Body: []byte("bc")})
	if a == b {
		t.Error("messages differing in routing key and body share a key")
	}
	if deliveryKey(&amqp.Delivery{MessageId: "x", Body: []byte("1")}) != deliveryKey(&amqp.Delivery{MessageId: "x", Body: []byte("2")}) {
		t.Error("the message id does not identify a message")
	}
}

func TestPublishingRoundTrip(t *testing.T) {
	m := &broker.Message{
		Header: map[string]string{"Content-Type": "application/json", "Id": "1", "": "", "ü": "ß"},
		Body:   []byte(`{}`),
	}
	p, err := toPublishing(m, "id", true)
	if err != nil {
		t.Fatal(err)
	}
	if p.ContentType != "application/json" || p.MessageId != "id" || p.DeliveryMode != amqp.Persistent {
		t.Errorf("publishing properties: %+v", p)
	}
	back := toMessage(&amqp.Delivery{Headers: p.Headers, ContentType: p.ContentType, Body: p.Body})
	if len(back.Header) != len(m.Header) {
		t.Errorf("header %v, want %v", back.Header, m.Header)
	}
	for k, v := range m.Header {
		if back.Header[k] != v {
			t.Errorf("header %q = %q, want %q", k, back.Header[k], v)
		}
	}
	if p, _ := toPublishing(&broker.Message{}, "id", false); p.DeliveryMode != amqp.Transient || p.Headers != nil {
		t.Errorf("transient empty message: %+v", p)
	}
	// A Content-Type too long for the property still travels as a header.
	long := strings.Repeat("x", 300)
	p, err = toPublishing(&broker.Message{Header: map[string]string{"Content-Type": long}}, "id", true)
	if err != nil || p.ContentType != "" || p.Headers["Content-Type"] != long {
		t.Errorf("long content type: %v %+v", err, p)
	}
}

// FuzzGroupQueueName: every triple gets a name the server takes, and
// distinct triples get distinct names.
func FuzzGroupQueueName(f *testing.F) {
	f.Add("micro", "orders", "billing", "micro", "orders:billing", "")
	f.Add("amq.topic", "a", "b", "amq.topic", "a", "c")
	f.Add("x", strings.Repeat("y", 300), "z", "x", strings.Repeat("y", 301), "z")
	f.Add("e", "t", "g~0123456789abcdef", "e", "t:g", "")
	f.Fuzz(func(t *testing.T, e1, t1, g1, e2, t2, g2 string) {
		n1, n2 := groupQueueName(e1, t1, g1), groupQueueName(e2, t2, g2)
		checkQueueName(t, n1)
		checkQueueName(t, n2)
		if (e1 != e2 || t1 != t2 || g1 != g2) && n1 == n2 {
			t.Errorf("(%q, %q, %q) and (%q, %q, %q) share the queue %q", e1, t1, g1, e2, t2, g2, n1)
		}
	})
}

// fuzzTable builds an AMQP header table of assorted value types from
// fuzz data: each entry is a type byte, a name length, a name and a value.
func fuzzTable(data []byte) amqp.Table {
	tbl := amqp.Table{}
	for len(data) >= 2 {
		kind, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		name := string(data[:n])
		data = data[n:]
		take := func(k int) []byte {
			k = min(k, len(data))
			b := data[:k]
			data = data[k:]
			return append(make([]byte, 0, 8), b...)
		}
		u64 := func() uint64 {
			var b [8]byte
			copy(b[:], take(8))
			return binary.BigEndian.Uint64(b[:])
		}
		switch kind % 18 {
		case 0:
			tbl[name] = string(take(int(u64() % 64)))
		case 1:
			tbl[name] = take(int(u64() % 64))
		case 2:
			tbl[name] = u64()%2 == 0
		case 3:
			tbl[name] = int8(u64())
		case 4:
			tbl[name] = int16(u64())
		case 5:
			tbl[name] = int32(u64())
		case 6:
			tbl[name] = int64(u64())
		case 7:
			tbl[name] = uint8(u64())
		case 8:
			tbl[name] = uint16(u64())
		case 9:
			tbl[name] = uint32(u64())
		case 10:
			tbl[name] = math.Float32frombits(uint32(u64()))
		case 11:
			tbl[name] = math.Float64frombits(u64())
		case 12:
			tbl[name] = time.Unix(int64(u64()%(1<<40)), 0)
		case 13:
			v := u64()
			tbl[name] = amqp.Decimal{Scale: uint8(v >> 32), Value: int32(v)}
		case 14:
			tbl[name] = nil
		case 15:
			tbl[name] = amqp.Table{"nested": string(take(4))}
		case 16:
			tbl[name] = []any{string(take(4)), int32(u64())}
		case 17:
			tbl[name] = u64()
		}
	}
	return tbl
}

// FuzzToMessage: whatever headers another client sends, the handler gets a
// message (no panic) whose string and byte headers are intact, which holds
// no header without a string form, and whose body is the delivery's.
func FuzzToMessage(f *testing.F) {
	f.Add([]byte{0, 2, 'I', 'd', 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'}, "application/json", []byte("{}"))
	f.Add([]byte{13, 1, 'd', 0, 0, 0, 0xff, 0x80, 0, 0, 0}, "", []byte{})
	f.Add([]byte{15, 1, 't', 16, 1, 'a', 6, 18, 'x'}, "text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, data []byte, contentType string, body []byte) {
		tbl := fuzzTable(data)
		d := &amqp.Delivery{Headers: tbl, ContentType: contentType, Body: body, RoutingKey: "t"}
		m := toMessage(d)
		if !bytes.Equal(m.Body, body) {
			t.Errorf("body changed")
		}
		for k, v := range tbl {
			got, ok := m.Header[k]
			switch x := v.(type) {
			case string:
				if got != x {
					t.Errorf("string header %q = %q, want %q", k, got, x)
				}
			case []byte:
				if got != string(x) {
					t.Errorf("bytes header %q = %q, want %q", k, got, x)
				}
			case amqp.Table, []any:
				if ok && k != "Content-Type" {
					t.Errorf("header %q without a string form came through as %q", k, got)
				}
			default:
				if !ok {
					t.Errorf("header %q of type %T left out", k, v)
				}
			}
		}
		if _, ok := tbl["Content-Type"]; !ok && contentType != "" && m.Header["Content-Type"] != contentType {
			t.Errorf("Content-Type = %q, want the property %q", m.Header["Content-Type"], contentType)
		}
		_, _ = deliveryCount(tbl)
		_ = deliveryKey(d)
	})
}

// FuzzHeaderRoundTrip: a header that Publish takes reaches the handler as
// it was sent, and one it refuses is refused with ErrInvalidHeader.
func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add("Id", "42")
	f.Add("Content-Type", "application/json")
	f.Add(strings.Repeat("k", 256), "v")
	f.Add("", "\x00\xff")
	f.Fuzz(func(t *testing.T, k, v string) {
		p, err := toPublishing(&broker.Message{Header: map[string]string{k: v}}, "id", true)
		if len(k) > maxShortstr {
			if !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("header name of %d bytes: %v, want ErrInvalidHeader", len(k), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Headers.Validate(); err != nil {
			t.Fatalf("headers the library refuses: %v", err)
		}
		m := toMessage(&amqp.Delivery{Headers: p.Headers, ContentType: p.ContentType})
		if m.Header[k] != v || len(m.Header) != 1 {
			t.Errorf("header %q = %q (of %d), want %q", k, m.Header[k], len(m.Header), v)
		}
	})
}

// FuzzNormalizeAddr: any address gives a URL the library parses or an
// option error, never a panic, and errors do not show the password.
func FuzzNormalizeAddr(f *testing.F) {
	f.Add("amqp://user:hunter2@host:5672/vhost", false)
	f.Add("host:5672", true)
	f.Add("amqp://user:hunter2@host:port/", false)
	f.Add("amqp://user:hunter2@[::1/", true)
	f.Fuzz(func(t *testing.T, addr string, useTLS bool) {
		u, err := normalizeAddr(addr, useTLS)
		if err != nil {
			if !errors.Is(err, errOption) {
				t.Errorf("error %v does not wrap errOption", err)
			}
			if strings.Contains(addr, ":hunter2@") && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
			return
		}
		uri, err := amqp.ParseURI(u)
		if err != nil {
			t.Fatalf("normalised %q to %q, which does not parse: %v", addr, u, err)
		}
		if useTLS && uri.Scheme != "amqps" {
			t.Errorf("with TLS %q became scheme %q", addr, uri.Scheme)
		}
		_ = redact(u)
	})
}
