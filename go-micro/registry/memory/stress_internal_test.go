package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
)

// tally is what one watcher saw of one node: the actions in order.
type tally map[string][]registry.Action // "service/node" -> actions

// watchdog stops w if the test has not finished with it within 30s, so
// that a Next waiting for an event that never comes returns an error.
func watchdog(t *testing.T, w registry.Watcher) {
	timer := time.AfterFunc(30*time.Second, w.Stop)
	t.Cleanup(func() { timer.Stop() })
}

// nextDirect is Next under a watchdog: a stop means the events ran dry.
func nextDirect(t *testing.T, w registry.Watcher) *registry.Result {
	t.Helper()
	res, err := w.Next()
	if err != nil {
		t.Fatalf("Next: %v (watchdog: no event within 30s?)", err)
	}
	return res
}

// collect reads w until it sees the Create of node stop in service
// stopSvc, and returns what it saw before.
func collect(t *testing.T, w registry.Watcher, stopSvc, stop string) tally {
	t.Helper()
	seen := tally{}
	for {
		res, err := w.Next()
		if err != nil {
			t.Errorf("Next: %v (watchdog: no event within 30s?)", err)
			return seen
		}
		for _, n := range res.Service.Nodes {
			if n.Id == stop {
				if res.Service.Name == stopSvc {
					return seen
				}
				continue // another watch's marker
			}
			k := res.Service.Name + "/" + n.Id
			seen[k] = append(seen[k], res.Action)
		}
	}
}

