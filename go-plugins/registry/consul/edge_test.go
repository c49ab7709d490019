package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// holds fails the test if cond stops being true within d.
func holds(t *testing.T, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := cond(); err != nil {
			t.Fatalf("%s: no longer true: %v", what, err)
		}
		select {
		case <-deadline.C:
			return
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		}
	}
}

// TestKeeperFollowsNewTTL: a node registered with a long TTL and then
// registered again without one must be kept alive by the keeper at the
// keepalive pace, not at a third of the old TTL.
func TestKeeperFollowsNewTTL(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	const keepalive = 2 * time.Second
	r := testRegistry(t, a.Addr(), KeepaliveTTL(keepalive))
	s := svc("retuned", "n", 1000)
	if err := r.Register(t.Context(), s, registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), s); err != nil { // no TTL now: kept alive
		t.Fatal(err)
	}
	eventually(t, "the node registered", 20*time.Second, hasNodes(t, r, "retuned", "n"))
	holds(t, "the node kept alive", 4*keepalive, hasNodes(t, r, "retuned", "n"))
}

// TestWatchIndexBackwards: consul's index went backwards (the agent lost
// its state between two reads of a watcher): the blocking query returns a
// lower index after its wait, and the watcher must start again from it
// instead of discarding every read until the new index passes the old.
func TestWatchIndexBackwards(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr(), WatchWait(500*time.Millisecond))
	writer := testRegistry(t, a.Addr())
	tests := []struct {
		name    string
		service string
	}{
		{"one service", "backwards-one"},
		{"every service", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("backwards-%d", i)
			if tc.service != "" {
				name = tc.service
			}
			// Known to the watcher from the start.
			if err := writer.Register(t.Context(), svc(name, "old", 1000)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "old node", 20*time.Second, hasNodes(t, r, name, "old"))
			w := &watcher{r: r, service: tc.service, views: make(map[string]*view),
				wake: make(chan struct{}, 1), done: make(chan struct{})}
			if err := w.baseline(t.Context()); err != nil {
				t.Fatal(err)
			}
			w.ctx, w.cancel = context.WithCancel(t.Context())
			defer w.cancel()
			// What an agent far ahead had said before it lost its state.
			const ahead = 1 << 40
			w.index = ahead
			for _, v := range w.views {
				v.index = ahead
			}
			if err := writer.Register(t.Context(), svc(name, "new", 1001)); err != nil {
				t.Fatal(err)
			}
			poll := w.pollAll
			if tc.service != "" {
				poll = w.pollService
			}
			for range 3 {
				if err := poll(); err != nil {
					t.Fatal(err)
				}
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, res := range w.queue {
				if res.Action == registry.Create && res.Service.Name == name && res.Service.Nodes[0].Id == "new" {
					return
				}
			}
			t.Fatalf("no Create of the new node after three reads; queue %v", w.queue)
		})
	}
}

// TestForeignMicroTag: a consul service of someone else that happens to
// carry the tag "micro" (and a passing check) is not a plugin service:
// ListServices must agree with GetService and leave it out.
func TestForeignMicroTag(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	for _, reg := range []*api.AgentServiceRegistration{
		{ID: "tagged", Name: "foreign-tagged", Tags: []string{tagMicro}, Port: 80,
			Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing}},
		{ID: "broken", Name: "foreign-broken", Tags: []string{tagMicro, tagVersionPrefix + "1"},
			Meta:  map[string]string{metaFormat: formatVersion, "micro_0": "!!"},
			Check: &api.AgentServiceCheck{TTL: "1h", Status: api.HealthPassing}},
	} {
		if err := a.Client().Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(t.Context(), svc("mine", "n", 1000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "only the plugin's service listed", 20*time.Second, func() error {
		list, err := r.ListServices(t.Context())
		if err != nil {
			return err
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name+"@"+s.Version)
		}
		if len(names) != 1 || names[0] != "mine@1" {
			return fmt.Errorf("listed %v, want [mine@1]", names)
		}
		return nil
	})
}

