package memory_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

// next reads one result, failing the test if none comes within 10s.
func next(t *testing.T, w registry.Watcher) *registry.Result {
	t.Helper()
	type out struct {
		res *registry.Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := w.Next()
		ch <- out{res, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("Next: %v", o.err)
		}
		return o.res
	case <-time.After(10 * time.Second):
		w.Stop() // releases the goroutine above
		t.Fatal("Next did not return within 10s")
		return nil
	}
}

func summary(res *registry.Result) string {
	ids := make([]string, 0, len(res.Service.Nodes))
	for _, n := range res.Service.Nodes {
		ids = append(ids, n.Id)
	}
	slices.Sort(ids)
	return fmt.Sprintf("%s %s@%s%v", res.Action, res.Service.Name, res.Service.Version, ids)
}

func nodes(ids ...string) []*registry.Node {
	ns := make([]*registry.Node, len(ids))
	for i, id := range ids {
		ns[i] = &registry.Node{Id: id, Address: "127.0.0.1:" + fmt.Sprint(1000+i)}
	}
	return ns
}

func watch(t *testing.T, r registry.Registry, opts ...registry.WatchOption) registry.Watcher {
	t.Helper()
	w, err := r.Watch(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// TestRegisterEvents pins the documented mapping of one Register call to
// events: a Create of its new nodes, then an Update of its changed ones.
func TestRegisterEvents(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	base := &registry.Service{Name: "s", Version: "1", Nodes: nodes("a", "b")}
	if err := r.Register(ctx, base); err != nil {
		t.Fatal(err)
	}
	w := watch(t, r)

	tests := []struct {
		name string
		svc  *registry.Service
		want []string
	}{
		{
			name: "new node, changed node and unchanged node",
			svc: &registry.Service{Name: "s", Version: "1", Nodes: []*registry.Node{
				{Id: "a", Address: "127.0.0.1:2000"}, // moved
				{Id: "b", Address: "127.0.0.1:1001"}, // as before
				{Id: "c", Address: "127.0.0.1:1002"}, // new
			}},
			want: []string{"create s@1[c]", "update s@1[a]"},
		},
		{
			name: "service metadata change updates every node of the call",
			svc: &registry.Service{Name: "s", Version: "1", Metadata: map[string]string{"m": "1"}, Nodes: []*registry.Node{
				{Id: "a", Address: "127.0.0.1:2000"},
				{Id: "b", Address: "127.0.0.1:1001"},
			}},
			want: []string{"update s@1[a b]"},
		},
		{
			name: "endpoints change is an update",
			svc: &registry.Service{Name: "s", Version: "1", Metadata: map[string]string{"m": "1"},
				Endpoints: []*registry.Endpoint{{Name: "S.Call"}},
				Nodes:     []*registry.Node{{Id: "b", Address: "127.0.0.1:1001"}},
			},
			want: []string{"update s@1[b]"},
		},
		{
			name: "new version is a create",
			svc:  &registry.Service{Name: "s", Version: "2", Nodes: nodes("a")},
			want: []string{"create s@2[a]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Register(ctx, tc.svc); err != nil {
				t.Fatal(err)
			}
			// A heartbeat repeating the same registration yields nothing;
			// the marker's Create must come right after the expected events.
			if err := r.Register(ctx, tc.svc); err != nil {
				t.Fatal(err)
			}
			marker := &registry.Service{Name: "marker", Nodes: nodes(tc.name)}
			if err := r.Register(ctx, marker); err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(tc.want), "create marker@["+tc.name+"]")
			for i, w1 := range want {
				if got := summary(next(t, w)); got != w1 {
					t.Fatalf("event %d = %q, want %q", i, got, w1)
				}
			}
		})
	}
}

