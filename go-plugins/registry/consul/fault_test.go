package consul

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// watchStream pumps a watcher into a channel for the fault tests.
func watchStream(t *testing.T, r registry.Registry, opts ...registry.WatchOption) <-chan *registry.Result {
	t.Helper()
	w, err := r.Watch(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *registry.Result, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			res, err := w.Next()
			if err != nil {
				return
			}
			ch <- res
		}
	}()
	t.Cleanup(func() { w.Stop(); <-done })
	return ch
}

// expectEvent waits up to d for a result for name with action and node id,
// skipping others.
func expectEvent(t *testing.T, ch <-chan *registry.Result, d time.Duration, action registry.Action, name, id string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case res := <-ch:
			if res.Action == action && res.Service.Name == name && len(res.Service.Nodes) == 1 && res.Service.Nodes[0].Id == id {
				return
			}
		case <-timer.C:
			t.Fatalf("no %s of %s node %s within %v", action, name, id, d)
		}
	}
}

// nodesOf returns the node ids GetService reports for name, or the error.
func nodesOf(t *testing.T, r registry.Registry, name string) ([]string, error) {
	ss, err := r.GetService(t.Context(), name)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range ss {
		for _, n := range s.Nodes {
			ids = append(ids, n.Id)
		}
	}
	return ids, nil
}

func hasNodes(t *testing.T, r registry.Registry, name string, want ...string) func() error {
	return func() error {
		ids, err := nodesOf(t, r, name)
		if err != nil {
			return err
		}
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			return fmt.Errorf("nodes %v, want %v", ids, want)
		}
		return nil
	}
}

func isGone(t *testing.T, r registry.Registry, name string) func() error {
	return func() error {
		ids, err := nodesOf(t, r, name)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("nodes %v, err %v", ids, err)
	}
}

func svc(name, id string, port int) *registry.Service {
	return &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", port)}}}
}

// TestCrash: a node whose owner stops heart-beating without deregistering
// leaves GetService and watchers when its TTL lapses, though consul still
// has it in its catalog (critical) until it reaps it a minute later. For a
// TTL node the crash is simply no further Register; for a node without
// TTL, Close of its registry (which stops the keeper) is the crash.
func TestCrash(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	observer := testRegistry(t, a.Addr())
	catalog := a.Client()
	const ttl = 2 * time.Second

	tests := []struct {
		name     string
		opts     []registry.Option
		register []registry.RegisterOption
		crash    func(r *consulRegistry)
	}{
		{"ttl node stops registering", nil, []registry.RegisterOption{registry.RegisterTTL(ttl)}, func(*consulRegistry) {}},
		{"node without ttl: its process dies", []registry.Option{KeepaliveTTL(ttl)}, nil, func(r *consulRegistry) { _ = r.Close() }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("crash-%d", i)
			events := watchStream(t, observer, registry.WatchService(name))
			owner := testRegistry(t, a.Addr(), tc.opts...)
			s := svc(name, "victim", 1000+i)
			// Registered, then registered again as a server does: the
			// second is a heartbeat.
			for range 2 {
				if err := owner.Register(t.Context(), s, tc.register...); err != nil {
					t.Fatal(err)
				}
			}
			expectEvent(t, events, 20*time.Second, registry.Create, name, "victim")
			tc.crash(owner)
			crashed := time.Now()
			expectEvent(t, events, ttl+20*time.Second, registry.Delete, name, "victim")
			eventually(t, "node gone from GetService", 20*time.Second, isGone(t, observer, name))
			t.Logf("gone %v after the last heartbeat (TTL %v)", time.Since(crashed).Round(time.Millisecond), ttl)
			// Consul still has it: GetService filters on health.
			entries, _, err := catalog.Catalog().Service(name, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("consul's catalog has %d instances of %s, want the critical one", len(entries), name)
			}
		})
	}
}

// TestCrashReaped checks that consul itself removes a crashed node after
// DeregisterCriticalAfter (consul's minimum, one minute, and its reaper
// runs every 30s: this takes 60 to 90 seconds).
func TestCrashReaped(t *testing.T) {
	if testing.Short() {
		t.Skip("takes consul's one-minute minimum plus its 30s reap interval")
	}
	t.Parallel()
	a := consultest.Start(t)
	owner := testRegistry(t, a.Addr(), DeregisterCriticalAfter(time.Second))
	if err := owner.Register(t.Context(), svc("reaped", "victim", 1000), registry.RegisterTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	catalog := a.Client()
	start := time.Now()
	eventually(t, "consul deregistering the crashed node", 3*time.Minute, func() error {
		entries, _, err := catalog.Catalog().Service("reaped", "", nil)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%d instances in the catalog", len(entries))
		}
		return nil
	})
	t.Logf("consul reaped the node %v after its registration (TTL 1s)", time.Since(start).Round(time.Second))
}