// TestNameCase: consul matches service names without regard to case; the
// registry's names are exact, so GetService("case") must not return the
// nodes of "Case".
func TestNameCase(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	w := watchStream(t, r, registry.WatchService("case"))
	if err := r.Register(t.Context(), svc("Case", "upper", 1000)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc("case", "lower", 1001)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lower only", 20*time.Second, hasNodes(t, r, "case", "lower"))
	eventually(t, "upper only", 20*time.Second, hasNodes(t, r, "Case", "upper"))
	// A last registration marks the end of what the watcher may show.
	if err := r.Register(t.Context(), svc("case", "sentinel", 1002)); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	for {
		select {
		case res := <-w:
			n := res.Service.Nodes[0].Id
			if res.Service.Name != "case" || n == "upper" {
				t.Fatalf("a watcher of case saw %s of %s node %s", res.Action, res.Service.Name, n)
			}
			if n == "sentinel" {
				return
			}
		case <-timer.C:
			t.Fatal("no Create of the sentinel node")
		}
	}
}

// TestRegisterDeregisterRace: Register and Deregister of one node racing
// each other must leave the registry's keeper in line with the agent:
// either the node is registered and kept, or it is gone and nobody keeps
// it (a keeper of a deregistered node would bring it back).
func TestRegisterDeregisterRace(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	s := svc("racy", "n", 1000)
	id := serviceID(s.Name, s.Version, s.Nodes[0].Id)
	for i := range 60 {
		if err := r.Register(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 3)
		for _, f := range []func() error{
			func() error { return r.Register(t.Context(), s) },
			func() error { return r.Deregister(t.Context(), s) },
			func() error { return r.Register(t.Context(), s) },
		} {
			go func() { errs <- f() }()
		}
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		services, err := a.Client().Agent().Services()
		if err != nil {
			t.Fatal(err)
		}
		_, inAgent := services[id]
		r.mu.Lock()
		h := r.held[id]
		r.mu.Unlock()
		kept := false
		if h != nil {
			h.mu.Lock()
			kept = !h.gone && h.registered
			h.mu.Unlock()
		}
		if inAgent != kept {
			t.Fatalf("round %d: the agent has the node: %v, the registry keeps it: %v", i, inAgent, kept)
		}
	}
}

// stepWatcher returns a watcher of service from its baseline, known to r
// as a running one is (so Register, Deregister and GetService feed it), but
// whose reads the test makes itself (pollService).
func stepWatcher(t *testing.T, r *consulRegistry, service string) *watcher {
	t.Helper()
	w := &watcher{r: r, service: service, views: make(map[string]*view),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	if err := w.baseline(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.ctx, w.cancel = context.WithCancel(t.Context())
	r.mu.Lock()
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	t.Cleanup(func() {
		r.mu.Lock()
		delete(r.watchers, w)
		r.mu.Unlock()
		w.cancel()
	})
	return w
}

// TestWatchSeesWhatGetServiceSaw: a node registered and removed elsewhere
// between two reads of a watcher is no change to the watcher's own reads,
// but a GetService of the same registry in between answered with it. A
// cache over the registry stored that answer and refetches only on
// events, so the watcher must report the node's removal; the watch of a
// client stuck with a stopped greeter in CI came from this.
func TestWatchSeesWhatGetServiceSaw(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	writer := testRegistry(t, a.Addr())
	const name = "seen-between"
	w := stepWatcher(t, r, name)

	if err := writer.Register(t.Context(), svc(name, "n1", 1000)); err != nil {
		t.Fatal(err)
	}
	if ids, err := nodesOf(t, r, name); err != nil || len(ids) != 1 || ids[0] != "n1" {
		t.Fatalf("GetService through the watcher's registry = %v, %v; want n1", ids, err)
	}
	if err := writer.Deregister(t.Context(), svc(name, "n1", 1000)); err != nil {
		t.Fatal(err)
	}
	// The watcher's next read (non-blocking: consul's index has moved past
	// the baseline's) finds what its first read found: no node.
	if err := w.pollService(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var got []string
	for _, res := range w.queue {
		got = append(got, fmt.Sprintf("%s %s", res.Action, res.Service.Nodes[0].Id))
	}
	if want := []string{"create n1", "delete n1"}; !slices.Equal(got, want) {
		t.Fatalf("the watcher reported %q, want %q", got, want)
	}
}

// TestGetServiceNotOlderThanWatch: consul 1.13 can answer a plain read
// with an older index than a blocking query has returned already (a CI run
// caught it right after a deregistration: the watcher reported the node
// gone at index 17, the cache's refetch then read it present at 16 and
// kept it). GetService answers with the newest state its registry's
// watchers have read, and that older read reports nothing to them.
func TestGetServiceNotOlderThanWatch(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	const name = "newer-view"
	if err := r.Register(t.Context(), svc(name, "n1", 1000)); err != nil {
		t.Fatal(err)
	}
	w := stepWatcher(t, r, name)
	// What a blocking query returning just past consul's index for the
	// service would say after the node left.
	w.viewMu.Lock()
	gone := &view{index: w.views[name].index + 1, insts: map[string]*instance{}}
	w.views[name] = gone
	w.viewMu.Unlock()

	if ss, err := r.GetService(t.Context(), name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService = %v, %v; want registry.ErrNotFound, the watcher's newer state", ss, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) != 0 {
		t.Fatalf("the older read reported %d changes to the watcher", len(w.queue))
	}
	w.viewMu.Lock()
	defer w.viewMu.Unlock()
	if w.views[name] != gone {
		t.Fatal("the older read replaced the watcher's view")
	}
}
