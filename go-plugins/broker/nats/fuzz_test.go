package nats

import (
	"bytes"
	"context"
	"errors"
	"net/textproto"
	"strings"
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// The header decoding of received messages: whatever header block nats.go
// accepts, decodeHeader keeps every key with all its values.
func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{
		"NATS/1.0\r\nA: b\r\n\r\n",
		"NATS/1.0 503\r\n\r\n",
		"NATS/1.0 404 No Messages\r\nA: 1\r\nA: 2\r\n\r\n",
		"NATS/1.0\r\n: empty key\r\n\r\n",
		"NATS/1.0\r\nnocolon\r\n\r\n",
		"NATS/1.0\r\nA:\r\n\r\n",
		"\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := natsgo.DecodeHeadersMsg(data)
		out := decodeHeader(h)
		if err != nil {
			return
		}
		if len(out) != len(h) {
			t.Fatalf("decodeHeader kept %d of %d keys", len(out), len(h))
		}
		for k, vs := range h {
			if out[k] != strings.Join(vs, ", ") {
				t.Fatalf("key %q: %q, want the values %q joined", k, out[k], vs)
			}
		}
	})
}

// Topic validation never panics and is never looser than the core's.
func FuzzValidateTopic(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a.*", "a.>", ">", "*", "a..b", ".", "a b", "é.x", "\xff", "a.>.b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		pubErr, subErr := validatePublish(topic), validateSubscribe(topic)
		if pubErr == nil && subErr != nil {
			t.Fatalf("%q: publishable but not subscribable: %v", topic, subErr)
		}
		if subErr == nil && broker.ValidateTopic(topic) != nil {
			t.Fatalf("%q accepted but the core refuses it", topic)
		}
		for _, err := range []error{pubErr, subErr} {
			if err != nil && !errors.Is(err, broker.ErrInvalidTopic) {
				t.Fatalf("%q: %v does not wrap ErrInvalidTopic", topic, err)
			}
		}
		if pubErr == nil {
			for tok := range strings.SplitSeq(topic, ".") {
				if tok == "" || tok == "*" || tok == ">" {
					t.Fatalf("%q accepted for publishing", topic)
				}
			}
		}
	})
}

// Any header and body a publisher gives either fails Publish with
// ErrInvalidHeader or arrives, the value trimmed and its line breaks made
// spaces as NATS requires.
func FuzzPublishHeader(f *testing.F) {
	f.Add("Content-Type", "application/json", []byte("{}"))
	f.Add("lower-case", " padded\t", []byte{0, 0xff})
	f.Add("K", "a\r\nb", []byte(nil))
	f.Add("a:b", "v", []byte("x"))
	f.Add("", "", []byte(""))
	f.Add("Ünï", "ü", []byte("x"))
	srv := embedded(f, 0, f.TempDir())
	b := connected(f, broker.Addrs(srv.ClientURL()))
	got := make(chan *broker.Message, 1)
	subscribe(f, b, "fz", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	})
	f.Fuzz(func(t *testing.T, key, value string, body []byte) {
		err := b.Publish(t.Context(), "fz", &broker.Message{Header: map[string]string{key: value}, Body: body})
		if err != nil {
			if !errors.Is(err, ErrInvalidHeader) || validHeaderKey(key) {
				t.Fatalf("Publish(%q: %q): %v", key, value, err)
			}
			return
		}
		if !validHeaderKey(key) {
			t.Fatalf("header key %q accepted", key)
		}
		m := testenv.Recv(t, "the message", got)
		want := strings.NewReplacer("\r", " ", "\n", " ").Replace(textproto.TrimString(value))
		if len(m.Header) != 1 || m.Header[key] != want {
			t.Fatalf("header %q: %q, want %q", key, m.Header, want)
		}
		if !bytes.Equal(m.Body, body) {
			t.Fatalf("body %q, want %q", m.Body, body)
		}
	})
}

// A message with any header block, sent by a client that speaks the
// protocol itself, reaches the handler with its body intact when the
// server takes it, and never stops the subscription.
func FuzzRawMessage(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nA: b\r\n\r\n"), []byte("ok"))
	f.Add([]byte("NATS/1.0\r\nnocolon\r\n\r\n"), []byte("bad"))
	f.Add([]byte("HTTP/1.1\r\n\r\n"), []byte{})
	f.Add([]byte("NATS/1.0 503\r\n\r\n"), []byte("status"))
	f.Add([]byte{}, []byte("no header"))
	f.Add([]byte{0xff, 0, '\r', '\n'}, []byte{0})
	srv := embedded(f, 0, f.TempDir())
	addr := srv.Addr().String()
	b := connected(f, broker.Addrs(srv.ClientURL()))
	got := make(chan *broker.Message, 16)
	subscribe(f, b, "fzraw", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	})
	f.Fuzz(func(t *testing.T, hdr, body []byte) {
		if len(hdr)+len(body) > 64<<10 {
			return
		}
		taken := rawPublish(t, addr, "fzraw", hdr, body) == nil
		// The probe follows the raw message on the server and on the
		// subscriber's connection.
		if err := b.Publish(t.Context(), "fzraw", &broker.Message{Header: map[string]string{probeKey: "1"}}); err != nil {
			t.Fatal(err)
		}
		var raw []*broker.Message
		for {
			m := testenv.Recv(t, "the probe", got)
			if _, ok := m.Header[probeKey]; ok {
				break
			}
			raw = append(raw, m)
		}
		switch {
		case taken && len(raw) != 1:
			t.Fatalf("server took the message, handler got %d", len(raw))
		case !taken && len(raw) > 1:
			t.Fatalf("handler got %d messages", len(raw))
		case len(raw) == 1 && !bytes.Equal(raw[0].Body, body):
			t.Fatalf("body %q, want %q", raw[0].Body, body)
		}
	})
}
