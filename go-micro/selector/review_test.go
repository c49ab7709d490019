package selector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

// flipping is a registry whose GetService answers its versions in reverse
// order on every other call, as a backend without a defined order may.
type flipping struct {
	registry.Registry
	calls atomic.Int64
}

func (f *flipping) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	ss, err := f.Registry.GetService(ctx, name, opts...)
	if f.calls.Add(1)%2 == 0 {
		slices.Reverse(ss)
		for _, s := range ss {
			slices.Reverse(s.Nodes)
		}
	}
	return ss, err
}

func newOver(t *testing.T, r registry.Registry, opts ...Option) Selector {
	t.Helper()
	s, err := New(append([]Option{Registry(r)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Selects that see different node sets (here through a filter) must not
// take each other's round-robin turns: alternating a filtered and an
// unfiltered Select used to start the filtered one on the same node every
// time.
func TestRoundRobinFairAcrossNodeSets(t *testing.T) {
	m := memory.New()
	register(t, m, &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{node("a"), node("b")}})
	register(t, m, &registry.Service{Name: "greeter", Version: "2", Nodes: []*registry.Node{node("c"), node("d")}})
	s := newOver(t, m, SetStrategy(RoundRobin))
	filtered := make(map[string]int)
	all := make(map[string]int)
	for range 20 {
		filtered[first(t, s, WithFilter(FilterVersion("1")))]++
		all[first(t, s)]++
	}
	if want := map[string]int{"a": 10, "b": 10}; !maps2Equal(filtered, want) {
		t.Fatalf("filtered Selects started at %v, want %v", filtered, want)
	}
	if want := map[string]int{"a": 5, "b": 5, "c": 5, "d": 5}; !maps2Equal(all, want) {
		t.Fatalf("unfiltered Selects started at %v, want %v", all, want)
	}
}

func maps2Equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// One node id under two versions (with two addresses): which one an
// unfiltered Select uses must not depend on the order the registry
// answers in, and a version filter must yield that version's node.
func TestDuplicateIDAcrossVersions(t *testing.T) {
	m := memory.New()
	v1 := &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{{Id: "x", Address: "127.0.0.1:9002"}, node("a")}}
	v2 := &registry.Service{Name: "greeter", Version: "2", Nodes: []*registry.Node{{Id: "x", Address: "127.0.0.1:9001"}}}
	register(t, m, v1)
	register(t, m, v2)
	s := newOver(t, &flipping{Registry: m}, NoCache(), SetStrategy(Hash))

	addrs := make(map[string]bool)
	got, err := drain(t, mustSelect(t, s, "greeter", WithKey("k")))
	if !errors.Is(err, ErrNoneAvailable) || len(got) != 2 {
		t.Fatalf("nodes %v, %v; want a and x once each", got, err)
	}
	for range 10 { // one registry call each, so that the order flips
		addrs[nodeByID(t, s, "x").Address] = true
	}
	if len(addrs) != 1 {
		t.Fatalf("node x answered at %v: the choice follows the registry's order", addrs)
	}
	for _, tc := range []struct{ version, addr string }{{"1", "127.0.0.1:9002"}, {"2", "127.0.0.1:9001"}} {
		for range 4 {
			n := nodeByID(t, s, "x", WithFilter(FilterVersion(tc.version)))
			if n.Address != tc.addr {
				t.Fatalf("version %s: node x at %s, want %s", tc.version, n.Address, tc.addr)
			}
		}
	}
}

// nodeByID drains a Select and returns the node with id.
func nodeByID(t *testing.T, s Selector, id string, opts ...SelectOption) *registry.Node {
	t.Helper()
	next := mustSelect(t, s, "greeter", opts...)
	for {
		n, err := next()
		if err != nil {
			t.Fatalf("no node %s: %v", id, err)
		}
		if n.Id == id {
			return n
		}
	}
}

// A key keeps its node when the registry answers in another order or a
// node comes back with other metadata or address.
func TestHashStableAcrossChanges(t *testing.T) {
	m := memory.New()
	ids := []string{"a", "b", "c", "d", "e"}
	svc := &registry.Service{Name: "greeter", Version: "1"}
	for _, id := range ids {
		svc.Nodes = append(svc.Nodes, node(id, "gen", "1"))
	}
	register(t, m, svc)
	s := newOver(t, &flipping{Registry: m}, NoCache(), SetStrategy(Hash))
	owner := make(map[string]string)
	for i := range 20 {
		key := fmt.Sprint("key-", i)
		owner[key] = first(t, s, WithKey(key))
		if again := first(t, s, WithKey(key)); again != owner[key] {
			t.Fatalf("%s went to %s, then to %s in the other order", key, owner[key], again)
		}
	}
	svc = registry.Copy(svc)
	for _, n := range svc.Nodes {
		n.Metadata["gen"] = "2"
		n.Address = "127.0.0.1:7" + n.Id
	}
	register(t, m, svc)
	for key, want := range owner {
		if got := first(t, s, WithKey(key)); got != want {
			t.Fatalf("after a metadata change %s went to %s, want %s", key, got, want)
		}
	}
}

// Select after Close fails with ErrClosed; a Next obtained before keeps
// working; Mark and Reset do not panic.
func TestSelectAfterClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"cached", nil}, {"uncached", []Option{NoCache()}}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSelector(t, []string{"a", "b"}, tc.opts...)
			next := mustSelect(t, s, "greeter")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Select(t.Context(), "greeter"); !errors.Is(err, ErrClosed) {
				t.Fatalf("Select after Close: %v, want ErrClosed", err)
			}
			if got, err := drain(t, next); len(got) != 2 || !errors.Is(err, ErrNoneAvailable) {
				t.Fatalf("Next from before Close: %v, %v", got, err)
			}
			s.Mark("greeter", node("a"), errors.New("failed"))
			s.Mark("greeter", node("a"), nil)
			s.Reset("greeter")
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

// Close racing Selects: each Select either works or fails with ErrClosed,
// and nothing is left running (TestMain checks for leaks).
func TestCloseRacesSelect(t *testing.T) {
	for range 20 {
		s, _ := newSelector(t, []string{"a", "b", "c"})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				<-start
				for range 20 {
					next, err := s.Select(t.Context(), "greeter")
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Select racing Close: %v", err)
						}
						return
					}
					if n, err := next(); err != nil {
						t.Errorf("Next: %v", err)
					} else {
						s.Mark("greeter", n, nil)
					}
				}
			})
		}
		close(start)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

func TestSelectCancelledContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"cached", nil}, {"uncached", []Option{NoCache()}}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSelector(t, []string{"a"}, tc.opts...)
			mustSelect(t, s, "greeter") // warm the cache
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			next, err := s.Select(ctx, "greeter")
			if !errors.Is(err, context.Canceled) || next != nil {
				t.Fatalf("Select with a cancelled context: %v", err)
			}
		})
	}
}

// A filter that returns nil leaves no node: ErrNoneAvailable, not
// ErrNotFound.
func TestFilterReturnsNil(t *testing.T) {
	s, _ := newSelector(t, []string{"a"})
	none := func([]*registry.Service) []*registry.Service { return nil }
	empty := func([]*registry.Service) []*registry.Service { return []*registry.Service{nil, {Name: "greeter"}} }
	for _, f := range []Filter{none, empty} {
		_, err := s.Select(t.Context(), "greeter", WithFilter(f))
		if !errors.Is(err, ErrNoneAvailable) || errors.Is(err, ErrNotFound) {
			t.Fatalf("Select: %v, want ErrNoneAvailable", err)
		}
	}
	// A filter may build nodes of its own: they are used as they are.
	made := func([]*registry.Service) []*registry.Service {
		return []*registry.Service{{Name: "greeter", Nodes: []*registry.Node{{Id: "z", Address: "127.0.0.1:1"}, {Id: "y"}}}}
	}
	got, _ := drain(t, mustSelect(t, s, "greeter", WithFilter(made)))
	if slices.Sort(got); !slices.Equal(got, []string{"y", "z"}) {
		t.Fatalf("nodes a filter made: %v", got)
	}
}

// Mark keys on the node id, whatever version the node came from; a Mark
// for an id the service does not have is ignored.
func TestMarkAcrossVersions(t *testing.T) {
	m := memory.New()
	register(t, m, &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{node("a")}})
	register(t, m, &registry.Service{Name: "greeter", Version: "2", Nodes: []*registry.Node{node("b")}})
	s := newOver(t, m, BlacklistThreshold(1))
	mustSelect(t, s, "greeter")
	s.Mark("greeter", &registry.Node{Id: "b"}, errors.New("failed"))
	if got, _ := drain(t, mustSelect(t, s, "greeter")); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after marking b: %v", got)
	}
	if _, err := s.Select(t.Context(), "greeter", WithFilter(FilterVersion("2"))); !errors.Is(err, ErrNoneAvailable) {
		t.Fatalf("version 2 after marking b: %v", err)
	}
	for i := range 100 {
		s.Mark("greeter", &registry.Node{Id: fmt.Sprint("ghost-", i)}, errors.New("failed"))
	}
	if n := s.(*registrySelector).state("greeter").records.Load(); n != 1 {
		t.Fatalf("%d failure records, want 1: marks of unknown ids kept", n)
	}
}

// Reset racing Mark and Select: no race, and once they stop a Reset
// clears everything.
func TestResetRacesMark(t *testing.T) {
	s, _ := newSelector(t, []string{"a", "b", "c"}, BlacklistThreshold(1))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				switch (g + i) % 4 {
				case 0:
					s.Reset("greeter")
				case 1:
					s.Mark("greeter", node([]string{"a", "b", "c"}[i%3]), errors.New("failed"))
				case 2:
					s.Mark("greeter", node([]string{"a", "b", "c"}[i%3]), nil)
				case 3:
					if next, err := s.Select(t.Context(), "greeter"); err == nil {
						_, _ = drain(t, next)
					} else if !errors.Is(err, ErrNoneAvailable) {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	s.Reset("greeter")
	if got, _ := drain(t, mustSelect(t, s, "greeter")); len(got) != 3 {
		t.Fatalf("after Reset: %v", got)
	}
}

// The node Next returns is the caller's: changing it changes neither the
// selector's view nor the cache.
func TestNextReturnsCopies(t *testing.T) {
	s, m := newSelector(t, nil)
	register(t, m, &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{node("a", "zone", "x")}})
	for range 3 {
		n, err := mustSelect(t, s, "greeter", WithFilter(FilterMetadata("zone", "x")))()
		if err != nil {
			t.Fatal(err)
		}
		if n.Id != "a" || n.Address != node("a").Address || n.Metadata["zone"] != "x" {
			t.Fatalf("node corrupted by an earlier caller: %+v", n)
		}
		n.Id, n.Address = "changed", "changed"
		n.Metadata["zone"] = "changed"
	}
}
