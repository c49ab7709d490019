package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/testenv"
)

// tally counts deliveries by message body.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func newTally() *tally { return &tally{n: make(map[string]int)} }

func (ta *tally) add(body string) int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.n[body]++
	return ta.n[body]
}

func (ta *tally) get(body string) int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.n[body]
}

func (ta *tally) distinct() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return len(ta.n)
}

func publish(t *testing.T, b broker.Broker, topic, body string) {
	t.Helper()
	if err := b.Publish(t.Context(), topic, &broker.Message{Body: []byte(body)}); err != nil {
		t.Fatalf("Publish(%s, %s): %v", topic, body, err)
	}
}

func TestDisconnectWhileHandlersRun(t *testing.T) {
	bus := memory.NewBus()
	pub := connect(t, bus)
	b := bus.NewBroker(quiet())
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	var (
		entered atomic.Int64
		calls   atomic.Int64
		ctxErrs = make(chan error, 16)
	)
	// Every handler blocks on its first message until its context ends.
	h := func(ctx context.Context, _ broker.Event) error {
		calls.Add(1)
		entered.Add(1)
		<-ctx.Done()
		ctxErrs <- ctx.Err()
		return nil
	}
	subs := []struct {
		topic string
		opts  []broker.SubscribeOption
	}{
		{"a", nil},
		{"a", nil},
		{"b", []broker.SubscribeOption{broker.Queue("g")}},
		{"b", []broker.SubscribeOption{broker.Queue("g")}},
		{"c", []broker.SubscribeOption{broker.DisableAutoAck()}},
	}
	for _, s := range subs {
		if _, err := b.Subscribe(t.Context(), s.topic, h, s.opts...); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		for _, tp := range []string{"a", "b", "c"} {
			publish(t, pub, tp, fmt.Sprint(i))
		}
	}
	testenv.WaitFor(t, "every handler running", func() bool { return entered.Load() == int64(len(subs)) })

	if err := b.Disconnect(t.Context()); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	// Disconnect returned only after every handler did, and none started
	// on the messages still queued.
	if got := calls.Load(); got != int64(len(subs)) {
		t.Errorf("%d handler calls, want %d (one each, the queued messages dropped)", got, len(subs))
	}
	for range subs {
		if err := testenv.Recv(t, "handler context error", ctxErrs); !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v", err)
		}
	}
	if err := b.Publish(t.Context(), "a", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Publish after Disconnect: %v", err)
	}
	if err := b.Disconnect(t.Context()); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
}

func TestNackRedeliveryCounts(t *testing.T) {
	tests := []struct {
		name  string
		nacks int // how many deliveries the handler nacks before it acks
		want  int // deliveries
		queue bool
		late  bool // nack after the handler has returned
	}{
		{"acked at once", 0, 1, false, false},
		{"one nack", 1, 2, false, false},
		{"nacked up to the limit", memory.MaxDeliveries - 1, memory.MaxDeliveries, false, false},
		{"always nacked", 100, memory.MaxDeliveries, false, false},
		{"group, one nack", 1, 2, true, false},
		{"group, always nacked", 100, memory.MaxDeliveries, true, false},
		{"late nacks", 2, 3, false, true},
		{"late nacks, group", 100, memory.MaxDeliveries, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := memory.NewBus()
			pub := connect(t, bus)
			ta := newTally()
			fence := make(chan struct{})
			var settled atomic.Int64
			var late sync.WaitGroup
			t.Cleanup(late.Wait)
			opts := []broker.SubscribeOption{broker.DisableAutoAck()}
			if tt.queue {
				opts = append(opts, broker.Queue("g"))
			}
			h := func(_ context.Context, e broker.Event) error {
				body := string(e.Message().Body)
				if body == "fence" {
					close(fence)
					return e.Ack()
				}
				n := ta.add(body)
				settle := func() {
					defer settled.Add(1)
					if n <= tt.nacks {
						_ = e.Nack()
						_ = e.Ack() // settled already: does nothing
					} else {
						_ = e.Ack()
						_ = e.Nack() // settled already: does nothing
					}
				}
				if tt.late {
					late.Go(settle)
				} else {
					settle()
				}
				return nil
			}
			members := 1
			if tt.queue {
				members = 3 // the redeliveries go to any member
			}
			for range members {
				if _, err := connect(t, bus).Subscribe(t.Context(), "t", h, opts...); err != nil {
					t.Fatal(err)
				}
			}
			publish(t, pub, "t", "m")
			testenv.WaitFor(t, "deliveries settled", func() bool { return settled.Load() >= int64(tt.want) })
			// A further redelivery, if one were due, is queued ahead of
			// the fence.
			publish(t, pub, "t", "fence")
			testenv.Wait(t, "fence", fence)
			if got := ta.get("m"); got != tt.want {
				t.Errorf("delivered %d times, want %d", got, tt.want)
			}
		})
	}
}

