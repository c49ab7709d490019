package rabbitmq

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// TestBadInput: what the broker refuses gets a clear error and leaves the
// connection working.
func TestBadInput(t *testing.T) {
	e := setup(t)
	b := e.connected(t)
	nop := func(context.Context, broker.Event) error { return nil }
	long := strings.Repeat("x", 256)

	for _, tc := range []struct {
		name  string
		topic string
	}{
		{"empty", ""},
		{"space", "a b"},
		{"control", "a\x00b"},
		{"invalid utf-8", "a\xffb"},
		{"too long", long},
	} {
		t.Run("topic "+tc.name, func(t *testing.T) {
			if err := b.Publish(t.Context(), tc.topic, &broker.Message{}); !errors.Is(err, broker.ErrInvalidTopic) {
				t.Errorf("Publish: %v, want ErrInvalidTopic", err)
			}
			if _, err := b.Subscribe(t.Context(), tc.topic, nop); !errors.Is(err, broker.ErrInvalidTopic) {
				t.Errorf("Subscribe: %v, want ErrInvalidTopic", err)
			}
		})
	}
	for _, tc := range []struct{ name, group string }{
		{"space", "a b"},
		{"newline", "a\nb"},
		{"invalid utf-8", "\xff"},
		{"too long", long},
	} {
		t.Run("group "+tc.name, func(t *testing.T) {
			if _, err := b.Subscribe(t.Context(), "ok", nop, broker.Queue(tc.group)); !errors.Is(err, ErrInvalidQueue) {
				t.Errorf("Subscribe: %v, want ErrInvalidQueue", err)
			}
		})
	}
	t.Run("nil handler", func(t *testing.T) {
		if _, err := b.Subscribe(t.Context(), "ok", nil); err == nil {
			t.Error("Subscribe with a nil handler succeeded")
		}
	})
	t.Run("header name too long", func(t *testing.T) {
		err := b.Publish(t.Context(), "ok", &broker.Message{Header: map[string]string{long: "v"}})
		if !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("Publish: %v, want ErrInvalidHeader", err)
		}
	})
	t.Run("nil message", func(t *testing.T) {
		if err := b.Publish(t.Context(), "ok", nil); err != nil {
			t.Errorf("Publish(nil): %v", err)
		}
	})

	// After all that the broker still works, on the same connection.
	got := make(chan *broker.Message, 1)
	if _, err := b.Subscribe(t.Context(), "still.works", func(_ context.Context, ev broker.Event) error {
		got <- ev.Message()
		return nil
	}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	big := strings.Repeat("0123456789", 100_000) // 1 MB: several frames
	if err := b.Publish(t.Context(), "still.works", &broker.Message{
		Header: map[string]string{"Content-Type": "text/plain", "": "empty name"},
		Body:   []byte(big),
	}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	m := testenv.Recv(t, "message", got)
	if string(m.Body) != big || m.Header["Content-Type"] != "text/plain" || m.Header[""] != "empty name" {
		t.Errorf("got header %v and a body of %d bytes", m.Header, len(m.Body))
	}
	if k := b.logs.count("connection lost; reconnecting"); k != 0 {
		t.Errorf("connection lost %d times", k)
	}
}

// TestForeignMessages: messages published by other AMQP clients, with
// header values of every AMQP type, no message id and a content-type
// property, reach the handler with what has a string form, and are given
// up after the redelivery limit too.
func TestForeignMessages(t *testing.T) {
	e := setup(t)
	b := e.connected(t, MaxRedeliveries(1))
	a := newAdmin(t, e.server)
	var mu sync.Mutex
	var got []*broker.Message
	if _, err := b.Subscribe(t.Context(), "foreign", func(_ context.Context, ev broker.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.Message())
		if ev.Topic() != "foreign" {
			t.Errorf("Topic() = %q", ev.Topic())
		}
		return errors.New("refused")
	}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	err := a.ch.PublishWithContext(t.Context(), e.exchange, "foreign", false, false, amqp.Publishing{
		ContentType: "application/json",
		Headers: amqp.Table{
			"str":     "s",
			"bytes":   []byte("b"),
			"bool":    true,
			"int8":    int8(-8),
			"int16":   int16(-16),
			"int32":   int32(-32),
			"int64":   int64(-64),
			"uint8":   uint8(8),
			"uint16":  uint16(16),
			"uint32":  uint32(32),
			"float32": float32(1.5),
			"float64": 2.25,
			"time":    ts,
			"decimal": amqp.Decimal{Scale: 2, Value: -12345},
			"void":    nil,
			"table":   amqp.Table{"k": "v"},
			"array":   []any{"a", int32(1)},
		},
		Body: []byte(`{"a":1}`),
	})
	if err != nil {
		t.Fatalf("publishing with the plain client: %v", err)
	}
	waitFor(t, "the foreign message to be given up", func() bool { return b.logs.count("failed too often") == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("handled %d times, want 2 (counted without a message id)", len(got))
	}
	want := map[string]string{
		"str": "s", "bytes": "b", "bool": "true", "int8": "-8", "int16": "-16", "int32": "-32",
		"int64": "-64", "uint8": "8", "uint16": "16", "uint32": "32", "float32": "1.5",
		"float64": "2.25", "time": "2024-05-06T07:08:09Z", "decimal": "-123.45", "void": "",
		"Content-Type": "application/json",
	}
	h := got[0].Header
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %q = %q, want %q", k, h[k], v)
		}
	}
	for _, k := range []string{"table", "array"} {
		if v, ok := h[k]; ok {
			t.Errorf("header %q = %q, want it left out", k, v)
		}
	}
}

