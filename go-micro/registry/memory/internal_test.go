package memory

import (
	"context"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
)

func (r *memoryRegistry) counts() (services, watchers, timers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, versions := range r.services {
		for _, rec := range versions {
			services++
			for _, e := range rec.nodes {
				if e.timer != nil {
					timers++
				}
			}
		}
	}
	return services, len(r.watchers), timers
}

// TestReleases checks that Stop, the end of a watch context and Deregister
// release what they should: watchers leave the registry, timers and
// records go.
func TestReleases(t *testing.T) {
	r := New().(*memoryRegistry)
	ctx := t.Context()

	w1, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w2, err := r.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, n, _ := r.counts(); n != 2 {
		t.Fatalf("%d watchers, want 2", n)
	}
	w1.Stop()
	w1.Stop()
	if _, n, _ := r.counts(); n != 1 {
		t.Fatalf("%d watchers after Stop, want 1", n)
	}
	cancel()
	if _, err := w2.Next(); err != registry.ErrWatcherStopped {
		t.Fatalf("Next after cancel: %v", err)
	}
	// Stop runs to completion in the AfterFunc goroutine; poll for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, n, _ := r.counts(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("watcher still registered 10s after its context ended")
		}
		time.Sleep(time.Millisecond)
	}

	s := &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a"}, {Id: "b"}}}
	if err := r.Register(ctx, s, registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if svcs, _, timers := r.counts(); svcs != 1 || timers != 2 {
		t.Fatalf("after Register with TTL: %d services, %d timers; want 1, 2", svcs, timers)
	}
	if err := r.Register(ctx, &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, timers := r.counts(); timers != 1 {
		t.Fatalf("after re-registering a without TTL: %d timers, want 1", timers)
	}
	if err := r.Deregister(ctx, s); err != nil {
		t.Fatal(err)
	}
	if svcs, _, timers := r.counts(); svcs != 0 || timers != 0 || len(r.services) != 0 {
		t.Fatalf("after Deregister: %d services, %d timers, %d names; want none", svcs, timers, len(r.services))
	}
}

// TestStaleTimer drives expire by hand the way a timer that fired while its
// node was being re-registered or replaced would.
func TestStaleTimer(t *testing.T) {
	r := New().(*memoryRegistry)
	ctx := t.Context()
	s := &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a"}}}
	if err := r.Register(ctx, s, registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	old := r.services["s"][""].nodes["a"]
	oldGen := old.gen
	r.mu.Unlock()

	// Re-registered: the old generation must not expire it.
	if err := r.Register(ctx, s, registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.expire("s", "", "a", old, oldGen)
	if svcs, _, _ := r.counts(); svcs != 1 {
		t.Fatal("a stale generation expired a re-registered node")
	}

	// Deregistered and registered anew: a new entry, which the old timer
	// must not touch even with a matching generation number.
	if err := r.Deregister(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctx, s, registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	cur := r.services["s"][""].nodes["a"]
	r.mu.Unlock()
	r.expire("s", "", "a", old, cur.gen)
	if svcs, _, _ := r.counts(); svcs != 1 {
		t.Fatal("the timer of a removed entry expired its successor")
	}

	// The current generation does expire it.
	r.expire("s", "", "a", cur, cur.gen)
	if svcs, _, _ := r.counts(); svcs != 0 {
		t.Fatal("the current timer did not expire the node")
	}
}
