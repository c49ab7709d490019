package memory

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
)

// goroutinesIn counts the goroutines whose stack holds all of frames.
func goroutinesIn(frames ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		all := true
		for _, f := range frames {
			if !bytes.Contains(g, []byte(f)) {
				all = false
				break
			}
		}
		if all {
			count++
		}
	}
	return count
}

const expireFrame = "memory.(*memoryRegistry).expire("

// nextOf reads one result within 10s.
func nextOf(t *testing.T, w registry.Watcher) *registry.Result {
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
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("Next: %v", o.err)
		}
		return o.res
	case <-timer.C:
		w.Stop()
		t.Fatal("Next did not return within 10s")
		return nil
	}
}

func brief(res *registry.Result) string {
	s := string(res.Action) + " " + res.Service.Name
	for _, n := range res.Service.Nodes {
		s += " " + n.Id
	}
	return s
}

// TestExpiryRaces makes a node's timer fire while the registry lock is held,
// so that its expire call waits on the lock, and then changes the node
// under that same lock before letting expire run: the change must win.
func TestExpiryRaces(t *testing.T) {
	tests := []struct {
		name string
		// change runs with r.mu held, after the timer fired.
		change func(r *memoryRegistry)
		nodes  []string // the node ids left afterwards
		events []string // the events the change and expire yield
	}{
		{
			name:   "refresh with the same TTL",
			change: func(r *memoryRegistry) { r.register(svc("s", "a"), time.Hour) },
			nodes:  []string{"a"},
		},
		{
			name:   "refresh without TTL",
			change: func(r *memoryRegistry) { r.register(svc("s", "a"), 0) },
			nodes:  []string{"a"},
		},
		{
			name:   "deregister",
			change: func(r *memoryRegistry) { r.deregister("s", "", []string{"a"}) },
			events: []string{"delete s a"},
		},
		{
			name: "deregister and register anew",
			change: func(r *memoryRegistry) {
				r.deregister("s", "", []string{"a"})
				r.register(svc("s", "a"), time.Hour)
			},
			nodes:  []string{"a"},
			events: []string{"delete s a", "create s a"},
		},
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
			// Hold the lock from before the timer is armed until expire
			// is parked on it. (Should another test's expire be parked
			// too, the wait holds until only one is; the change then at
			// worst stops our timer in time, and the test still passes.)
			r.mu.Lock()
			locked := true
			t.Cleanup(func() { // runs before w.Stop, which needs the lock
				if locked {
					r.mu.Unlock()
				}
			})
			r.register(svc("s", "a"), time.Millisecond)
			testenv.WaitFor(t, "expire waiting on the lock", func() bool {
				return goroutinesIn(expireFrame, "sync.(*Mutex).Lock") == 1
			})
			tc.change(r)
			locked = false
			r.mu.Unlock()
			testenv.WaitFor(t, "expire to return", func() bool { return goroutinesIn(expireFrame) == 0 })

			ss, err := r.GetService(ctx, "s")
			var ids []string
			if err == nil {
				for _, n := range ss[0].Nodes {
					ids = append(ids, n.Id)
				}
			} else if !errors.Is(err, registry.ErrNotFound) {
				t.Fatal(err)
			}
			if len(ids) != len(tc.nodes) || (len(ids) > 0 && ids[0] != tc.nodes[0]) {
				t.Fatalf("nodes %v, want %v", ids, tc.nodes)
			}
			// The marker's Create comes right after the change's events:
			// expire added nothing.
			if err := r.Register(ctx, svc("marker", "m")); err != nil {
				t.Fatal(err)
			}
			want := append([]string{"create s a"}, tc.events...)
			for i, want := range append(want, "create marker m") {
				if got := brief(nextOf(t, w)); got != want {
					t.Fatalf("event %d = %q, want %q", i, got, want)
				}
			}
			// Clean up the hour-long timer.
			r.mu.Lock()
			r.deregister("s", "", []string{"a"})
			r.mu.Unlock()
		})
	}
}

func svc(name string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{Id: id, Address: "127.0.0.1:1"})
	}
	return s
}

// TestConcurrentNext: two goroutines in Next of one watcher both find the
// queue empty and are about to wait when one Register queues two events (a
// Create and an Update). Each must get one: a single wake-up token used to
// wake one reader and leave the other waiting with an event queued.
func TestConcurrentNext(t *testing.T) {
	ctx := t.Context()
	r := New().(*memoryRegistry)
	if err := r.Register(ctx, svc("s", "a")); err != nil {
		t.Fatal(err)
	}
	wi, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wi.Stop)
	w := wi.(*watcher)
	inWindow := make(chan struct{}, 2)
	release := make(chan struct{})
	w.beforeWait = func() {
		inWindow <- struct{}{}
		<-release
	}
	got := make(chan string, 2)
	for range 2 {
		go func() {
			res, err := w.Next()
			if err != nil {
				got <- err.Error()
				return
			}
			got <- brief(res)
		}()
	}
	<-inWindow
	<-inWindow
	// a moves (Update), b is new (Create): two pushes under one lock.
	moved := svc("s", "a", "b")
	moved.Nodes[0].Address = "127.0.0.1:2"
	if err := r.Register(ctx, moved); err != nil {
		t.Fatal(err)
	}
	close(release)
	seen := map[string]bool{}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for range 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-timer.C:
			w.Stop() // releases the stranded reader
			t.Fatalf("only %v delivered to two concurrent Next calls within 10s", seen)
		}
	}
	if !seen["create s b"] || !seen["update s a"] {
		t.Fatalf("got %v, want the create of b and the update of a", seen)
	}
}
