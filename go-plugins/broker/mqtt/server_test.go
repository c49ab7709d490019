package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	trmemory "github.com/openmicro/go-micro/transport/memory"
)

// shopEvent is the message type of the end-to-end test's go-micro
// subscriber.
type shopEvent struct {
	N int `json:"n"`
}

// poisonN is the event number the subscriber function always fails on.
const poisonN = 13

// shopEvents records the events a go-micro subscriber function got.
type shopEvents struct {
	mu sync.Mutex
	n  map[int]int
}

func (o *shopEvents) handle(_ context.Context, e *shopEvent) error {
	o.mu.Lock()
	o.n[e.N]++
	o.mu.Unlock()
	if e.N == poisonN {
		return errors.New("cannot process event 13")
	}
	return nil
}

func (o *shopEvents) count(n int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[n]
}

func (o *shopEvents) has(ns ...int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range ns {
		if o.n[n] == 0 {
			return false
		}
	}
	return true
}

// textLog records what a logger gets as text lines with their attributes.
type textLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *textLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *textLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *textLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *textLog) WithGroup(string) slog.Handler      { return l }

// count returns how many lines contain every one of parts.
func (l *textLog) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		n++
	}
	return n
}

// TestServerSubscriberEndToEnd: a go-micro server subscribes, through this
// broker, a function taking *shopEvent, plain and in a queue group. A
// payload that is not an envelope stops at the broker (reported, never
// handed to the server); an envelope whose body does not decode into a
// shopEvent (or that the server has no codec for) is logged by the server
// and acked; the function's error is logged and the event acked (MQTT
// cannot redeliver). None of them is delivered twice or stops the
// subscription: the valid events around them all arrive, once, and the
// server stops cleanly.
func TestServerSubscriberEndToEnd(t *testing.T) {
	addr := sharedAddr(t)
	topic := uniqueTopic(t)
	brokerLog, serverLog := &textLog{}, &textLog{}
	sink := &errorSink{}
	sb := newTestBroker(t, addr, broker.Logger(slog.New(brokerLog)), ErrorHandler(sink.handle))
	t.Cleanup(func() { _ = sb.Disconnect(context.Background()) })
	tr, err := trmemory.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	s, err := server.New(
		server.Name("shop"),
		server.Registry(regmemory.New()),
		server.Transport(tr),
		server.Broker(sb),
		server.Logger(slog.New(serverLog)),
	)
	if err != nil {
		t.Fatal(err)
	}
	plain, group := &shopEvents{n: make(map[int]int)}, &shopEvents{n: make(map[int]int)}
	if err := s.Subscribe(s.NewSubscriber(topic, plain.handle)); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(s.NewSubscriber(topic, group.handle, server.Queue("billing"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = s.Stop(context.Background())
		}
	})

	pb := connected(t, addr)
	c, err := client.New(client.Transport(tr), client.Broker(pb), client.ContentType("application/json"))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(n int) {
		t.Helper()
		if err := c.Publish(t.Context(), c.NewMessage(topic, &shopEvent{N: n})); err != nil {
			t.Fatalf("Publish event %d: %v", n, err)
		}
	}
	// Subscribe returned after the SUBACKs: nothing published from here on
	// is missed.
	bad := []struct{ id, contentType, body string }{
		{"bad-json", "application/json", `{"n":`},
		{"wrong-type", "application/json", `{"n":"one"}`},
		{"not-proto", "application/protobuf", "\xff\xff\xff"},
		{"no-codec", "application/x-nope", `{"n":1}`},
		{"no-content-type", "", `{"n":1}`},
	}
	for _, b := range bad {
		h := map[string]string{"Micro-Id": b.id}
		if b.contentType != "" {
			h["Content-Type"] = b.contentType
		}
		if err := pb.Publish(t.Context(), topic, &broker.Message{Header: h, Body: []byte(b.body)}); err != nil {
			t.Fatalf("Publish %s: %v", b.id, err)
		}
	}
	name, err := MapTopic(topic)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, addr)
	notEnvelopes := [][]byte{[]byte(`{"n":7}`), {envelopeMagic, 1, 0xff}}
	for _, p := range notEnvelopes {
		rawPublish(t, raw, name, p)
	}
	publish(poisonN)
	for n := 1; n <= 5; n++ {
		publish(n)
	}
	testenv.WaitFor(t, "the valid events after the bad ones", func() bool {
		return plain.has(1, 2, 3, 4, 5) && group.has(1, 2, 3, 4, 5)
	})
	for _, b := range bad {
		// Once for the plain subscriber and once for the group.
		testenv.WaitFor(t, "the server to log "+b.id, func() bool {
			return serverLog.count("server: dropping an event that cannot be decoded", "id="+b.id+" ") >= 2
		})
	}
	testenv.WaitFor(t, "the payloads that are not envelopes to be reported", func() bool {
		return len(sink.all()) >= 2*len(notEnvelopes)
	})
	testenv.WaitFor(t, "the failing function to be logged", func() bool {
		return brokerLog.count("broker/mqtt: handler failed; message acknowledged") >= 2
	})

	publish(6)
	testenv.WaitFor(t, "an event after the failures", func() bool { return plain.has(6) && group.has(6) })
	for _, got := range []*shopEvents{plain, group} {
		for n := 1; n <= 6; n++ {
			if k := got.count(n); k != 1 {
				t.Errorf("event %d handled %d times", n, k)
			}
		}
		if k := got.count(poisonN); k != 1 {
			t.Errorf("event 13 handled %d times; MQTT does not redeliver", k)
		}
		if k := got.count(7); k != 0 {
			t.Errorf("a payload that is no envelope reached the function %d times", k)
		}
	}
	for _, b := range bad {
		if k := serverLog.count("id=" + b.id + " "); k != 2 {
			t.Errorf("bad event %s logged %d times, want twice (plain and group, not redelivered)", b.id, k)
		}
	}
	if k := len(sink.all()); k != 2*len(notEnvelopes) {
		t.Errorf("%d payloads reported, want %d", k, 2*len(notEnvelopes))
	}
	for _, err := range sink.all() {
		if !errors.Is(err, ErrInvalidEnvelope) {
			t.Errorf("reported %v, want ErrInvalidEnvelope", err)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stopped = true
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := sb.Publish(t.Context(), topic, &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("the server's broker after Stop: Publish = %v, want ErrNotConnected", err)
	}
}