// TestDeregisterEvents: one Delete per call with the nodes actually
// removed; unknown nodes are ignored.
func TestDeregisterEvents(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	if err := r.Register(ctx, &registry.Service{Name: "s", Version: "1", Nodes: nodes("a", "b", "c")}); err != nil {
		t.Fatal(err)
	}
	w := watch(t, r, registry.WatchService("s"))

	steps := []struct {
		ids  []string
		want string // "" for no event
	}{
		{[]string{"zz"}, ""},
		{[]string{"a", "zz", "b"}, "delete s@1[a b]"},
		{[]string{"c"}, "delete s@1[c]"},
		{[]string{"c"}, ""},
	}
	var want []string
	for _, st := range steps {
		if err := r.Deregister(ctx, &registry.Service{Name: "s", Version: "1", Nodes: nodes(st.ids...)}); err != nil {
			t.Fatal(err)
		}
		if st.want != "" {
			want = append(want, st.want)
		}
	}
	if _, err := r.GetService(ctx, "s"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService after the last node went: %v", err)
	}
	if err := r.Register(ctx, &registry.Service{Name: "s", Version: "1", Nodes: nodes("end")}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "create s@1[end]")
	for i, w1 := range want {
		if got := summary(next(t, w)); got != w1 {
			t.Fatalf("event %d = %q, want %q", i, got, w1)
		}
	}
}

// TestSlowWatcher: nobody reads the watcher while many changes happen;
// Register never blocks and every event arrives, in order.
func TestSlowWatcher(t *testing.T) {
	const n = 2000
	ctx := t.Context()
	r := memory.New()
	w := watch(t, r)
	for i := range n {
		if err := r.Register(ctx, &registry.Service{Name: "s", Nodes: nodes(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		res := next(t, w)
		if res.Action != registry.Create || res.Service.Nodes[0].Id != fmt.Sprint(i) {
			t.Fatalf("event %d = %s", i, summary(res))
		}
	}
}

// TestTTLCleared: registering again without a TTL cancels the expiry.
func TestTTLCleared(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	w := watch(t, r)
	short := 50 * time.Millisecond
	reg := func(id string, opts ...registry.RegisterOption) {
		t.Helper()
		if err := r.Register(ctx, &registry.Service{Name: "s", Nodes: nodes(id)}, opts...); err != nil {
			t.Fatal(err)
		}
	}
	reg("kept", registry.RegisterTTL(short))
	reg("kept") // no TTL any more
	reg("expires", registry.RegisterTTL(6*short))
	for _, want := range []string{"create s@[kept]", "create s@[expires]", "delete s@[expires]"} {
		if got := summary(next(t, w)); got != want {
			t.Fatalf("event = %q, want %q", got, want)
		}
	}
	ss, err := r.GetService(ctx, "s")
	if err != nil || len(ss) != 1 || len(ss[0].Nodes) != 1 || ss[0].Nodes[0].Id != "kept" {
		t.Fatalf("GetService = %v, %v; want only node kept", ss, err)
	}
	if err := r.Deregister(ctx, &registry.Service{Name: "s", Nodes: nodes("kept")}); err != nil {
		t.Fatal(err)
	}
}

// TestListServicesSorted: every name and version, sorted, with nodes.
func TestListServicesSorted(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	for _, s := range []*registry.Service{
		{Name: "b", Version: "1", Nodes: nodes("b1")},
		{Name: "a", Version: "2", Nodes: nodes("a2")},
		{Name: "a", Version: "1", Nodes: nodes("a1", "a0")},
	} {
		if err := r.Register(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := r.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range ss {
		ids := make([]string, 0, len(s.Nodes))
		for _, n := range s.Nodes {
			ids = append(ids, n.Id)
		}
		got = append(got, fmt.Sprintf("%s@%s%v", s.Name, s.Version, ids))
	}
	want := []string{"a@1[a0 a1]", "a@2[a2]", "b@1[b1]"}
	if !slices.Equal(got, want) {
		t.Fatalf("ListServices = %v, want %v", got, want)
	}
	if !slices.IsSortedFunc(ss, func(x, y *registry.Service) int { return cmp.Compare(x.Name, y.Name) }) {
		t.Fatal("not sorted")
	}
}

// TestStopDropsQueue: events queued before Stop are not delivered after it.
func TestStopDropsQueue(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	w, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctx, &registry.Service{Name: "s", Nodes: nodes("a")}); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if res, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next after Stop = %v, %v; want ErrWatcherStopped", res, err)
	}
}
