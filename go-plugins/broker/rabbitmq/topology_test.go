package rabbitmq

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/openmicro/go-micro/broker"
)

// TestWildcards: "*" and "#" in a subscribed topic match words of the
// routing key, and Event.Topic is the topic the message was published on.
func TestWildcards(t *testing.T) {
	e := setup(t)
	b := e.connected(t)
	var mu sync.Mutex
	got := map[string][]string{}
	for _, pattern := range []string{"orders.*", "orders.#", "*.created"} {
		if _, err := b.Subscribe(t.Context(), pattern, func(_ context.Context, ev broker.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got[pattern] = append(got[pattern], ev.Topic())
			return nil
		}); err != nil {
			t.Fatalf("Subscribe(%q): %v", pattern, err)
		}
	}
	for _, topic := range []string{"orders.created", "orders.eu.paid", "users.created", "orders"} {
		if err := b.Publish(t.Context(), topic, &broker.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{
		"orders.*":  {"orders.created"},
		"orders.#":  {"orders.created", "orders.eu.paid", "orders"},
		"*.created": {"orders.created", "users.created"},
	}
	waitFor(t, "every match", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for p, w := range want {
			if len(got[p]) < len(w) {
				return false
			}
		}
		return true
	})
	// Messages on one connection arrive in order; wait for one more on
	// every pattern so nothing unexpected is still on its way.
	if err := b.Publish(t.Context(), "orders.created", &broker.Message{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for p, w := range want {
			if len(got[p]) < len(w)+1 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for p, w := range want {
		g := got[p][:len(got[p])-1]
		if len(g) != len(w) {
			t.Errorf("%q got %q, want %q", p, g, w)
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%q got %q, want %q", p, g, w)
				break
			}
		}
	}
}

// TestGroupQueueOutlivesMembers: messages published while a queue group has
// no member wait in its durable queue for the next member, also one of
// another broker, and a broker may Connect again after Disconnect.
func TestGroupQueueOutlivesMembers(t *testing.T) {
	e := setup(t)
	first := e.connected(t)
	sub, err := first.Subscribe(t.Context(), "jobs", func(context.Context, broker.Event) error { return nil }, broker.Queue("workers"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		if err := first.Publish(t.Context(), "jobs", &broker.Message{Header: map[string]string{"Id": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := first.Connect(t.Context()); err != nil {
		t.Fatalf("Connect after Disconnect: %v", err)
	}
	got := newHandled()
	second := e.connected(t)
	for _, b := range []*testBroker{first, second} {
		if _, err := b.Subscribe(t.Context(), "jobs", func(_ context.Context, ev broker.Event) error {
			got.add(ev.Message().Header["Id"])
			return nil
		}, broker.Queue("workers")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the waiting messages", func() bool { return got.distinct() == n })
	if k := got.total.Load(); k != n {
		t.Errorf("%d handler calls for %d messages", k, n)
	}
}
