package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// FuzzServe sends one message with arbitrary headers and body to a server
// and half-closes: the server must answer with at most one error message,
// as the last one, and then end the stream (a unary call gets exactly one
// message); it must never panic or hang.
func FuzzServe(f *testing.F) {
	seeds := []struct {
		ct, endpoint, stream, timeout, extra string
		body                                 []byte
	}{
		{"application/json", "Greeter.Hello", "", "", "X-User: a", []byte(`{"name":"x"}`)},
		{"application/json", "Greeter.Hello", "", "1s", "", []byte(`{"name":`)},
		{"application/protobuf", "Greeter.Proto", "", "", "", []byte{0x0a, 0x02, 'h', 'i'}},
		{"application/protobuf", "Greeter.Proto", "", "", "", []byte{0xff, 0xff}},
		{"application/json-rpc", "", "", "", "", []byte(`{"id":1,"method":"Greeter.Hello","params":[{"name":"j"}]}`)},
		{"application/proto-rpc", "Greeter.Proto", "", "", "", []byte{0x05, 0x0a, 0x01, '1', 0x10, 0x01, 0x00}},
		{"application/octet-stream", "Greeter.Bytes", "", "", "", []byte{0, 1}},
		{"application/json", "Greeter.Echo", "1", "", "", nil},
		{"application/json", "Greeter.Echo", "true", "", "", []byte(`{"n":1}`)},
		{"application/json", "Greeter.Hello", "1", "", "", nil},
		{"application/json", "Greeter.Panic", "", "", "", nil},
		{"application/json", "Debug.Stats", "", "", "", nil},
		{"", "", "", "", "", nil},
		{"text/plain", "Greeter.Hello", "x", "-5s", "Micro-Error: {}\nTimeout: 1h", []byte("hello")},
	}
	for _, s := range seeds {
		f.Add(s.ct, s.endpoint, s.stream, s.timeout, s.extra, s.body)
	}
	fx := newFixture(f, server.Logger(slog.New(slog.DiscardHandler)))
	fx.start()
	c := fx.client()
	unary := map[string]bool{"Greeter.Hello": true, "Greeter.Proto": true, "Greeter.Bytes": true, "Greeter.Panic": true, "Debug.Stats": true}

	close(fx.g.release) // Greeter.Hold returns at once
	f.Fuzz(func(t *testing.T, ct, endpoint, stream, timeout, extra string, body []byte) {
		if strings.Contains(endpoint+extra+string(body), "Block") {
			return // Greeter.Block waits for its deadline, which may never come
		}
		h := map[string]string{}
		for line := range strings.SplitSeq(extra, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h[k] = strings.TrimSpace(v)
			}
		}
		set := func(k, v string) {
			if v != "" {
				h[k] = v
			}
		}
		set(rpcwire.ContentType, ct)
		set(rpcwire.Endpoint, endpoint)
		set(rpcwire.Stream, stream)
		set(rpcwire.Timeout, timeout)
		out, err := c.exchange(context.Background(), &transport.Message{Header: h, Body: body})
		if err != nil && err != io.EOF {
			// The transport refused the message (too large, say): nothing
			// reached the server.
			return
		}
		for i, m := range out {
			if e, ok := m.Header[rpcwire.Error]; ok {
				if i != len(out)-1 {
					t.Fatalf("error message %d of %d: %v", i, len(out), m.Header)
				}
				if pe := errors.Parse(e); pe.Code == 0 || pe.Id == "" {
					t.Fatalf("error %q parses to %+v", e, pe)
				}
			}
		}
		if unary[h[rpcwire.Endpoint]] && len(out) != 1 {
			t.Fatalf("a call to %s got %d messages", h[rpcwire.Endpoint], len(out))
		}
	})
}
