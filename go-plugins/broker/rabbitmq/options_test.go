package rabbitmq

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

func TestNewOptions(t *testing.T) {
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		name string
		opts []broker.Option
		ok   bool
	}{
		{"defaults", nil, true},
		{"all set", []broker.Option{
			broker.Addrs("amqp://u:p@h1:5672/vh", "h2:5673"),
			Exchange("events"), Prefetch(0), Concurrency(8), PublisherConfirms(), Mandatory(),
			Transient(), MaxRedeliveries(-1), DeadLetterExchange("dlx"),
			QueueArguments(amqp.Table{"x-queue-type": "quorum"}), ConnectionName("svc"),
			ReconnectBackoff(time.Millisecond, time.Second),
		}, true},
		{"bad scheme", []broker.Option{broker.Addrs("http://host:5672")}, false},
		{"bad port", []broker.Option{broker.Addrs("amqp://u:p@host:port/")}, false},
		{"white space", []broker.Option{broker.Addrs("amqp://host /")}, false},
		{"empty exchange", []broker.Option{Exchange("")}, false},
		{"long exchange", []broker.Option{Exchange(long)}, false},
		{"invalid utf-8 exchange", []broker.Option{Exchange("\xff")}, false},
		{"negative prefetch", []broker.Option{Prefetch(-1)}, false},
		{"huge prefetch", []broker.Option{Prefetch(1 << 16)}, false},
		{"zero concurrency", []broker.Option{Concurrency(0)}, false},
		{"long dead-letter exchange", []broker.Option{DeadLetterExchange(long)}, false},
		{"unsupported queue argument", []broker.Option{QueueArguments(amqp.Table{"x": struct{}{}})}, false},
		{"long queue argument name", []broker.Option{QueueArguments(amqp.Table{long: 1})}, false},
		{"zero backoff", []broker.Option{ReconnectBackoff(0, time.Second)}, false},
		{"backoff upside down", []broker.Option{ReconnectBackoff(time.Second, time.Millisecond)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.opts...)
			if tc.ok != (err == nil) {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errOption) {
				t.Errorf("error %v does not wrap errOption", err)
			}
			if b != nil && b.String() != "rabbitmq" {
				t.Errorf("String() = %q", b.String())
			}
		})
	}
}

func TestSettings(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	c := b.(*rabbitBroker).cfg
	if c.exchange != DefaultExchange || c.prefetch != DefaultPrefetch || c.concurrency != DefaultConcurrency ||
		c.maxRedeliveries != DefaultMaxRedeliveries || c.confirms || c.transient || c.deadLetter != "" ||
		c.urls[0] != DefaultAddr || !strings.HasPrefix(c.connName, "go-micro broker ") {
		t.Errorf("defaults: %+v", c)
	}
	if got := b.Address(); got != "amqp://guest:xxxxx@127.0.0.1:5672/" {
		t.Errorf("Address() = %q", got)
	}
	b, err = New(Mandatory())
	if err != nil {
		t.Fatal(err)
	}
	if c := b.(*rabbitBroker).cfg; !c.confirms || !c.mandatory {
		t.Errorf("Mandatory does not imply confirms: %+v", c)
	}
	// The secret never shows in an error.
	_, err = New(broker.Addrs("amqp://user:s3cret@host:port/"))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error for a bad address: %v", err)
	}
}

func TestOpenByName(t *testing.T) {
	b, err := broker.Open("rabbitmq", broker.Addrs("127.0.0.1:5672"))
	if err != nil {
		t.Fatalf("broker.Open: %v", err)
	}
	if _, ok := b.(*rabbitBroker); !ok {
		t.Fatalf("broker.Open returned %T", b)
	}
	if _, err := broker.Open("rabbitmq", Exchange("")); err == nil {
		t.Error("broker.Open with a bad option succeeded")
	}
}

