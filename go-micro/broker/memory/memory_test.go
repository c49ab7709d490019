package memory_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/brokertest"
	"github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	bus := memory.NewBus()
	brokertest.Run(t, func(t *testing.T) broker.Broker { return bus.NewBroker(quiet()) })
}

func TestRegisteredByName(t *testing.T) {
	b, err := broker.Open("memory")
	if err != nil {
		t.Fatalf("broker.Open(memory): %v", err)
	}
	if b.String() != "memory" {
		t.Errorf("String() = %q", b.String())
	}
}

// connect returns a connected broker on bus, disconnected at cleanup.
func connect(t *testing.T, bus *memory.Bus) broker.Broker {
	t.Helper()
	b := bus.NewBroker(quiet())
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Disconnect(ctx); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
	})
	return b
}

// quiet keeps the broker's expected warnings out of the test output.
func quiet() broker.Option { return broker.Logger(slog.New(slog.DiscardHandler)) }

func TestSeparateBusesAreIsolated(t *testing.T) {
	a, b := connect(t, memory.NewBus()), connect(t, memory.NewBus())
	var got atomic.Int64
	if _, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error {
		got.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A witness on a's bus shows a's message has been delivered there.
	seen := make(chan struct{}, 1)
	if _, err := a.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error {
		seen <- struct{}{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(t.Context(), "t", &broker.Message{}); err != nil {
		t.Fatal(err)
	}
	<-seen
	if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil { // fence on b's bus
		t.Fatal(err)
	}
	testenv.WaitFor(t, "b's own message", func() bool { return got.Load() >= 1 })
	if got.Load() != 1 {
		t.Errorf("subscriber on another bus got %d messages, want only its own bus's 1", got.Load())
	}
}

func TestNackRedelivers(t *testing.T) {
	tests := []struct {
		name  string
		opts  []broker.SubscribeOption
		nack  func(e broker.Event) error
		queue bool
	}{
		{"auto-ack error", nil, func(broker.Event) error { return errors.New("fail") }, false},
		{"auto-ack panic", nil, func(broker.Event) error { panic("boom") }, false},
		{"manual nack", []broker.SubscribeOption{broker.DisableAutoAck()}, func(e broker.Event) error { return e.Nack() }, false},
		{"queue group error", []broker.SubscribeOption{broker.Queue("g")}, func(broker.Event) error { return errors.New("fail") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := connect(t, memory.NewBus())
			var calls atomic.Int64
			done := make(chan struct{})
			_, err := b.Subscribe(t.Context(), "t", func(ctx context.Context, e broker.Event) error {
				if string(e.Message().Body) == "fence" {
					close(done)
					return nil
				}
				calls.Add(1)
				return tt.nack(e)
			}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "all deliveries", func() bool { return calls.Load() >= memory.MaxDeliveries })
			// Redeliveries go to the back of the queue: once the fence
			// has been handled, no redelivery is pending.
			if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte("fence")}); err != nil {
				t.Fatal(err)
			}
			<-done
			if got := calls.Load(); got != memory.MaxDeliveries {
				t.Errorf("delivered %d times, want %d", got, memory.MaxDeliveries)
			}
		})
	}
}

func TestNackThenAckIsSettledOnce(t *testing.T) {
	b := connect(t, memory.NewBus())
	var calls atomic.Int64
	fence := make(chan struct{})
	_, err := b.Subscribe(t.Context(), "t", func(ctx context.Context, e broker.Event) error {
		if string(e.Message().Body) == "fence" {
			close(fence)
			return nil
		}
		calls.Add(1)
		if err := e.Ack(); err != nil {
			t.Errorf("Ack: %v", err)
		}
		if err := e.Nack(); err != nil { // too late: already acked
			t.Errorf("Nack: %v", err)
		}
		return errors.New("ignored: auto-ack is off")
	}, broker.DisableAutoAck())
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"x", "fence"} {
		if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	<-fence
	if got := calls.Load(); got != 1 {
		t.Errorf("delivered %d times, want 1", got)
	}
}

func TestSlowSubscriberLosesNothing(t *testing.T) {
	b := connect(t, memory.NewBus())
	release := make(chan struct{})
	var mu sync.Mutex
	var got []int
	_, err := b.Subscribe(t.Context(), "t", func(ctx context.Context, e broker.Event) error {
		<-release
		n, _ := strconv.Atoi(string(e.Message().Body))
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n { // never blocks although the handler is stuck
		if err := b.Publish(t.Context(), "t", &broker.Message{Body: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	testenv.WaitFor(t, "every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= n })
	mu.Lock()
	defer mu.Unlock()
	for i, v := range got { // a plain subscriber sees publish order
		if v != i {
			t.Fatalf("message %d is %d: order lost", i, v)
		}
	}
}

func TestUnsubscribeFromInsideHandler(t *testing.T) {
	b := connect(t, memory.NewBus())
	var sub broker.Subscriber
	ready := make(chan struct{})
	done := make(chan error, 1)
	var calls atomic.Int64
	sub, err := b.Subscribe(t.Context(), "t", func(ctx context.Context, e broker.Event) error {
		<-ready
		calls.Add(1)
		done <- sub.Unsubscribe(ctx)
		if ctx.Err() == nil {
			t.Error("handler context still live after Unsubscribe")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	for range 3 {
		if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Unsubscribe from handler: %v", err)
	}
	// A second subscriber on the topic sees later messages; the first
	// never runs again (its queued messages were dropped).
	seen := make(chan struct{})
	var once sync.Once
	if _, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error {
		once.Do(func() { close(seen) })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
		t.Fatal(err)
	}
	<-seen
	if got := calls.Load(); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
}

func TestQueueGroupSpreadsAndSpansBrokers(t *testing.T) {
	bus := memory.NewBus()
	pub, b1, b2 := connect(t, bus), connect(t, bus), connect(t, bus)
	var c1, c2 atomic.Int64
	block := make(chan struct{})
	// Member 1 blocks on its first message, so member 2 must take the rest.
	if _, err := b1.Subscribe(t.Context(), "t", func(ctx context.Context, e broker.Event) error {
		c1.Add(1)
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error {
		c2.Add(1)
		return nil
	}, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	publish := func() {
		t.Helper()
		if err := pub.Publish(t.Context(), "t", &broker.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	// Publish until member 1 holds a message; member 2 handles the others.
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for c1.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("member 1 never got a message")
		}
		publish()
		sent++
		testenv.WaitFor(t, "the message to be taken", func() bool { return c1.Load()+c2.Load() >= int64(sent) })
	}
	const n = 100
	for range n {
		publish()
	}
	// With member 1 stuck, member 2 takes everything else.
	testenv.WaitFor(t, "member 2 to take the rest", func() bool { return c2.Load() >= int64(sent-1+n) })
	close(block)
	if c1.Load() != 1 || c2.Load() != int64(sent-1+n) {
		t.Errorf("member 1 got %d, member 2 got %d; want 1 and %d", c1.Load(), c2.Load(), sent-1+n)
	}
}

func TestDisconnectTimesOutOnStuckHandler(t *testing.T) {
	b := memory.New(quiet())
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	if _, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error {
		close(entered)
		<-release // ignores its context
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
		t.Fatal(err)
	}
	<-entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Disconnect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Disconnect with stuck handler and done ctx: %v, want context.Canceled", err)
	}
	close(release)
	// A later Disconnect waits for the same handlers, which now return.
	if err := b.Disconnect(t.Context()); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
}

func TestReconnect(t *testing.T) {
	b := memory.New(quiet())
	for i := range 2 {
		if err := b.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{})
		if _, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error {
			close(got)
			return nil
		}); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := b.Publish(t.Context(), "t", &broker.Message{}); err != nil {
			t.Fatal(err)
		}
		<-got
		if err := b.Disconnect(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadInput(t *testing.T) {
	b := connect(t, memory.NewBus())
	for _, tp := range []string{"", "a b", "a\nb", "\xff", "tab\t"} {
		if err := b.Publish(t.Context(), tp, &broker.Message{}); !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("Publish(%q): %v, want ErrInvalidTopic", tp, err)
		}
		if _, err := b.Subscribe(t.Context(), tp, func(context.Context, broker.Event) error { return nil }); !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("Subscribe(%q): %v, want ErrInvalidTopic", tp, err)
		}
	}
	if _, err := b.Subscribe(t.Context(), "t", nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}
	got := make(chan *broker.Message, 1)
	if _, err := b.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "t", nil); err != nil {
		t.Fatalf("Publish(nil message): %v", err)
	}
	if m := <-got; m == nil || len(m.Body) != 0 || len(m.Header) != 0 {
		t.Errorf("nil message delivered as %+v, want an empty message", m)
	}
}