// TestAgentRestart restarts the consul agent (same ports; in dev mode it
// loses every service) under registered nodes. The plugin's keepers
// register them again by themselves; a Register (go-micro's server renews
// every interval) does so at once; watchers carry on.
func TestAgentRestart(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr(), KeepaliveTTL(3*time.Second))
	observer := testRegistry(t, a.Addr())
	const name = "restart"
	one := registry.WatchService(name)
	byName := watchStream(t, observer, one)
	all := watchStream(t, observer)

	// Kept by its keeper: a TTL node (the keeper checks every TTL/3) and a
	// node without TTL (keepalive). The third node's keeper will not look
	// before the test ends: only Register brings it back.
	if err := r.Register(t.Context(), svc(name, "ttl", 1001), registry.RegisterTTL(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc(name, "plain", 1002)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc(name, "renewed", 1003), registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ttl", "plain", "renewed"} {
		expectEvent(t, byName, 20*time.Second, registry.Create, name, id)
		expectEvent(t, all, 20*time.Second, registry.Create, name, id)
	}

	a.Restart()
	restarted := time.Now()
	if ids, err := nodesOf(t, observer, name); err == nil && len(ids) == 3 {
		t.Logf("every node was back before the first look (%v)", ids)
	}
	// The server's renewal: Register finds the check gone and registers
	// the node again.
	if err := r.Register(t.Context(), svc(name, "renewed", 1003), registry.RegisterTTL(time.Hour)); err != nil {
		t.Fatalf("Register after the restart: %v", err)
	}
	// The keepers bring back the others within a third of their TTL.
	eventually(t, "every node back after the restart", 40*time.Second, hasNodes(t, observer, name, "plain", "renewed", "ttl"))
	t.Logf("all nodes back %v after the agent restarted", time.Since(restarted).Round(time.Millisecond))

	// The watchers survived the restart: a new node reaches both.
	if err := r.Register(t.Context(), svc(name, "after", 1004)); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, byName, 30*time.Second, registry.Create, name, "after")
	expectEvent(t, all, 30*time.Second, registry.Create, name, "after")
}

// TestAgentDownAtStart: with no agent, NewRegistry works (it does not
// dial), Register and Watch fail with errors that name the agent, and
// Register works once the agent is up.
func TestAgentDownAtStart(t *testing.T) {
	t.Parallel()
	a := consultest.New(t)
	r := testRegistry(t, a.Addr())
	s := svc("late", "n", 1000)
	err := r.Register(t.Context(), s, registry.RegisterTTL(time.Minute))
	if err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Fatalf("Register with the agent down = %v, want an error naming %s", err, a.Addr())
	}
	t.Logf("agent down: %v", err)
	if _, err := r.Watch(t.Context()); err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Fatalf("Watch with the agent down = %v, want an error naming %s", err, a.Addr())
	}
	a.Start()
	if err := r.Register(t.Context(), s, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatalf("Register once the agent is up: %v", err)
	}
	eventually(t, "the node registered", 20*time.Second, hasNodes(t, r, "late", "n"))
}

// TestFailover: with several addresses, calls go to one that answers.
func TestFailover(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, closedAddr(t), registry.Addrs(closedAddr(t), a.Addr()))
	if err := r.Register(t.Context(), svc("failover", "n", 1000)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	eventually(t, "the node registered", 20*time.Second, hasNodes(t, r, "failover", "n"))
	if err := r.Deregister(t.Context(), svc("failover", "n", 1000)); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	eventually(t, "the node gone", 20*time.Second, isGone(t, r, "failover"))
}

// TestLargeService registers a service with 400 endpoints (660 KB of JSON,
// 20 KB encoded over 40 metadata values) and reads it back intact.
func TestLargeService(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	big := bigService("large", 400)
	big.Nodes = append(big.Nodes, &registry.Node{Id: "big-2", Address: "127.0.0.1:9001"})
	if err := r.Register(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	var got []*registry.Service
	eventually(t, "both nodes", 20*time.Second, func() error {
		var err error
		got, err = r.GetService(t.Context(), "large")
		if err == nil && (len(got) != 1 || len(got[0].Nodes) != 2) {
			err = fmt.Errorf("got %d versions", len(got))
		}
		return err
	})
	if g, w := canonical(t, got[0]), canonical(t, big); g != w {
		t.Errorf("large service did not round-trip (%d vs %d bytes of JSON)", len(g), len(w))
	}

	// Too large: an error, and nothing registered (not even the node that
	// fits, which comes first).
	huge := svc("huge", "fits", 1000)
	huge.Nodes = append(huge.Nodes, &registry.Node{Id: "too-big", Metadata: map[string]string{"noise": noise(40000)}})
	if err := r.Register(t.Context(), huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Register(huge) = %v, want ErrTooLarge", err)
	}
	entries, _, err := a.Client().Catalog().Service("huge", "", nil)
	if err != nil || len(entries) != 0 {
		t.Fatalf("after a failed Register the catalog has %d instances of huge (err %v)", len(entries), err)
	}
}

// TestForeignInstances: consul services not written by the plugin, or
// with metadata it cannot read, are left out.
func TestForeignInstances(t *testing.T) {
	t.Parallel()
	a := consultest.Start(t)
	r := testRegistry(t, a.Addr())
	c := a.Client()
	for _, reg := range []*api.AgentServiceRegistration{
		{ID: "plain", Name: "mixed", Port: 80},
		{ID: "broken", Name: "mixed", Tags: []string{tagMicro, tagVersionPrefix + "1"}, Meta: map[string]string{metaFormat: formatVersion, "micro_0": "!!"}},
	} {
		if err := c.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}
	w := watchStream(t, r)
	if err := r.Register(t.Context(), svc("mixed", "mine", 1000)); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, 20*time.Second, registry.Create, "mixed", "mine")
	eventually(t, "only the plugin's node", 20*time.Second, hasNodes(t, r, "mixed", "mine"))
}
