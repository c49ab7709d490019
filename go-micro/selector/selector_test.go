package selector

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/cache"
	"github.com/openmicro/go-micro/registry/memory"
)

// counting wraps a registry, counts GetService calls and can fail them.
type counting struct {
	registry.Registry
	gets atomic.Int64
	fail atomic.Bool
}

var errDown = errors.New("test: registry down")

func (c *counting) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	c.gets.Add(1)
	if c.fail.Load() {
		return nil, errDown
	}
	return c.Registry.GetService(ctx, name, opts...)
}

// clock is a settable time source for blacklist tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func withClock(c *clock) Option { return func(o *Options) { o.now = c.Now } }

func node(id string, md ...string) *registry.Node {
	n := &registry.Node{Id: id, Address: "127.0.0.1:" + fmt.Sprint(8000+len(id)), Metadata: map[string]string{}}
	for i := 0; i+1 < len(md); i += 2 {
		n.Metadata[md[i]] = md[i+1]
	}
	return n
}

func register(t *testing.T, r registry.Registry, s *registry.Service) {
	t.Helper()
	if err := r.Register(t.Context(), s); err != nil {
		t.Fatalf("Register(%s): %v", s.Name, err)
	}
}

// newSelector returns a selector over a fresh memory registry holding
// service "greeter" version "1" with the given node ids.
func newSelector(t *testing.T, ids []string, opts ...Option) (Selector, registry.Registry) {
	t.Helper()
	m := memory.New()
	if len(ids) > 0 {
		s := &registry.Service{Name: "greeter", Version: "1"}
		for _, id := range ids {
			s.Nodes = append(s.Nodes, node(id))
		}
		register(t, m, s)
	}
	sel, err := New(append([]Option{Registry(m)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })
	return sel, m
}

// drain calls next until it fails and returns the ids it gave and the
// error it ended with.
func drain(t *testing.T, next Next) ([]string, error) {
	t.Helper()
	var got []string
	for range 1000 {
		n, err := next()
		if err != nil {
			return got, err
		}
		got = append(got, n.Id)
	}
	t.Fatal("Next never ran out")
	return nil, nil
}

// eventually polls check until it returns nil or 10s pass.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		}
	}
}

func mustSelect(t *testing.T, s Selector, service string, opts ...SelectOption) Next {
	t.Helper()
	next, err := s.Select(t.Context(), service, opts...)
	if err != nil {
		t.Fatalf("Select(%s): %v", service, err)
	}
	return next
}

func first(t *testing.T, s Selector, opts ...SelectOption) string {
	t.Helper()
	n, err := mustSelect(t, s, "greeter", opts...)()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return n.Id
}

func TestNewAndNames(t *testing.T) {
	if _, err := New(); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("New() without registry: %v, want ErrNoRegistry", err)
	}
	if _, err := Open("random"); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("Open(random) without registry: %v, want ErrNoRegistry", err)
	}
	_, err := Open("nope", Registry(memory.New()))
	if err == nil || !strings.Contains(err.Error(), "hash, random, roundrobin") {
		t.Fatalf("Open(nope) = %v, want an error listing the names", err)
	}
	if got := Names(); !slices.Equal(got, []string{"hash", "random", "roundrobin"}) {
		t.Fatalf("Names() = %v", got)
	}

	m := memory.New()
	register(t, m, &registry.Service{Name: "greeter", Nodes: []*registry.Node{node("a"), node("b"), node("c")}})
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			// A SetStrategy in opts does not override the named strategy.
			s, err := Open(name, Registry(m), SetStrategy(nil))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if s.String() != name {
				t.Fatalf("String() = %q", s.String())
			}
			got, err := drain(t, mustSelect(t, s, "greeter", WithKey("k")))
			if !errors.Is(err, ErrNoneAvailable) || len(got) != 3 {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
	s, _ := newSelector(t, nil)
	if s.String() != "registry" {
		t.Fatalf("New().String() = %q", s.String())
	}
}

