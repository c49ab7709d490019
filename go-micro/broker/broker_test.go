package broker_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/registry/memory"
)

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
	}{
		{"orders", true},
		{"go.micro.topic.orders", true},
		{"a/b:c-d_e*>", true},
		{"ünïcödé", true},
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"line\n", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"nbsp\u00a0", false},
		{"bad\xff", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.topic), func(t *testing.T) {
			err := broker.ValidateTopic(tt.topic)
			if tt.ok && err != nil {
				t.Fatalf("ValidateTopic: %v", err)
			}
			if !tt.ok && !errors.Is(err, broker.ErrInvalidTopic) {
				t.Fatalf("ValidateTopic: %v, want ErrInvalidTopic", err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "broker: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

type key struct{}

func TestOptions(t *testing.T) {
	o := broker.NewOptions()
	if o.Logger == nil || o.Registry != nil || o.TLS != nil || len(o.Addrs) != 0 || o.Value(key{}) != nil {
		t.Fatalf("defaults: %+v", o)
	}
	reg := memory.New()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	l := slog.New(slog.DiscardHandler)
	o = broker.NewOptions(
		broker.Addrs("127.0.0.1:1", "127.0.0.1:2"),
		broker.TLS(cfg),
		broker.Registry(reg),
		broker.Logger(l),
		func(o *broker.Options) { o.SetValue(key{}, 42) },
	)
	if !slices.Equal(o.Addrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) || o.TLS != cfg || o.Registry != reg || o.Logger != l {
		t.Fatalf("options not applied: %+v", o)
	}
	if v, _ := o.Value(key{}).(int); v != 42 {
		t.Fatalf("Value = %v", o.Value(key{}))
	}
	if o := broker.NewOptions(broker.Logger(nil)); o.Logger == nil {
		t.Fatal("Logger(nil) left no logger")
	}
}

func TestSubscribeOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  []broker.SubscribeOption
		queue string
		ack   bool
	}{
		{"defaults", nil, "", true},
		{"queue", []broker.SubscribeOption{broker.Queue("g")}, "g", true},
		{"manual ack", []broker.SubscribeOption{broker.DisableAutoAck()}, "", false},
		{"both", []broker.SubscribeOption{broker.DisableAutoAck(), broker.Queue("g")}, "g", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := broker.NewSubscribeOptions(tt.opts...)
			if o.Queue != tt.queue || o.AutoAck != tt.ack {
				t.Fatalf("got %+v", o)
			}
		})
	}
}

var errFactory = errors.New("factory failed")

type stub struct{ broker.Broker }

// registerStubs registers the test's names once per process (-count runs
// the test again; the name table outlives it).
var registerStubs = sync.OnceFunc(func() {
	broker.Register("brokertest-stub", func(...broker.Option) (broker.Broker, error) { return stub{}, nil })
	broker.Register("brokertest-failing", func(...broker.Option) (broker.Broker, error) { return nil, errFactory })
})

func TestNames(t *testing.T) {
	registerStubs()
	if !slices.Contains(broker.Names(), "brokertest-stub") || !slices.IsSorted(broker.Names()) {
		t.Fatalf("Names() = %v", broker.Names())
	}
	if b, err := broker.Open("brokertest-stub"); err != nil || b == nil {
		t.Fatalf("New(stub) = %v, %v", b, err)
	}
	if _, err := broker.Open("brokertest-failing"); !errors.Is(err, errFactory) || !strings.Contains(err.Error(), "brokertest-failing") {
		t.Fatalf("New(failing) = %v", err)
	}
	_, err := broker.Open("no-such-broker")
	if err == nil || !strings.Contains(err.Error(), "brokertest-stub") {
		t.Fatalf("New(unknown) = %v; want an error listing the registered names", err)
	}
	for _, bad := range []struct {
		name string
		f    broker.Factory
	}{{"", func(...broker.Option) (broker.Broker, error) { return nil, nil }}, {"brokertest-nil", nil}, {"brokertest-stub", func(...broker.Option) (broker.Broker, error) { return nil, nil }}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", bad.name)
				}
			}()
			broker.Register(bad.name, bad.f)
		}()
	}
}

func ExampleValidateTopic() {
	for _, topic := range []string{"orders.created", "no spaces"} {
		fmt.Println(topic, broker.ValidateTopic(topic) == nil)
	}
	// Output:
	// orders.created true
	// no spaces false
}
