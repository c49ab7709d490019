package nats

import (
	"context"
	"errors"
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

// order is the event of the end-to-end tests.
type order struct {
	N int `json:"n"`
}

// poison is the order number the subscriber always fails on.
const poison = 13

// orders records the orders a go-micro subscriber function got.
type orders struct {
	mu sync.Mutex
	n  map[int]int
}

func (o *orders) handle(_ context.Context, e *order) error {
	o.mu.Lock()
	o.n[e.N]++
	o.mu.Unlock()
	if e.N == poison {
		return errors.New("cannot process order 13")
	}
	return nil
}

func (o *orders) count(n int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[n]
}

func (o *orders) has(ns ...int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range ns {
		if o.n[n] == 0 {
			return false
		}
	}
	return true
}

// count reports how many records contain s.
func (r *records) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// A go-micro server subscribes through this broker a function that takes
// *order. Events whose body does not decode into an order are logged and
// rejected by the server (with JetStream terminated, so never redelivered;
// in core NATS there is nothing to settle), the function's
// error is logged and, with JetStream, nacked and redelivered up to
// MaxDeliver; the subscription goes on delivering the valid events that
// follow, and the server stops cleanly.
func TestServerSubscriberEndToEnd(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			srv := embedded(t, 0, t.TempDir())
			const topic = "shop.orders"
			opts := []broker.Option{broker.Addrs(srv.ClientURL())}
			if mode == "jetstream" {
				opts = append(opts, JetStream("SHOP", "shop.>"), MaxDeliver(3))
			}
			brokerLog, serverLog := &records{}, &records{}
			subBroker := newTest(t, append(opts, broker.Logger(slog.New(brokerLog)))...)
			tr, err := trmemory.NewTransport()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tr.Close() })
			s, err := server.New(
				server.Name("shop"),
				server.Registry(regmemory.New()),
				server.Transport(tr),
				server.Broker(subBroker),
				server.Logger(slog.New(serverLog)),
			)
			if err != nil {
				t.Fatal(err)
			}
			got := &orders{n: make(map[int]int)}
			if err := s.Subscribe(s.NewSubscriber(topic, got.handle, server.Queue("billing"))); err != nil {
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

			pubBroker := connected(t, opts...)
			c, err := client.New(client.Transport(tr), client.Broker(pubBroker), client.ContentType("application/json"))
			if err != nil {
				t.Fatal(err)
			}
			publish := func(n int) {
				t.Helper()
				if err := c.Publish(t.Context(), c.NewMessage(topic, &order{N: n})); err != nil {
					t.Fatalf("Publish order %d: %v", n, err)
				}
			}
			// In core mode, what is published before the server's
			// subscription is in effect is lost: wait until an order
			// gets through.
			testenv.WaitFor(t, "the subscription to be in effect", func() bool {
				publish(0)
				return got.has(0)
			})

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
				if err := pubBroker.Publish(t.Context(), topic, &broker.Message{Header: h, Body: []byte(b.body)}); err != nil {
					t.Fatalf("Publish %s: %v", b.id, err)
				}
			}
			publish(poison)
			for n := 1; n <= 5; n++ {
				publish(n)
			}
			testenv.WaitFor(t, "the valid orders after the bad events", func() bool { return got.has(1, 2, 3, 4, 5) })
			for _, b := range bad {
				testenv.WaitFor(t, "the server to log "+b.id, func() bool {
					return serverLog.logged("server: rejecting an event that cannot be decoded") && serverLog.logged("id="+b.id)
				})
			}

			if mode == "core" {
				if n := got.count(poison); n != 1 {
					t.Errorf("order 13 delivered %d times; core NATS does not redeliver", n)
				}
				if !brokerLog.logged("handler failed; core NATS does not redeliver") {
					t.Error("the failing subscriber was not logged")
				}
			} else {
				testenv.WaitFor(t, "order 13 to be given up", func() bool {
					return brokerLog.logged("handler failed on the last delivery; message given up")
				})
				js := jsClient(t, srv.ClientURL())
				cons, err := js.Consumer(t.Context(), "SHOP", consumerName("billing", topic))
				if err != nil {
					t.Fatal(err)
				}
				testenv.WaitFor(t, "nothing left pending", func() bool {
					info, err := cons.Info(t.Context())
					return err == nil && info.NumAckPending == 0 && info.NumPending == 0
				})
				if n := got.count(poison); n != 3 {
					t.Errorf("order 13 delivered %d times, want MaxDeliver = 3", n)
				}
				if n := brokerLog.count("nacked for redelivery"); n != 2 {
					t.Errorf("%d nacks for redelivery logged, want 2", n)
				}
			}
			// The bad events were dropped once each, not redelivered.
			for _, b := range bad {
				if n := serverLog.count("id=" + b.id); n != 1 {
					t.Errorf("event %s logged %d times, want once", b.id, n)
				}
			}
			// The subscription still delivers.
			publish(6)
			testenv.WaitFor(t, "an order after the failures", func() bool { return got.has(6) })
			for n := 1; n <= 6; n++ {
				if c := got.count(n); c != 1 {
					t.Errorf("order %d delivered %d times", n, c)
				}
			}

			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			stopped = true
			if err := s.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := subBroker.Publish(t.Context(), topic, &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
				t.Errorf("the server's broker after Stop: Publish = %v, want ErrNotConnected", err)
			}
		})
	}
}