func TestStrategiesGiveEveryNodeOnce(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e"}
	cases := []struct {
		name string
		st   Strategy
		key  string
	}{
		{"random", Random, ""},
		{"roundrobin", RoundRobin, ""},
		{"hash", Hash, "user-1"},
		{"hash without key", Hash, ""},
		{"duplicating", func(p Pick) []*registry.Node { return append(slices.Clone(p.Nodes), p.Nodes...) }, ""},
		{"with nils", func(p Pick) []*registry.Node { return append([]*registry.Node{nil}, p.Nodes...) }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSelector(t, ids, SetStrategy(tc.st))
			for range 5 {
				got, err := drain(t, mustSelect(t, s, "greeter", WithKey(tc.key)))
				if !errors.Is(err, ErrNoneAvailable) {
					t.Fatalf("after the last node: %v, want ErrNoneAvailable", err)
				}
				sorted := slices.Sorted(slices.Values(got))
				if !slices.Equal(sorted, ids) {
					t.Fatalf("Next gave %v, want each of %v once", got, ids)
				}
			}
		})
	}
}

func TestRoundRobinOrder(t *testing.T) {
	s, _ := newSelector(t, []string{"a", "b", "c"}, SetStrategy(RoundRobin))
	want := [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}}
	for i, w := range want {
		got, _ := drain(t, mustSelect(t, s, "greeter"))
		if !slices.Equal(got, w) {
			t.Fatalf("Select %d gave %v, want %v", i, got, w)
		}
	}
	// The per-Select strategy shares the service's turn.
	if got := first(t, s, WithStrategy(RoundRobin)); got != "b" {
		t.Fatalf("WithStrategy(RoundRobin) started at %s, want b", got)
	}
}