func TestQueueMembersLeaveMidStream(t *testing.T) {
	bus := memory.NewBus()
	pub := connect(t, bus)
	const n = 400
	ta := newTally()
	var entered atomic.Int64
	gate := make(chan struct{}) // holds the handlers until members left
	subs := make([]broker.Subscriber, 4)
	for i := range subs {
		b := connect(t, bus)
		s, err := b.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error {
			entered.Add(1)
			<-gate
			ta.add(string(e.Message().Body))
			return nil
		}, broker.Queue("g"))
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = s
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			if err := pub.Publish(context.Background(), "t", &broker.Message{Body: fmt.Append(nil, i)}); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
		}
	}()
	// Three of the four members leave while each holds a message, more
	// are queued and more still being published; their messages in hand
	// are handled and the last member must get all the rest.
	testenv.WaitFor(t, "every member holding a message", func() bool { return entered.Load() == int64(len(subs)) })
	for _, s := range subs[:3] {
		if err := s.Unsubscribe(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	testenv.Wait(t, "publisher", published)
	testenv.WaitFor(t, "every message handled", func() bool { return ta.distinct() >= n })
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for body, k := range ta.n {
		if k != 1 {
			t.Errorf("message %s handled %d times", body, k)
		}
	}
	if len(ta.n) != n {
		t.Errorf("%d distinct messages handled, want %d", len(ta.n), n)
	}
}

func TestPublishFromHandler(t *testing.T) {
	t.Run("ping pong", func(t *testing.T) {
		bus := memory.NewBus()
		a, b := connect(t, bus), connect(t, bus)
		const hops = 200
		done := make(chan int, 1)
		relay := func(self broker.Broker, next string) broker.Handler {
			return func(ctx context.Context, e broker.Event) error {
				var k int
				if _, err := fmt.Sscan(string(e.Message().Body), &k); err != nil {
					return err
				}
				if k == hops {
					done <- k
					return nil
				}
				return self.Publish(ctx, next, &broker.Message{Body: fmt.Append(nil, k+1)})
			}
		}
		if _, err := a.Subscribe(t.Context(), "ping", relay(a, "pong")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(t.Context(), "pong", relay(b, "ping"), broker.Queue("g")); err != nil {
			t.Fatal(err)
		}
		publish(t, a, "ping", "0")
		if k := testenv.Recv(t, "end of the chain", done); k != hops {
			t.Fatalf("chain ended at %d", k)
		}
	})
	t.Run("own topic until disconnect", func(t *testing.T) {
		// A handler that republishes to its own topic forever: Disconnect
		// still ends it, and its Publish then fails: not connected, or
		// context cancelled when Disconnect lands between Publish's
		// connected check and its check of the handler's context.
		b := memory.New(quiet())
		if err := b.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		var loops atomic.Int64
		lastErr := make(chan error, 1)
		if _, err := b.Subscribe(t.Context(), "loop", func(ctx context.Context, e broker.Event) error {
			loops.Add(1)
			// Two copies each time: the queue grows while Disconnect runs.
			for range 2 {
				if err := b.Publish(ctx, "loop", e.Message()); err != nil {
					select {
					case lastErr <- err:
					default:
					}
					return nil
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		publish(t, b, "loop", "x")
		testenv.WaitFor(t, "the loop to run", func() bool { return loops.Load() >= 100 })
		if err := b.Disconnect(t.Context()); err != nil {
			t.Fatalf("Disconnect: %v", err)
		}
		after := loops.Load()
		select {
		case err := <-lastErr:
			if !errors.Is(err, broker.ErrNotConnected) && !errors.Is(err, context.Canceled) {
				t.Errorf("Publish from a handler after Disconnect: %v", err)
			}
		default:
			// Disconnect won the race against every publish: also fine,
			// but then nothing may run after it.
		}
		if loops.Load() != after {
			t.Error("handler ran after Disconnect returned")
		}
	})
}
