package server_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openmicro/go-micro/broker"
	brmemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Event is the JSON event of the subscriber tests.
type Event struct {
	N int `json:"n"`
}

type delivery struct {
	n    int
	user string
}

// publisher returns a connected broker on bus for the test to publish with.
func publisher(t *testing.T, bus *brmemory.Bus) broker.Broker {
	t.Helper()
	b := bus.NewBroker()
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Disconnect(context.Background()) })
	return b
}

func publishJSON(t *testing.T, b broker.Broker, topic, body string, hdr map[string]string) {
	t.Helper()
	h := map[string]string{rpcwire.ContentType: "application/json", rpcwire.Topic: topic}
	for k, v := range hdr {
		h[k] = v
	}
	if err := b.Publish(t.Context(), topic, &broker.Message{Header: h, Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriberDelivery(t *testing.T) {
	bus := brmemory.NewBus()
	f := newFixture(t, server.Broker(bus.NewBroker()))
	got := make(chan delivery, 10)
	err := f.srv.Subscribe(f.srv.NewSubscriber("events", func(ctx context.Context, e *Event) error {
		user, _ := metadata.Get(ctx, "X-User")
		got <- delivery{e.N, user}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	s, err := f.reg.GetService(t.Context(), testService)
	if err != nil || s[0].Nodes[0].Metadata["broker"] != "memory" {
		t.Fatalf("broker metadata: %v %v", err, s)
	}
	pub := publisher(t, bus)
	publishJSON(t, pub, "events", `{"n":1}`, map[string]string{"x-user": "bob"})
	if d := testenv.Recv(t, "a delivery", got); d != (delivery{1, "bob"}) {
		t.Fatalf("got %+v", d)
	}

	// An event that cannot be decoded is logged and dropped, not
	// redelivered: the next event is the next delivery.
	publishJSON(t, pub, "events", `{"n":`, nil)
	publishJSON(t, pub, "events", `{"n":2}`, map[string]string{rpcwire.ContentType: "application/x-nope"})
	publishJSON(t, pub, "events", `{"n":3}`, nil)
	if d := testenv.Recv(t, "a delivery", got); d.n != 3 {
		t.Fatalf("got %+v, want event 3", d)
	}
	drops := f.log.records(slog.LevelWarn, "cannot be decoded")
	if len(drops) != 2 {
		t.Fatalf("%d drop warnings, want 2", len(drops))
	}
	if a := attrs(drops[1]); a["topic"] != "events" || !strings.Contains(a["error"], "application/x-nope") {
		t.Fatalf("drop warning attrs %v", a)
	}

	// Stop unsubscribes and disconnects.
	if err := f.srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	publishJSON(t, pub, "events", `{"n":4}`, nil)
	if err := f.srv.Options().Broker.Publish(t.Context(), "events", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Fatalf("the server's broker after Stop: %v, want ErrNotConnected", err)
	}
}

func TestSubscriberProto(t *testing.T) {
	bus := brmemory.NewBus()
	f := newFixture(t, server.Broker(bus.NewBroker()))
	got := make(chan string, 1)
	err := f.srv.Subscribe(f.srv.NewSubscriber("p", func(_ context.Context, v *wrapperspb.StringValue) error {
		got <- v.GetValue()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	body, _ := proto.Marshal(wrapperspb.String("hi"))
	err = publisher(t, bus).Publish(t.Context(), "p", &broker.Message{
		Header: map[string]string{rpcwire.ContentType: "application/protobuf"},
		Body:   body,
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := testenv.Recv(t, "a delivery", got); v != "hi" {
		t.Fatalf("got %q", v)
	}
}

func TestSubscriberNackRedelivers(t *testing.T) {
	bus := brmemory.NewBus()
	f := newFixture(t, server.Broker(bus.NewBroker()))
	got := make(chan int, 10)
	var mu sync.Mutex
	calls := 0
	err := f.srv.Subscribe(f.srv.NewSubscriber("retry", func(_ context.Context, e *Event) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		got <- calls
		if calls == 1 {
			return errors.New("not yet")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	publishJSON(t, publisher(t, bus), "retry", `{"n":1}`, nil)
	testenv.Recv(t, "the first delivery", got)
	if n := testenv.Recv(t, "the redelivery", got); n != 2 {
		t.Fatalf("call %d", n)
	}
}

func TestSubscriberPanicNacks(t *testing.T) {
	bus := brmemory.NewBus()
	f := newFixture(t, server.Broker(bus.NewBroker()))
	got := make(chan int, 10)
	var mu sync.Mutex
	calls := 0
	err := f.srv.Subscribe(f.srv.NewSubscriber("panic", func(_ context.Context, e *Event) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		got <- n
		if n == 1 {
			panic("subscriber boom")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	publishJSON(t, publisher(t, bus), "panic", `{"n":1}`, nil)
	testenv.Recv(t, "the first delivery", got)
	if n := testenv.Recv(t, "the redelivery", got); n != 2 {
		t.Fatalf("call %d", n)
	}
	if recs := f.log.records(slog.LevelError, "subscriber panicked"); len(recs) != 1 || !strings.Contains(attrs(recs[0])["stack"], "subscriber_test.go") {
		t.Fatalf("panic records %v", recs)
	}
}

func TestSubscriberQueueGroups(t *testing.T) {
	const events = 40
	bus := brmemory.NewBus()
	type hit struct {
		who string
		n   int
	}
	hits := make(chan hit, 4*events)
	sub := func(who string) func(context.Context, *Event) error {
		return func(_ context.Context, e *Event) error {
			hits <- hit{who, e.N}
			return nil
		}
	}
	// Two servers share queue group "workers"; the first also has a plain
	// subscriber.
	a := newFixture(t, server.Broker(bus.NewBroker()), server.Address("a:1"))
	b := newFixture(t, server.Broker(bus.NewBroker()), server.Address("b:1"))
	for _, s := range []struct {
		f    *fixture
		who  string
		opts []server.SubscriberOption
	}{
		{a, "a-worker", []server.SubscriberOption{server.Queue("workers")}},
		{b, "b-worker", []server.SubscriberOption{server.Queue("workers")}},
		{a, "a-plain", nil},
	} {
		if err := s.f.srv.Subscribe(s.f.srv.NewSubscriber("jobs", sub(s.who), s.opts...)); err != nil {
			t.Fatal(err)
		}
	}
	a.start()
	b.start()
	pub := publisher(t, bus)
	for i := range events {
		publishJSON(t, pub, "jobs", `{"n":`+string(rune('0'+i%10))+`}`, nil)
	}
	counts := map[string]int{}
	for range 2 * events {
		h := testenv.Recv(t, "a delivery", hits)
		counts[h.who]++
	}
	if counts["a-plain"] != events || counts["a-worker"]+counts["b-worker"] != events {
		t.Fatalf("deliveries %v: want %d to the plain subscriber and %d to the group", counts, events, events)
	}
}

func TestNewSubscriberErrors(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		fn    any
		opts  []server.SubscriberOption
		want  string
	}{
		{"nil", "t", nil, nil, "nil function"},
		{"not a function", "t", 3, nil, "int is not a function"},
		{"one argument", "t", func(context.Context) error { return nil }, nil, "takes 1 arguments"},
		{"first not context", "t", func(string, *Event) error { return nil }, nil, "the first argument must be context.Context, not string"},
		{"second not pointer", "t", func(context.Context, Event) error { return nil }, nil, "the second argument must be a pointer, not server_test.Event"},
		{"no return", "t", func(context.Context, *Event) {}, nil, "must return error, not nothing"},
		{"wrong return", "t", func(context.Context, *Event) bool { return true }, nil, "must return error, not bool"},
		{"variadic", "t", func(context.Context, ...*Event) error { return nil }, nil, "variadic"},
		{"nil func value", "t", (func(context.Context, *Event) error)(nil), nil, "nil function"},
		{"empty topic", "", func(context.Context, *Event) error { return nil }, nil, "invalid topic"},
		{"topic with a space", "a b", func(context.Context, *Event) error { return nil }, nil, "invalid topic"},
		{"queue with a space", "t", func(context.Context, *Event) error { return nil }, []server.SubscriberOption{server.Queue("a b")}, "queue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := server.NewSubscriber(tt.topic, tt.fn, tt.opts...)
			err := s.Err()
			if !errors.Is(err, server.ErrInvalidSubscriber) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Err() = %v, want ErrInvalidSubscriber saying %q", err, tt.want)
			}
			if strings.HasPrefix(tt.want, "invalid topic") && !errors.Is(err, broker.ErrInvalidTopic) {
				t.Fatalf("%v does not wrap broker.ErrInvalidTopic", err)
			}
			f := newFixture(t)
			if got := f.srv.Subscribe(s); got != err {
				t.Fatalf("Subscribe returned %v", got)
			}
		})
	}
	s := server.NewSubscriber("topic", func(context.Context, *Event) error { return nil }, server.Queue("q"))
	if s.Err() != nil || s.Topic() != "topic" || s.Queue() != "q" || s.Subscriber() == nil {
		t.Fatalf("valid subscriber: %v %q %q", s.Err(), s.Topic(), s.Queue())
	}
}

// rejectBroker hands out events that can be rejected, and counts the
// rejections.
type rejectBroker struct {
	broker.Broker
	rejected atomic.Int32
}

type rejectEvent struct {
	broker.Event
	b *rejectBroker
}

func (e *rejectEvent) Reject() error { e.b.rejected.Add(1); return nil }

func (b *rejectBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	return b.Broker.Subscribe(ctx, topic, func(ctx context.Context, e broker.Event) error {
		return h(ctx, &rejectEvent{Event: e, b: b})
	}, opts...)
}

// With a broker whose events have Reject, an event that cannot be decoded
// is rejected (dead-lettered where the broker can), not acked.
func TestSubscriberRejectsUndecodable(t *testing.T) {
	bus := brmemory.NewBus()
	rb := &rejectBroker{Broker: bus.NewBroker()}
	f := newFixture(t, server.Broker(rb))
	got := make(chan int, 10)
	err := f.srv.Subscribe(f.srv.NewSubscriber("events", func(ctx context.Context, e *Event) error {
		got <- e.N
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	pub := publisher(t, bus)
	publishJSON(t, pub, "events", `{"n":`, nil)
	publishJSON(t, pub, "events", `{"n":1}`, nil)
	if n := testenv.Recv(t, "a delivery", got); n != 1 {
		t.Fatalf("got event %d, want 1", n)
	}
	if n := rb.rejected.Load(); n != 1 {
		t.Errorf("%d events rejected, want 1", n)
	}
	if len(f.log.records(slog.LevelWarn, "rejecting an event that cannot be decoded")) != 1 {
		t.Error("no warning for the rejected event")
	}
}