func TestRoundRobinFair(t *testing.T) {
	const goroutines, selects = 8, 300
	ids := []string{"a", "b", "c", "d"}
	s, _ := newSelector(t, ids, SetStrategy(RoundRobin))
	var mu sync.Mutex
	picks := make(map[string]int)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			local := make(map[string]int)
			for range selects {
				next, err := s.Select(t.Context(), "greeter")
				if err != nil {
					t.Error(err)
					return
				}
				n, err := next()
				if err != nil {
					t.Error(err)
					return
				}
				local[n.Id]++
			}
			mu.Lock()
			for id, c := range local {
				picks[id] += c
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	want := goroutines * selects / len(ids)
	for _, id := range ids {
		if picks[id] != want {
			t.Fatalf("picks = %v, want %d each", picks, want)
		}
	}
}

func TestRandomSpreads(t *testing.T) {
	s, _ := newSelector(t, []string{"a", "b", "c"})
	seen := make(map[string]bool)
	for range 300 {
		seen[first(t, s)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("300 random Selects started only at %v", seen)
	}
}

func pick(key string, ids ...string) Pick {
	p := Pick{Service: "s", Key: key}
	for _, id := range ids {
		p.Nodes = append(p.Nodes, &registry.Node{Id: id})
	}
	return p
}

func TestHashDeterministic(t *testing.T) {
	// Fixed values (checked against an independent FNV-1a + SplitMix64
	// computation): the mapping must be the same in every process and
	// every release, or clients would disagree on a key's node.
	golden := []struct {
		key, id string
		score   uint64
	}{
		{"user-1", "node-1", 0x550be389638078fa},
		{"", "", 0x25fc6dd36ce04b20},
	}
	for _, g := range golden {
		if got := score(g.key, g.id); got != g.score {
			t.Errorf("score(%q, %q) = %#x, want %#x", g.key, g.id, got, g.score)
		}
	}

	s1, _ := newSelector(t, []string{"a", "b", "c", "d"}, SetStrategy(Hash))
	s2, _ := newSelector(t, []string{"d", "c", "b", "a"}, SetStrategy(Hash))
	for i := range 50 {
		key := fmt.Sprintf("key-%d", i)
		a := first(t, s1, WithKey(key))
		for range 3 {
			if b := first(t, s2, WithKey(key)); b != a {
				t.Fatalf("key %s went to %s and %s", key, a, b)
			}
		}
	}
	// The order is the failover order: a key's second node is its node
	// once the first is gone.
	next := mustSelect(t, s1, "greeter", WithKey("key-7"))
	n1, _ := next()
	n2, _ := next()
	rest := slices.DeleteFunc([]string{"a", "b", "c", "d"}, func(id string) bool { return id == n1.Id })
	if got := Hash(pick("key-7", rest...))[0].Id; got != n2.Id {
		t.Fatalf("without %s, key-7 goes to %s, want the second choice %s", n1.Id, got, n2.Id)
	}
}

func TestHashMovesFewKeys(t *testing.T) {
	const keys = 10000
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("node-%d", i))
	}
	owner := func(key string, ids []string) string { return Hash(pick(key, ids...))[0].Id }

	before := make([]string, keys)
	load := make(map[string]int)
	for k := range keys {
		before[k] = owner(fmt.Sprint("key-", k), ids)
		load[before[k]]++
	}
	for id, n := range load {
		if n < keys/10*6/10 || n > keys/10*14/10 {
			t.Fatalf("node %s owns %d of %d keys: %v", id, n, keys, load)
		}
	}

	t.Run("remove", func(t *testing.T) {
		gone := ids[3]
		rest := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == gone })
		moved := 0
		for k := range keys {
			after := owner(fmt.Sprint("key-", k), rest)
			if after != before[k] {
				moved++
				if before[k] != gone {
					t.Fatalf("key-%d moved from %s to %s though %s stayed", k, before[k], after, before[k])
				}
			}
		}
		if moved != load[gone] {
			t.Fatalf("%d keys moved, want exactly the %d of %s", moved, load[gone], gone)
		}
		if moved < keys*6/100 || moved > keys*14/100 {
			t.Fatalf("%d of %d keys moved, want about 10%%", moved, keys)
		}
	})
	t.Run("add", func(t *testing.T) {
		more := append(slices.Clone(ids), "node-new")
		moved := 0
		for k := range keys {
			after := owner(fmt.Sprint("key-", k), more)
			if after != before[k] {
				moved++
				if after != "node-new" {
					t.Fatalf("key-%d moved from %s to %s, not to the new node", k, before[k], after)
				}
			}
		}
		// 1/11 of 10000 is 909.
		if moved < 600 || moved > 1250 {
			t.Fatalf("%d of %d keys moved to the new node, want about 1/11", moved, keys)
		}
	})
}

func TestHashWithoutKeyIsRandom(t *testing.T) {
	seen := make(map[string]bool)
	p := pick("", "a", "b", "c")
	for range 300 {
		seen[Hash(p)[0].Id] = true
	}
	if len(seen) != 3 {
		t.Fatalf("Hash without a key started only at %v", seen)
	}
}

func TestStrategiesDoNotModifyInput(t *testing.T) {
	for name, st := range map[string]Strategy{"random": Random, "roundrobin": RoundRobin, "hash": Hash} {
		p := pick("k", "a", "b", "c", "d")
		p.Counter = new(atomic.Uint64)
		p.Counter.Store(2)
		in := slices.Clone(p.Nodes)
		for range 20 {
			_ = st(p)
		}
		if !slices.Equal(p.Nodes, in) {
			t.Fatalf("%s reordered its input", name)
		}
		if got := st(Pick{}); len(got) != 0 {
			t.Fatalf("%s of no nodes = %v", name, got)
		}
	}
}

func services() []*registry.Service {
	return []*registry.Service{
		{Name: "greeter", Version: "1", Nodes: []*registry.Node{node("a", "zone", "x"), node("b", "zone", "y")},
			Endpoints: []*registry.Endpoint{{Name: "Greeter.Hello"}}},
		{Name: "greeter", Version: "2", Nodes: []*registry.Node{node("c", "zone", "x"), node("d")},
			Endpoints: []*registry.Endpoint{{Name: "Greeter.Hello"}, {Name: "Greeter.Bye"}}},
		{Name: "greeter", Version: "3", Nodes: []*registry.Node{node("e", "zone", "y")}},
	}
}

