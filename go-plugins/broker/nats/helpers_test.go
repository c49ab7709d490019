package nats

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// probeKey marks the messages that tests publish to find out that a
// subscription is in effect; inboxes count them apart.
const probeKey = "Probe"

// inbox records what a handler receives, by the message's Id header.
type inbox struct {
	fail func(id string, delivery int) error // the handler's result; nil for success

	mu     sync.Mutex
	seen   map[string]int
	bodies map[string][]byte
	probes int
}

func newInbox() *inbox { return &inbox{seen: make(map[string]int), bodies: make(map[string][]byte)} }

func (in *inbox) handle(_ context.Context, e broker.Event) error {
	m := e.Message()
	in.mu.Lock()
	if _, ok := m.Header[probeKey]; ok {
		in.probes++
		in.mu.Unlock()
		return nil
	}
	id := m.Header["Id"]
	in.seen[id]++
	n := in.seen[id]
	in.bodies[id] = m.Body
	fail := in.fail
	in.mu.Unlock()
	if fail != nil {
		return fail(id, n)
	}
	return nil
}

func (in *inbox) count(id string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.seen[id]
}

func (in *inbox) probeCount() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.probes
}

// has reports whether every id arrived at least min times.
func (in *inbox) has(min int, ids ...string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, id := range ids {
		if in.seen[id] < min {
			return false
		}
	}
	return true
}

func (in *inbox) snapshot() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int, len(in.seen))
	for k, v := range in.seen {
		out[k] = v
	}
	return out
}

// waitFor waits until every id arrived.
func (in *inbox) waitFor(t testing.TB, ids ...string) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("messages %s", strings.Join(ids, ",")), func() bool { return in.has(1, ids...) })
}

// ids returns prefix0 .. prefix(n-1).
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// publishIDs publishes one message per id, with the id as header and body.
func publishIDs(t testing.TB, b broker.Broker, topic string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := b.Publish(t.Context(), topic, &broker.Message{Header: map[string]string{"Id": id}, Body: []byte("body " + id)}); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
}

// syncProbes publishes probes on topic through pub until every inbox has
// seen one: their subscriptions are then in effect.
func syncProbes(t testing.TB, pub broker.Broker, topic string, ins ...*inbox) {
	t.Helper()
	before := make([]int, len(ins))
	for i, in := range ins {
		before[i] = in.probeCount()
	}
	arrived := func() bool {
		for i, in := range ins {
			if in.probeCount() <= before[i] {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(testenv.Patience * 2)
	for !arrived() {
		if time.Now().After(deadline) {
			t.Fatalf("probes on %q never arrived", topic)
		}
		_ = pub.Publish(t.Context(), topic, &broker.Message{Header: map[string]string{probeKey: "1"}})
		wait := time.Now().Add(100 * time.Millisecond)
		for time.Now().Before(wait) && !arrived() {
			select {
			case <-time.After(time.Millisecond):
			case <-t.Context().Done():
				t.Fatal("test ended waiting for probes")
			}
		}
	}
}

// subscribe subscribes and fails the test on error.
func subscribe(t testing.TB, b broker.Broker, topic string, h broker.Handler, opts ...broker.SubscribeOption) broker.Subscriber {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, h, opts...)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	return sub
}

// records is a slog handler that keeps the messages logged.
type records struct {
	mu   sync.Mutex
	msgs []string
	n    atomic.Int64
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key != "stack" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	r.msgs = append(r.msgs, b.String())
	r.n.Add(1)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// logged reports whether a record containing s was logged.
func (r *records) logged(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}
