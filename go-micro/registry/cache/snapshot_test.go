package cache

import (
	"context"
	"errors"
	"testing"

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