func TestFilters(t *testing.T) {
	cases := []struct {
		name string
		f    Filter
		want map[string][]string // version -> node ids
	}{
		{"version one", FilterVersion("2"), map[string][]string{"2": {"c", "d"}}},
		{"version several", FilterVersion("1", "3", "9"), map[string][]string{"1": {"a", "b"}, "3": {"e"}}},
		{"version none", FilterVersion(), map[string][]string{}},
		{"metadata", FilterMetadata("zone", "x"), map[string][]string{"1": {"a"}, "2": {"c"}}},
		{"metadata all nodes", FilterMetadata("zone", "y"), map[string][]string{"1": {"b"}, "3": {"e"}}},
		{"metadata empty value", FilterMetadata("zone", ""), map[string][]string{}},
		{"metadata unknown", FilterMetadata("rack", "1"), map[string][]string{}},
		{"label", FilterLabel("zone", "x"), map[string][]string{"1": {"a"}, "2": {"c"}}},
		{"endpoint", FilterEndpoint("Greeter.Bye"), map[string][]string{"2": {"c", "d"}}},
		{"endpoint shared", FilterEndpoint("Greeter.Hello"), map[string][]string{"1": {"a", "b"}, "2": {"c", "d"}}},
		{"endpoint unknown", FilterEndpoint("Greeter.Nope"), map[string][]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := services()
			in = append(in, nil) // filters tolerate nils
			in[1].Nodes = append(in[1].Nodes, nil)
			in[2].Endpoints = append(in[2].Endpoints, nil)
			orig := registry.CopyServices(in)
			got := make(map[string][]string)
			for _, s := range tc.f(in) {
				var ids []string
				for _, n := range s.Nodes {
					if n != nil {
						ids = append(ids, n.Id)
					}
				}
				got[s.Version] = ids
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(in, orig) {
				t.Fatal("the filter changed its input")
			}
		})
	}
}