func TestBackoff(t *testing.T) {
	b, err := New(ReconnectBackoff(100*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rb := b.(*rabbitBroker)
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			d := rb.backoff(n)
			if d < want*8/10 || d > min(want*12/10, time.Second) {
				t.Errorf("backoff(%d) = %v, want about %v", n, d, want)
			}
		}
	}
	if d := rb.backoff(1 << 30); d > time.Second {
		t.Errorf("backoff of a huge attempt = %v", d)
	}
}

// TestMandatory: with Mandatory a message no queue takes fails with
// ErrUnroutable, and one that a queue takes does not.
func TestMandatory(t *testing.T) {
	e := setup(t)
	b := e.connected(t, Mandatory())
	err := b.Publish(t.Context(), "nobody.listens", &broker.Message{})
	if !errors.Is(err, ErrUnroutable) {
		t.Errorf("Publish without subscribers: %v, want ErrUnroutable", err)
	}
	got := make(chan struct{}, 1)
	if _, err := b.Subscribe(t.Context(), "somebody.listens", func(context.Context, broker.Event) error {
		select {
		case got <- struct{}{}:
		default:
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "somebody.listens", &broker.Message{}); err != nil {
		t.Errorf("Publish with a subscriber: %v", err)
	}
	testenv.Recv(t, "message", got)
	// Many at once: each gets its own answer.
	errs := make(chan error, 200)
	for i := range 200 {
		topic := "somebody.listens"
		if i%2 == 0 {
			topic = "nobody.listens"
		}
		go func() {
			err := b.Publish(t.Context(), topic, &broker.Message{})
			if (topic == "nobody.listens") != errors.Is(err, ErrUnroutable) {
				errs <- errors.New(topic + ": " + errString(err))
				return
			}
			errs <- nil
		}()
	}
	for range 200 {
		if err := testenv.Recv(t, "Publish", errs); err != nil {
			t.Error(err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestServerExchange: the server's own exchanges are used, not declared.
func TestServerExchange(t *testing.T) {
	e := setup(t)
	b := e.connected(t, Exchange("amq.topic"))
	topic := unique(t, "amq-topic")
	got := make(chan string, 1)
	if _, err := b.Subscribe(t.Context(), topic, func(_ context.Context, ev broker.Event) error {
		got <- string(ev.Message().Body)
		return nil
	}, broker.Queue("g")); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Publish(t.Context(), topic, &broker.Message{Body: []byte("hi")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if s := testenv.Recv(t, "message", got); s != "hi" {
		t.Errorf("got %q", s)
	}
}

// TestDisconnectBound: Disconnect with a ctx that ends before a stuck
// handler returns reports it, and a later Disconnect waits for the rest.
func TestDisconnectBound(t *testing.T) {
	e := setup(t)
	b := e.connected(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	if _, err := b.Subscribe(t.Context(), "stuck", func(context.Context, broker.Event) error {
		close(entered)
		<-release // ignores its ctx
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "stuck", &broker.Message{}); err != nil {
		t.Fatal(err)
	}
	testenv.Wait(t, "handler", entered)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Disconnect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Disconnect with a stuck handler: %v, want context.Canceled", err)
	}
	close(release)
	if err := b.Disconnect(t.Context()); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
}

// TestUnsubscribeFromHandler: a handler may unsubscribe its own
// subscription.
func TestUnsubscribeFromHandler(t *testing.T) {
	e := setup(t)
	b := e.connected(t)
	var sub broker.Subscriber
	subscribed := make(chan struct{})
	done := make(chan error, 1)
	sub, err := b.Subscribe(t.Context(), "self", func(ctx context.Context, _ broker.Event) error {
		<-subscribed
		done <- sub.Unsubscribe(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	close(subscribed)
	if err := b.Publish(t.Context(), "self", &broker.Message{}); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Recv(t, "Unsubscribe from the handler", done); err != nil {
		t.Errorf("Unsubscribe from the handler: %v", err)
	}
}
