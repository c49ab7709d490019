package cache

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

func TestSnapshot(t *testing.T) {
	m := memory.New()
	c := newCache(t, m)
	register(t, m, svc("greeter", "a", "b"))

	ss1, gen1, err := c.Snapshot(t.Context(), "greeter")
	if err != nil || gen1 == 0 || len(ss1) != 1 {
		t.Fatalf("first Snapshot = %v, gen %d, %v", ss1, gen1, err)
	}
	ss2, gen2, err := c.Snapshot(t.Context(), "greeter")
	if err != nil || gen2 != gen1 || &ss2[0] != &ss1[0] || ss2[0] != ss1[0] {
		t.Fatalf("second Snapshot: gen %d (want %d), same slice %v, err %v", gen2, gen1, &ss2[0] == &ss1[0], err)
	}
	// GetService still copies: changing its answer leaves the snapshot alone.
	got, err := c.GetService(t.Context(), "greeter")
	if err != nil {
		t.Fatal(err)
	}
	got[0].Nodes[0].Address = "changed"
	got[0].Nodes[0].Metadata["id"] = "changed"
	if n := ss1[0].Nodes[0]; n.Address != "127.0.0.1:9000" || n.Metadata["id"] != "a" {
		t.Fatalf("GetService shares the stored snapshot: %+v", n)
	}

	// A change gives a new, larger generation and a new slice; the old
	// snapshot is not modified.
	register(t, c, svc("greeter", "c"))
	ss3, gen3, err := c.Snapshot(t.Context(), "greeter")
	if err != nil || gen3 <= gen1 {
		t.Fatalf("after Register: gen %d (before %d), %v", gen3, gen1, err)
	}
	if got := ids(ss3); len(got) != 3 {
		t.Fatalf("after Register: nodes %v", got)
	}
	if got := ids(ss1); len(got) != 2 {
		t.Fatalf("the old snapshot changed: %v", got)
	}

	// Not found is an answer too, with its generation.
	_, gen, err := c.Snapshot(t.Context(), "nobody")
	if !errors.Is(err, registry.ErrNotFound) || gen == 0 {
		t.Fatalf("Snapshot(nobody) = gen %d, %v", gen, err)
	}

	// A cancelled context: the error and generation 0.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, gen, err := c.Snapshot(ctx, "greeter"); !errors.Is(err, context.Canceled) || gen != 0 {
		t.Fatalf("Snapshot with a cancelled ctx = gen %d, %v", gen, err)
	}

	// After Close the registry answers, and the answer is the caller's.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ss, gen, err := c.Snapshot(t.Context(), "greeter")
	if err != nil || gen != 0 || len(ids(ss)) != 3 {
		t.Fatalf("Snapshot after Close = %v, gen %d, %v", ids(ss), gen, err)
	}

	if _, gen, err := New(nil).Snapshot(t.Context(), "x"); !errors.Is(err, ErrNoRegistry) || gen != 0 {
		t.Fatalf("Snapshot over nil registry = gen %d, %v", gen, err)
	}
}

// TestSnapshotReadGrain checks that the reads Snapshot records without its
// lock, at most once per grain, still keep an entry from eviction for the
// whole idle time after its last read, and that it goes soon after.
func TestSnapshotReadGrain(t *testing.T) {
	m := memory.New()
	clk := newClock()
	c := newCache(t, m, withClock(clk.Now), TTL(24*time.Hour), Idle(8*time.Second))
	if c.grain != time.Second {
		t.Fatalf("grain = %v, want 1s", c.grain)
	}
	register(t, m, svc("a", "1"))
	read := func() {
		t.Helper()
		if _, gen, err := c.Snapshot(t.Context(), "a"); err != nil || gen == 0 {
			t.Fatalf("Snapshot(a) = gen %d, %v", gen, err)
		}
	}
	steps := []struct {
		advance time.Duration
		read    bool
		want    []string // entries after a sweep
	}{
		{0, true, []string{"a"}},                        // fetched, read at 0s
		{4 * time.Second, true, []string{"a"}},          // recorded: 4s
		{500 * time.Millisecond, true, []string{"a"}},   // within the grain: not recorded
		{7900 * time.Millisecond, false, []string{"a"}}, // 12.4s: 7.9s after the last read
		{200 * time.Millisecond, false, []string{"a"}},  // 12.6s: late by less than the grain
		{500 * time.Millisecond, false, nil},            // 13.1s: gone
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.read {
			read()
		}
		c.sweep()
		if got := entryNames(c); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: entries %v, want %v", i, got, s.want)
		}
	}
}