func TestSelectFilters(t *testing.T) {
	m := memory.New()
	for _, s := range services() {
		register(t, m, s)
	}
	sel, err := New(Registry(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })

	cases := []struct {
		name    string
		filters []Filter
		want    []string
		err     error
	}{
		{"none", nil, []string{"a", "b", "c", "d", "e"}, nil},
		{"version", []Filter{FilterVersion("2")}, []string{"c", "d"}, nil},
		{"chained", []Filter{FilterVersion("1", "2"), FilterLabel("zone", "x")}, []string{"a", "c"}, nil},
		{"nil filter ignored", []Filter{nil, FilterVersion("3")}, []string{"e"}, nil},
		{"nothing left", []Filter{FilterVersion("9")}, nil, ErrNoneAvailable},
		{"nothing left after chain", []Filter{FilterVersion("3"), FilterEndpoint("Greeter.Hello")}, nil, ErrNoneAvailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next, err := sel.Select(t.Context(), "greeter", WithFilter(tc.filters...))
			if tc.err != nil {
				if !errors.Is(err, tc.err) || errors.Is(err, ErrNotFound) {
					t.Fatalf("Select: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := drain(t, next)
			if slices.Sort(got); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	m := memory.New()
	register(t, m, &registry.Service{Name: "greeter", Nodes: []*registry.Node{node("a")}})
	down := &counting{Registry: m}
	down.fail.Store(true)

	cases := []struct {
		name    string
		opts    []Option
		service string
		is      []error
		isNot   []error
	}{
		{"not registered", []Option{Registry(m)}, "nobody", []error{ErrNotFound}, []error{ErrNoneAvailable}},
		{"not registered uncached", []Option{Registry(m), NoCache()}, "nobody", []error{ErrNotFound}, nil},
		{"registry down", []Option{Registry(down)}, "greeter", []error{errDown}, []error{ErrNotFound, ErrNoneAvailable}},
		{"registry down uncached", []Option{Registry(down), NoCache()}, "greeter", []error{errDown}, []error{ErrNotFound}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			next, err := s.Select(t.Context(), tc.service)
			if err == nil || next != nil {
				t.Fatal("Select succeeded")
			}
			if !strings.Contains(err.Error(), tc.service) {
				t.Errorf("error %q does not name the service %q", err, tc.service)
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("error %q is not %v", err, want)
				}
			}
			for _, not := range tc.isNot {
				if errors.Is(err, not) {
					t.Errorf("error %q is %v", err, not)
				}
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		s, _ := newSelector(t, []string{"a"}, NoCache())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Select(ctx, "greeter"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Select with a cancelled context: %v", err)
		}
	})
}

func TestBlacklist(t *testing.T) {
	fail := errors.New("call failed")
	type step struct {
		mark    string        // node to mark
		err     error         // outcome marked
		advance time.Duration // clock moves first
		reset   bool          // Reset("greeter") first
		want    []string      // usable nodes afterwards; nil: not checked
		none    bool          // Select must fail with ErrNoneAvailable
	}
	all := []string{"a", "b"}
	cases := []struct {
		name  string
		opts  []Option
		steps []step
	}{
		{"below threshold", nil, []step{
			{mark: "a", err: fail, want: all},
			{mark: "a", err: fail, want: all},
		}},
		{"at threshold", nil, []step{
			{mark: "a", err: fail}, {mark: "a", err: fail},
			{mark: "a", err: fail, want: []string{"b"}},
		}},
		{"success resets the count", nil, []step{
			{mark: "a", err: fail}, {mark: "a", err: fail},
			{mark: "a", err: nil, want: all},
			{mark: "a", err: fail}, {mark: "a", err: fail, want: all},
		}},
		{"every node blacklisted", []Option{BlacklistThreshold(1)}, []step{
			{mark: "a", err: fail, want: []string{"b"}},
			{mark: "b", err: fail, none: true},
		}},
		{"period passes", []Option{BlacklistThreshold(1), BlacklistPeriod(time.Minute)}, []step{
			{mark: "a", err: fail, want: []string{"b"}},
			{advance: 59 * time.Second, want: []string{"b"}},
			{advance: time.Second, want: all},
			// Tried again and failed again: blacklisted at once.
			{mark: "a", err: fail, want: []string{"b"}},
			{advance: time.Minute, mark: "a", err: nil, want: all},
		}},
		{"default period", []Option{BlacklistThreshold(1)}, []step{
			{mark: "a", err: fail, want: []string{"b"}},
			{advance: 29 * time.Second, want: []string{"b"}},
			{advance: time.Second, want: all},
		}},
		{"reset", []Option{BlacklistThreshold(1)}, []step{
			{mark: "a", err: fail}, {mark: "b", err: fail, none: true},
			{reset: true, want: all},
		}},
		{"disabled", []Option{BlacklistThreshold(0)}, []step{
			{mark: "a", err: fail}, {mark: "a", err: fail}, {mark: "a", err: fail},
			{mark: "a", err: fail, want: all},
		}},
		{"other service unaffected", []Option{BlacklistThreshold(1)}, []step{
			{mark: "other", err: fail, want: all},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: time.Unix(1700000000, 0)}
			s, _ := newSelector(t, all, append([]Option{withClock(clk)}, tc.opts...)...)
			for i, st := range tc.steps {
				clk.Advance(st.advance)
				if st.reset {
					s.Reset("greeter")
				}
				switch st.mark {
				case "":
				case "other":
					s.Mark("other", node("a"), st.err)
				default:
					s.Mark("greeter", node(st.mark), st.err)
				}
				next, err := s.Select(t.Context(), "greeter")
				if st.none {
					if !errors.Is(err, ErrNoneAvailable) || errors.Is(err, ErrNotFound) {
						t.Fatalf("step %d: Select: %v, want ErrNoneAvailable", i, err)
					}
					continue
				}
				if st.want == nil {
					continue
				}
				if err != nil {
					t.Fatalf("step %d: Select: %v", i, err)
				}
				got, _ := drain(t, next)
				if slices.Sort(got); !slices.Equal(got, st.want) {
					t.Fatalf("step %d: usable %v, want %v", i, got, st.want)
				}
			}
		})
	}
}

func TestNextSkipsNodeBlacklistedMeanwhile(t *testing.T) {
	s, _ := newSelector(t, []string{"a", "b", "c"}, SetStrategy(RoundRobin), BlacklistThreshold(1))
	next := mustSelect(t, s, "greeter")
	n, err := next()
	if err != nil || n.Id != "a" {
		t.Fatalf("first Next = %v, %v", n, err)
	}
	s.Mark("greeter", n, errors.New("failed"))
	s.Mark("greeter", node("b"), errors.New("failed"))
	got, err := drain(t, next)
	if !slices.Equal(got, []string{"c"}) || !errors.Is(err, ErrNoneAvailable) {
		t.Fatalf("rest of Next = %v, %v; want [c] then ErrNoneAvailable", got, err)
	}
	s.Mark("greeter", nil, errors.New("nil node is ignored"))
}

func TestMarksOfGoneNodesForgotten(t *testing.T) {
	sel, m := newSelector(t, []string{"a", "b"}, BlacklistThreshold(1))
	s := sel.(*registrySelector)
	sel.Mark("greeter", node("a"), errors.New("failed"))
	if err := m.Deregister(t.Context(), &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{node("a")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mark of a deregistered node forgotten", func() error {
		if _, err := sel.Select(t.Context(), "greeter"); err != nil {
			return err
		}
		if n := s.state("greeter").records.Load(); n != 0 {
			return fmt.Errorf("%d marks kept", n)
		}
		return nil
	})
}

func TestCaching(t *testing.T) {
	cases := []struct {
		name      string
		opts      []Option
		wantCalls int64
	}{
		{"cached", nil, 1},
		{"cached with TTL", []Option{CacheTTL(time.Hour)}, 1},
		{"not cached", []Option{NoCache()}, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := memory.New()
			register(t, m, &registry.Service{Name: "greeter", Nodes: []*registry.Node{node("a")}})
			c := &counting{Registry: m}
			s, err := New(append([]Option{Registry(c)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			for range 20 {
				first(t, s)
			}
			if got := c.gets.Load(); got != tc.wantCalls {
				t.Fatalf("%d registry calls for 20 Selects, want %d", got, tc.wantCalls)
			}
			// Either way a new node shows up.
			register(t, m, &registry.Service{Name: "greeter", Nodes: []*registry.Node{node("b")}})
			eventually(t, "new node seen", func() error {
				if got, _ := drain(t, mustSelect(t, s, "greeter")); len(got) != 2 {
					return fmt.Errorf("nodes %v", got)
				}
				return nil
			})
		})
	}
}

func TestGivenCacheNotOwned(t *testing.T) {
	c := cache.New(memory.New())
	t.Cleanup(func() { _ = c.Close() })
	sel, err := New(Registry(c))
	if err != nil {
		t.Fatal(err)
	}
	if s := sel.(*registrySelector); s.cache != nil || s.reg != c {
		t.Fatal("a registry/cache passed in was wrapped again")
	}
	if err := sel.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sel.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, m := newSelector(t, []string{"a", "b", "c"}, BlacklistThreshold(2), BlacklistPeriod(time.Millisecond))
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			st := []Strategy{Random, RoundRobin, Hash}[g%3]
			for i := range 200 {
				next, err := s.Select(t.Context(), "greeter", WithStrategy(st), WithKey(fmt.Sprint(i)))
				if err != nil {
					if !errors.Is(err, ErrNoneAvailable) {
						t.Error(err)
						return
					}
					continue
				}
				for {
					n, err := next()
					if err != nil {
						break
					}
					if i%3 == 0 {
						s.Mark("greeter", n, errors.New("failed"))
					} else {
						s.Mark("greeter", n, nil)
					}
				}
				if i%50 == 0 {
					s.Reset("greeter")
				}
				if g == 0 && i%20 == 0 {
					register(t, m, &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{node(fmt.Sprint("n", i))}})
				}
			}
		})
	}
	wg.Wait()
}
