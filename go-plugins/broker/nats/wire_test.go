package nats

import (
	"testing"

	natsgo "github.com/nats-io/nats.go"
)

func TestSubsetOf(t *testing.T) {
	tests := []struct {
		subject, filter string
		want            bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a.b", "a.*", true},
		{"a.b", "a.>", true},
		{"a.b.c", "a.>", true},
		{"a", "a.>", false},
		{"a.b.c", "a.*", false},
		{"a.*", "a.*", true},
		{"a.*", "a.b", false},
		{"a.*", "a.>", true},
		{"a.>", "a.>", true},
		{"a.>", "a.*", false},
		{"a.*.>", "a.>", true},
		{">", ">", true},
		{"a", ">", true},
		{"*", "a", false},
		{"a.b", "*.b", true},
		{"a.b", "*.c", false},
		{"a.b", "a", false},
	}
	for _, tt := range tests {
		if got := subsetOf(tt.subject, tt.filter); got != tt.want {
			t.Errorf("subsetOf(%q, %q) = %v, want %v", tt.subject, tt.filter, got, tt.want)
		}
	}
}

func TestConsumerName(t *testing.T) {
	tests := []struct{ base, subject string }{
		{"g", "a.b"},
		{"g", "a_b"},
		{"g.x", "a"},
		{"g_x", "a"},
		{"", "a"},
		{"with space", "a.*.>"},
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		n := consumerName(tt.base, tt.subject)
		if n != consumerName(tt.base, tt.subject) {
			t.Errorf("consumerName(%q, %q) is not stable", tt.base, tt.subject)
		}
		if seen[n] {
			t.Errorf("consumerName(%q, %q) = %q collides", tt.base, tt.subject, n)
		}
		seen[n] = true
		for _, c := range n {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Errorf("consumerName(%q, %q) = %q holds %q", tt.base, tt.subject, n, c)
			}
		}
	}
	long := consumerName(string(make([]byte, 1000)), string(make([]byte, 1000)))
	if len(long) > 64+1+64+1+16 {
		t.Errorf("consumer name of %d bytes", len(long))
	}
}

func TestDecodeHeader(t *testing.T) {
	got := decodeHeader(map[string][]string{"A": {"1"}, "B": {"x", "y"}, "C": {}, "D": {""}})
	want := map[string]string{"A": "1", "B": "x, y", "C": "", "D": ""}
	if len(got) != len(want) {
		t.Fatalf("decodeHeader = %q", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if decodeHeader(nil) != nil {
		t.Error("decodeHeader(nil) != nil")
	}
}

func TestOutMsgReuse(t *testing.T) {
	headers := []map[string]string{
		{"A": "1", "B": "2"},
		{"A": "3", "B": "4"}, // same keys: values replaced
		{"A": "5", "C": "6"}, // a key differs
		{"A": "7"},           // fewer keys
		{},
		{"D": "8", "E": "9", "F": "10"}, // more keys
	}
	o := &outMsg{msg: natsgo.Msg{Header: make(natsgo.Header)}}
	for _, h := range headers {
		// what getOutMsg does, on one message rather than the pool's
		if !o.setValues(h) {
			clear(o.msg.Header)
			if cap(o.vals) < len(h) {
				o.vals = make([]string, len(h))
			}
			i := 0
			for k, v := range h {
				o.vals[i] = v
				o.msg.Header[k] = o.vals[i : i+1 : i+1]
				i++
			}
		}
		if len(o.msg.Header) != len(h) {
			t.Fatalf("header %v for %v", o.msg.Header, h)
		}
		for k, v := range h {
			if vs := o.msg.Header[k]; len(vs) != 1 || vs[0] != v {
				t.Fatalf("header %v for %v", o.msg.Header, h)
			}
		}
	}
	for _, h := range headers {
		m := getOutMsg("s", h, []byte("b"))
		if m.msg.Subject != "s" || string(m.msg.Data) != "b" || len(m.msg.Header) != len(h) {
			t.Fatalf("getOutMsg: %+v for %v", m.msg, h)
		}
		for k, v := range h {
			if vs := m.msg.Header[k]; len(vs) != 1 || vs[0] != v {
				t.Fatalf("getOutMsg: header %v for %v", m.msg.Header, h)
			}
		}
		putOutMsg(m)
	}
}