// TestConnectFails: Connect reports a server it cannot reach or a ctx that
// ends, and leaves the broker unconnected.
func TestConnectFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	// A listener that accepts and never answers: the handshake hangs
	// until ctx ends.
	silent := silentServer(t)

	for _, tc := range []struct {
		name string
		addr string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"refused", closed, func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) }, nil},
		{"cancelled", closed, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"silent server", silent, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 100*time.Millisecond)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(broker.Addrs(tc.addr), broker.Logger(discard()))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			err = b.Connect(ctx)
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Connect: %v, want %v", err, tc.want)
			}
			if err := b.Publish(t.Context(), "t", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
				t.Errorf("Publish after a failed Connect: %v, want ErrNotConnected", err)
			}
			if err := b.Disconnect(t.Context()); err != nil {
				t.Errorf("Disconnect: %v", err)
			}
		})
	}
}

// TestQueueMismatch: a queue group whose queue exists with other arguments
// fails Subscribe with the server's reason, and the broker goes on.
func TestQueueMismatch(t *testing.T) {
	e := setup(t)
	a := newAdmin(t, e.server)
	name := groupQueueName(e.exchange, "mismatch", "g")
	if _, err := a.ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-max-length": int32(5)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = a.ch.QueueDelete(name, false, false, false) })
	b := e.connected(t)
	_, err := b.Subscribe(t.Context(), "mismatch", func(context.Context, broker.Event) error { return nil }, broker.Queue("g"))
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
		t.Errorf("Subscribe to a queue declared otherwise: %v, want PRECONDITION_FAILED", err)
	}
	if err := b.Publish(t.Context(), "mismatch", &broker.Message{}); err != nil {
		t.Errorf("Publish after the failed Subscribe: %v", err)
	}
}

// TestMissingDeadLetterExchange: a dead-letter exchange that does not exist
// is reported when the broker connects.
func TestMissingDeadLetterExchange(t *testing.T) {
	e := setup(t)
	b := e.connected(t, DeadLetterExchange(unique(t, "micro-test-missing")))
	if k := b.logs.count("dead-letter exchange not found"); k != 1 {
		t.Errorf("missing dead-letter exchange logged %d times, want 1", k)
	}
}

// TestCallsDuringConnect: while Connect waits for a server that does not
// answer, Publish, Subscribe and Address do not wait for it: the broker is
// not connected yet.
func TestCallsDuringConnect(t *testing.T) {
	addr := silentServer(t)
	b, err := New(broker.Addrs(addr), broker.Logger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	connected := make(chan error, 1)
	go func() { connected <- b.Connect(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-connected
	})
	// Connect is under way, or not started yet: either way the broker is
	// not connected.
	calls := make(chan error, 3)
	go func() {
		calls <- b.Publish(t.Context(), "t", &broker.Message{})
		_, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error { return nil })
		calls <- err
		_ = b.Address()
		calls <- nil
	}()
	for _, what := range []string{"Publish", "Subscribe"} {
		if err := testenv.Recv(t, what+" during Connect", calls); !errors.Is(err, broker.ErrNotConnected) {
			t.Errorf("%s during Connect: %v, want ErrNotConnected", what, err)
		}
	}
	testenv.Recv(t, "Address during Connect", calls)
}
