package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// jsClient returns a JetStream client on url for inspecting streams and
// consumers.
func jsClient(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func consumerNames(t testing.TB, js jetstream.JetStream, stream string) []string {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	l := st.ConsumerNames(t.Context())
	var names []string
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// A subscriber that was away gets what was published meanwhile when it
// comes back with the same queue group (or durable name).
func TestJetStreamResume(t *testing.T) {
	tests := []struct {
		name  string
		opts  []broker.Option
		sopts []broker.SubscribeOption
		away  string // "unsubscribe" or "disconnect"
	}{
		{"queue group, unsubscribed", nil, []broker.SubscribeOption{broker.Queue("billing")}, "unsubscribe"},
		{"queue group, disconnected", nil, []broker.SubscribeOption{broker.Queue("billing")}, "disconnect"},
		{"durable, unsubscribed", []broker.Option{Durable("svc")}, nil, "unsubscribe"},
		{"durable, disconnected", []broker.Option{Durable("svc")}, nil, "disconnect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := embedded(t, 0, t.TempDir())
			opts := append([]broker.Option{broker.Addrs(srv.ClientURL()), JetStream("RESUME", "resume.>")}, tt.opts...)
			pub := connected(t, opts...)
			b := connected(t, opts...)
			const topic = "resume.orders"
			first := newInbox()
			sub := subscribe(t, b, topic, first.handle, tt.sopts...)
			publishIDs(t, pub, topic, ids("a", 5)...)
			first.waitFor(t, ids("a", 5)...)

			switch tt.away {
			case "unsubscribe":
				if err := sub.Unsubscribe(t.Context()); err != nil {
					t.Fatal(err)
				}
			case "disconnect":
				if err := b.Disconnect(t.Context()); err != nil {
					t.Fatal(err)
				}
				b = connected(t, opts...)
			}
			missed := ids("missed", 10)
			publishIDs(t, pub, topic, missed...)

			second := newInbox()
			subscribe(t, b, topic, second.handle, tt.sopts...)
			second.waitFor(t, missed...)
			publishIDs(t, pub, topic, "later")
			second.waitFor(t, "later")
			for id, n := range second.snapshot() {
				if n != 1 {
					t.Errorf("%s arrived %d times", id, n)
				}
				if id[0] == 'a' {
					t.Errorf("%s was acked before and came again", id)
				}
			}
			if n := first.count("missed0"); n != 0 {
				t.Errorf("the departed subscriber got %d messages", n)
			}
		})
	}
}

// A subscriber without queue group or durable name has a consumer of its
// own, deleted when it unsubscribes or its broker disconnects.
func TestJetStreamOwnConsumerDeleted(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	opts := []broker.Option{broker.Addrs(srv.ClientURL()), JetStream("OWN", "own.>")}
	b := connected(t, opts...)
	js := jsClient(t, srv.ClientURL())
	h := func(context.Context, broker.Event) error { return nil }

	sub := subscribe(t, b, "own.a", h)
	subscribe(t, b, "own.b", h)
	subscribe(t, b, "own.c", h, broker.Queue("g"))
	if n := len(consumerNames(t, js, "OWN")); n != 3 {
		t.Fatalf("%d consumers, want 3", n)
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(consumerNames(t, js, "OWN")); n != 2 {
		t.Errorf("%d consumers after Unsubscribe, want 2", n)
	}
	if err := b.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	names := consumerNames(t, js, "OWN")
	if len(names) != 1 || names[0] != consumerName("g", "own.c") {
		t.Errorf("consumers after Disconnect: %q, want only the queue group's", names)
	}
}

func TestJetStreamRedelivery(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	tests := []struct {
		name  string
		opts  []broker.Option
		sopts []broker.SubscribeOption
		// handle runs for each delivery n (from 1) of a message and
		// settles it as the test wants: the first two deliveries fail.
		handle func(e broker.Event, n int) error
	}{
		{"handler error", nil, nil, func(e broker.Event, n int) error {
			if n <= 2 {
				return errors.New("try again")
			}
			return nil
		}},
		{"handler panic", nil, nil, func(e broker.Event, n int) error {
			if n <= 2 {
				panic("boom")
			}
			return nil
		}},
		{"manual nack", nil, []broker.SubscribeOption{broker.DisableAutoAck()}, func(e broker.Event, n int) error {
			if n <= 2 {
				return e.Nack()
			}
			return e.Ack()
		}},
		{"manual, never acked, ack wait", []broker.Option{AckWait(time.Second)}, []broker.SubscribeOption{broker.DisableAutoAck()}, func(e broker.Event, n int) error {
			if n <= 2 {
				return nil // neither Ack nor Nack: redelivered after AckWait
			}
			return e.Ack()
		}},
		{"redelivery delay", []broker.Option{RedeliveryDelay(50 * time.Millisecond)}, []broker.SubscribeOption{broker.Queue("q")}, func(e broker.Event, n int) error {
			if n <= 2 {
				return errors.New("later")
			}
			return nil
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("REDELIVER%d", i)
			subj := fmt.Sprintf("rd%d.>", i)
			topic := fmt.Sprintf("rd%d.t", i)
			opts := append([]broker.Option{broker.Addrs(srv.ClientURL()), JetStream(stream, subj)}, tt.opts...)
			b := connected(t, opts...)
			in := newInbox()
			subscribe(t, b, topic, func(ctx context.Context, e broker.Event) error {
				_ = in.handle(ctx, e)
				return tt.handle(e, in.count(e.Message().Header["Id"]))
			}, tt.sopts...)
			want := ids("m", 3)
			publishIDs(t, b, topic, want...)
			testenv.WaitFor(t, "three deliveries of each message", func() bool { return in.has(3, want...) })

			// Once acked, nothing is pending any more.
			js := jsClient(t, srv.ClientURL())
			names := consumerNames(t, js, stream)
			if len(names) != 1 {
				t.Fatalf("consumers %q", names)
			}
			testenv.WaitFor(t, "no message pending", func() bool {
				c, err := js.Consumer(t.Context(), stream, names[0])
				if err != nil {
					t.Fatal(err)
				}
				info, err := c.Info(t.Context())
				return err == nil && info.NumAckPending == 0 && info.NumPending == 0
			})
			for id, n := range in.snapshot() {
				if n != 3 {
					t.Errorf("%s delivered %d times, want 3", id, n)
				}
			}
		})
	}
}

// After MaxDeliver deliveries JetStream gives a message up.
func TestJetStreamMaxDeliver(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := connected(t, broker.Addrs(srv.ClientURL()), JetStream("MAXD", "maxd.>"), MaxDeliver(2))
	in := newInbox()
	in.fail = func(id string, _ int) error {
		if id == "poison" {
			return errors.New("never")
		}
		return nil
	}
	subscribe(t, b, "maxd.t", in.handle, broker.Queue("g"))
	publishIDs(t, b, "maxd.t", "poison")
	testenv.WaitFor(t, "two deliveries", func() bool { return in.has(2, "poison") })
	js := jsClient(t, srv.ClientURL())
	c, err := js.Consumer(t.Context(), "MAXD", consumerName("g", "maxd.t"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the message to be given up", func() bool {
		info, err := c.Info(t.Context())
		return err == nil && info.NumAckPending == 0
	})
	// Messages after it still flow, and it did not come a third time.
	publishIDs(t, b, "maxd.t", "next")
	in.waitFor(t, "next")
	if n := in.count("poison"); n != 2 {
		t.Errorf("poison delivered %d times, want 2", n)
	}
}

// Members of a queue group share one durable consumer: each message goes
// to one of them, and when one leaves the others get the rest.
func TestJetStreamQueueMembers(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	opts := []broker.Option{broker.Addrs(srv.ClientURL()), JetStream("MEMBERS", "members.>")}
	pub := connected(t, opts...)
	b1, b2 := connected(t, opts...), connected(t, opts...)
	in := newInbox()
	s1 := subscribe(t, b1, "members.t", in.handle, broker.Queue("g"))
	subscribe(t, b2, "members.t", in.handle, broker.Queue("g"))
	publishIDs(t, pub, "members.t", ids("a", 50)...)
	in.waitFor(t, ids("a", 50)...)
	if err := s1.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	publishIDs(t, pub, "members.t", ids("b", 50)...)
	in.waitFor(t, ids("b", 50)...)
	for id, n := range in.snapshot() {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
}

func TestJetStreamTopicOutsideStream(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := connected(t, broker.Addrs(srv.ClientURL()), JetStream("INSIDE", "inside.>"))
	h := func(context.Context, broker.Event) error { return nil }
	for _, topic := range []string{"outside.t", "inside", "*.t", ">"} {
		if _, err := b.Subscribe(t.Context(), topic, h); !errors.Is(err, ErrNotInStream) {
			t.Errorf("Subscribe to %q outside the stream: %v, want ErrNotInStream", topic, err)
		}
	}
	for _, topic := range []string{"inside.t", "inside.*", "inside.>", "inside.a.b", "inside.*.>"} {
		sub, err := b.Subscribe(t.Context(), topic, h)
		if err != nil {
			t.Errorf("Subscribe to %q inside the stream: %v", topic, err)
			continue
		}
		if err := sub.Unsubscribe(t.Context()); err != nil {
			t.Error(err)
		}
	}
	// A subject added to the stream by someone else is found.
	js := jsClient(t, srv.ClientURL())
	if _, err := js.UpdateStream(t.Context(), jetstream.StreamConfig{Name: "INSIDE", Subjects: []string{"inside.>", "added"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(t.Context(), "added", h); err != nil {
		t.Errorf("Subscribe to a subject added later: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "outside.t", &broker.Message{}); !errors.Is(err, ErrNotInStream) {
		t.Errorf("Publish to a topic outside the stream: %v, want ErrNotInStream", err)
	}
}

func TestJetStreamExistingStream(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	js := jsClient(t, srv.ClientURL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "EXIST", Subjects: []string{"one.>"}, MaxMsgs: 1000}); err != nil {
		t.Fatal(err)
	}
	rec := &records{}
	// Binding without subjects uses the stream as it is; with new
	// subjects they are added and the rest of its settings kept.
	connected(t, broker.Addrs(srv.ClientURL()), JetStream("EXIST"), broker.Logger(slog.New(rec)))
	connected(t, broker.Addrs(srv.ClientURL()), JetStream("EXIST", "two.>"))
	st, err := js.Stream(t.Context(), "EXIST")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if len(cfg.Subjects) != 2 || cfg.Subjects[0] != "one.>" || cfg.Subjects[1] != "two.>" || cfg.MaxMsgs != 1000 {
		t.Errorf("stream config after Connect: subjects %q, max msgs %d", cfg.Subjects, cfg.MaxMsgs)
	}
}