// TestWritersWatchersExact: 50 writers change their own nodes while 10
// watchers of everything and filtered watchers of names that are prefixes
// of one another read; every watcher must see exactly every change of
// interest, in order per node.
func TestWritersWatchersExact(t *testing.T) {
	const writers, nodesPer, rounds = 50, 3, 10
	names := []string{"greeter", "greeter.v2", "greeter.v2.admin"}
	ctx := t.Context()
	r := New()

	type watch struct {
		filter string
		out    chan tally
	}
	var watches []watch
	start := func(filter string) {
		var opts []registry.WatchOption
		if filter != "" {
			opts = append(opts, registry.WatchService(filter))
		}
		w, err := r.Watch(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		watchdog(t, w)
		out := make(chan tally, 1)
		watches = append(watches, watch{filter, out})
		stopSvc := filter
		if stopSvc == "" {
			stopSvc = "marker"
		}
		go func() { out <- collect(t, w, stopSvc, "end") }()
	}
	for range 10 {
		start("")
	}
	for _, n := range names {
		start(n)
	}

	var wg sync.WaitGroup
	for g := range writers {
		name := names[g%len(names)]
		wg.Go(func() {
			for round := range rounds {
				var ns []*registry.Node
				for i := range nodesPer {
					ns = append(ns, &registry.Node{Id: fmt.Sprintf("w%d-%d", g, i), Address: "127.0.0.1:1"})
				}
				s := &registry.Service{Name: name, Version: "1", Nodes: ns}
				for range 2 { // Create, then a heartbeat that yields nothing
					if err := r.Register(ctx, s, registry.RegisterTTL(time.Hour)); err != nil {
						t.Error(err)
					}
				}
				moved := registry.Copy(s)
				for _, n := range moved.Nodes {
					n.Address = fmt.Sprintf("127.0.0.1:%d", 2+round)
				}
				if err := r.Register(ctx, moved); err != nil { // Update, and no TTL any more
					t.Error(err)
				}
				if err := r.Deregister(ctx, s); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, n := range append(names, "marker") {
		if err := r.Register(ctx, &registry.Service{Name: n, Nodes: []*registry.Node{{Id: "end"}}}); err != nil {
			t.Fatal(err)
		}
	}

	want := make([]registry.Action, 0, 3*rounds)
	for range rounds {
		want = append(want, registry.Create, registry.Update, registry.Delete)
	}
	for i, wt := range watches {
		var seen tally
		select {
		case seen = <-wt.out:
		case <-time.After(30 * time.Second):
			t.Fatalf("watcher %d (%q) did not see its end marker", i, wt.filter)
		}
		expected := 0
		for g := range writers {
			name := names[g%len(names)]
			if wt.filter != "" && wt.filter != name {
				continue
			}
			for n := range nodesPer {
				expected++
				k := fmt.Sprintf("%s/w%d-%d", name, g, n)
				if got := seen[k]; !slices.Equal(got, want) {
					t.Fatalf("watcher %d (%q): node %s saw %v, want %v", i, wt.filter, k, got, want)
				}
			}
		}
		if len(seen) != expected {
			t.Fatalf("watcher %d (%q): saw %d nodes, want %d (events of other services leaked in?)", i, wt.filter, len(seen), expected)
		}
	}
}

// TestMassExpiry: thousands of nodes with a short TTL expire together while
// a node without TTL stays; every watcher sees each Delete once, the
// service with only TTL nodes leaves ListServices, and the timer
// goroutines go away.
func TestMassExpiry(t *testing.T) {
	const n = 3000
	ctx := t.Context()
	r := New().(*memoryRegistry)
	base := runtime.NumGoroutine()

	var ws []registry.Watcher
	for range 3 {
		w, err := r.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		watchdog(t, w)
		ws = append(ws, w)
	}
	mixed := &registry.Service{Name: "mixed", Nodes: []*registry.Node{{Id: "stays"}}}
	if err := r.Register(ctx, mixed); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := "mixed"
		if i%2 == 0 {
			name = "gone"
		}
		s := &registry.Service{Name: name, Nodes: []*registry.Node{{Id: fmt.Sprint(i)}}}
		if err := r.Register(ctx, s, registry.RegisterTTL(time.Duration(1+i%5)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range ws {
		deleted := make(map[string]int)
		created := 0
		for len(deleted) < n {
			res := nextDirect(t, w)
			for _, node := range res.Service.Nodes {
				switch res.Action {
				case registry.Create:
					created++
				case registry.Delete:
					deleted[res.Service.Name+"/"+node.Id]++
				default:
					t.Fatalf("watcher %d: unexpected %s", i, brief(res))
				}
			}
		}
		if created != n+1 {
			t.Fatalf("watcher %d: %d creates, want %d", i, created, n+1)
		}
		for k, c := range deleted {
			if c != 1 || k == "mixed/stays" {
				t.Fatalf("watcher %d: %s deleted %d times", i, k, c)
			}
		}
	}
	ss, err := r.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Name != "mixed" || len(ss[0].Nodes) != 1 || ss[0].Nodes[0].Id != "stays" {
		t.Fatalf("ListServices after expiry = %v, want only mixed with node stays", ss)
	}
	if _, err := r.GetService(ctx, "gone"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService(gone) after expiry: %v", err)
	}
	if _, _, timers := r.counts(); timers != 0 {
		t.Fatalf("%d timers left", timers)
	}
	testenv.WaitFor(t, "timer goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

// TestReplayMatchesState: writers race registrations with and without
// short TTLs, refreshes, moves and deregistrations over a few shared node
// ids. Replaying what a watcher saw must be a valid history (Create only of
// an absent node, Update and Delete only of a present one: an expiry racing
// a Deregister or a refresh yields no second Delete) and must end in the
// registry's final state.
func TestReplayMatchesState(t *testing.T) {
	const writers, ops = 8, 400
	ids := []string{"a", "b", "c", "d"}
	ctx := t.Context()
	r := New()
	w, err := r.Watch(ctx, registry.WatchService("s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	type state map[string]string // id -> address
	replayed := make(chan state, 1)
	failed := make(chan string, 1)
	go func() {
		st := state{}
		for {
			res, err := w.Next()
			if err != nil {
				failed <- err.Error()
				return
			}
			for _, n := range res.Service.Nodes {
				if n.Id == "end" {
					replayed <- st
					return
				}
				_, present := st[n.Id]
				switch {
				case res.Action == registry.Create && !present,
					res.Action == registry.Update && present:
					st[n.Id] = n.Address
				case res.Action == registry.Delete && present:
					delete(st, n.Id)
				default:
					failed <- fmt.Sprintf("%s of node %s, present=%v", res.Action, n.Id, present)
					return
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range ops {
				id := ids[rng.IntN(len(ids))]
				s := &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", rng.IntN(3))}}}
				var err error
				switch rng.IntN(4) {
				case 0:
					err = r.Deregister(ctx, s)
				case 1:
					err = r.Register(ctx, s)
				default:
					err = r.Register(ctx, s, registry.RegisterTTL(time.Duration(rng.IntN(300))*time.Microsecond))
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// Settle: no TTL anywhere any more, so nothing changes after this.
	final := &registry.Service{Name: "s"}
	for _, id := range ids {
		final.Nodes = append(final.Nodes, &registry.Node{Id: id, Address: "127.0.0.1:9"})
	}
	if err := r.Register(ctx, final); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctx, &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "end"}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-replayed:
		want := state{}
		for _, id := range ids {
			want[id] = "127.0.0.1:9"
		}
		if fmt.Sprint(st) != fmt.Sprint(want) {
			t.Fatalf("replayed state %v, want %v", st, want)
		}
	case msg := <-failed:
		t.Fatalf("invalid history: %s", msg)
	case <-time.After(30 * time.Second):
		t.Fatal("watcher did not reach the end marker")
	}
}

// TestTTLChanges: registering again with another TTL replaces the old one.
// Timing is never asserted: a canary registered with the short TTL after
// the change shows that the short TTL has passed.
func TestTTLChanges(t *testing.T) {
	const short = 5 * time.Millisecond
	tests := []struct {
		name   string
		first  time.Duration
		second time.Duration
		stays  bool
	}{
		{"short then long", short, time.Hour, true},
		{"short then none", short, 0, true},
		{"short then negative", short, -time.Second, true},
		{"long then short", time.Hour, short, false},
		{"none then short", 0, short, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			r := New().(*memoryRegistry)
			w, err := r.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Stop)
			if err := r.Register(ctx, svc("s", "a"), registry.RegisterTTL(tc.first)); err != nil {
				t.Fatal(err)
			}
			if err := r.Register(ctx, svc("s", "a"), registry.RegisterTTL(tc.second)); err != nil {
				t.Fatal(err)
			}
			if err := r.Register(ctx, svc("canary", "c"), registry.RegisterTTL(short)); err != nil {
				t.Fatal(err)
			}
			for i, w1 := range []string{"create s a", "create canary c"} {
				if got := brief(nextOf(t, w)); got != w1 {
					t.Fatalf("event %d = %q, want %q", i, got, w1)
				}
			}
			// Both short timers may fire at once; their order is free.
			want := []string{"delete canary c"}
			if !tc.stays {
				want = append(want, "delete s a")
			}
			var got []string
			for range want {
				got = append(got, brief(nextOf(t, w)))
			}
			// Nothing else: the marker comes next.
			if err := r.Register(ctx, svc("marker", "m")); err != nil {
				t.Fatal(err)
			}
			if m := brief(nextOf(t, w)); m != "create marker m" {
				got = append(got, m)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("events after the canary's create: %q, want %q", got, want)
			}
			_, err = r.GetService(ctx, "s")
			if tc.stays && err != nil {
				t.Fatalf("node a gone after its TTL was changed to %v: %v", tc.second, err)
			}
			r.mu.Lock()
			r.deregister("s", "", []string{"a"})
			r.mu.Unlock()
		})
	}
}

// TestWatcherStopRaces: Stop racing Next, racing the end of the watch
// context and racing writers; every watcher ends, Next reports the stop
// and the registry forgets every watcher.
func TestWatcherStopRaces(t *testing.T) {
	ctx := t.Context()
	r := New().(*memoryRegistry)
	var writers sync.WaitGroup
	quit := make(chan struct{})
	for g := range 4 {
		writers.Go(func() {
			s := svc(fmt.Sprintf("s%d", g), "a")
			for {
				select {
				case <-quit:
					return
				default:
				}
				if err := r.Register(ctx, s); err != nil {
					t.Error(err)
				}
				if err := r.Deregister(ctx, s); err != nil {
					t.Error(err)
				}
			}
		})
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wctx, cancel := context.WithCancel(ctx)
		w, err := r.Watch(wctx)
		if err != nil {
			t.Fatal(err)
		}
		readerDone := make(chan error, 1)
		go func() {
			for {
				if _, err := w.Next(); err != nil {
					readerDone <- err
					return
				}
			}
		}()
		// Stop and cancel from other goroutines, in either order or both.
		switch i % 3 {
		case 0:
			wg.Go(w.Stop)
		case 1:
			wg.Go(cancel)
		default:
			wg.Go(w.Stop)
			wg.Go(cancel)
		}
		select {
		case err := <-readerDone:
			if !errors.Is(err, registry.ErrWatcherStopped) {
				t.Fatalf("Next = %v, want ErrWatcherStopped", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Next did not return within 10s of Stop or cancel")
		}
		w.Stop()
		cancel()
	}
	close(quit)
	writers.Wait()
	wg.Wait()
	testenv.WaitFor(t, "every watcher to leave the registry", func() bool {
		_, n, _ := r.counts()
		return n == 0
	})
}
