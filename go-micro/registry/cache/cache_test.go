package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

const deadline = 10 * time.Second

var errDown = errors.New("test: registry down")

// flaky wraps a registry: it counts GetService calls, can be switched to
// failing (GetService and Watch return errDown and running watches end), can
// hold GetService until released, and can silence watch events.
type flaky struct {
	registry.Registry

	gets    atomic.Int64
	watches atomic.Int64 // watchers not yet stopped
	silent  bool         // Watch returns a watcher that reports nothing
	deaf    bool         // watchers ignore the end of their context

	mu      sync.Mutex
	down    bool
	gate    chan struct{} // when set, GetService waits for it to close
	running map[*flakyWatcher]struct{}
}

func newFlaky(r registry.Registry) *flaky {
	return &flaky{Registry: r, running: make(map[*flakyWatcher]struct{})}
}

func (f *flaky) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	var ws []*flakyWatcher
	if down {
		for w := range f.running {
			ws = append(ws, w)
		}
	}
	f.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
}

func (f *flaky) hold() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	return sync.OnceFunc(func() {
		f.mu.Lock()
		f.gate = nil
		f.mu.Unlock()
		close(gate)
	})
}

func (f *flaky) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	f.gets.Add(1)
	f.mu.Lock()
	down, gate := f.down, f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if down {
		return nil, errDown
	}
	return f.Registry.GetService(ctx, name, opts...)
}

func (f *flaky) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	var inner registry.Watcher
	if !f.silent {
		var err error
		if inner, err = f.Registry.Watch(ctx, opts...); err != nil {
			return nil, err
		}
	}
	w := &flakyWatcher{f: f, inner: inner, done: make(chan struct{})}
	if !f.deaf {
		w.stopCtx = context.AfterFunc(ctx, w.Stop)
	}
	f.running[w] = struct{}{}
	f.watches.Add(1)
	return w, nil
}

type flakyWatcher struct {
	f       *flaky
	inner   registry.Watcher // nil when silent
	done    chan struct{}
	once    sync.Once
	stopCtx func() bool
}

func (w *flakyWatcher) Next() (*registry.Result, error) {
	if w.inner == nil {
		<-w.done
		return nil, registry.ErrWatcherStopped
	}
	return w.inner.Next()
}

func (w *flakyWatcher) Stop() {
	w.once.Do(func() {
		close(w.done)
		if w.inner != nil {
			w.inner.Stop()
		}
		w.f.mu.Lock()
		delete(w.f.running, w)
		w.f.mu.Unlock()
		w.f.watches.Add(-1)
		// stopCtx may still be nil if the context ended during Watch;
		// the AfterFunc then already ran.
		if w.stopCtx != nil {
			w.stopCtx()
		}
	})
}

// clock is a settable time source for TTL and retry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

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

func withClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func newCache(t *testing.T, r registry.Registry, opts ...Option) *Cache {
	t.Helper()
	opts = append([]Option{Logger(slog.New(slog.DiscardHandler))}, opts...)
	c := New(r, opts...)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func svc(name string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name, Version: "1.0"}
	for i, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{
			Id:       id,
			Address:  fmt.Sprintf("127.0.0.1:%d", 9000+i),
			Metadata: map[string]string{"id": id},
		})
	}
	return s
}

func register(t *testing.T, r registry.Registry, s *registry.Service) {
	t.Helper()
	if err := r.Register(t.Context(), s); err != nil {
		t.Fatalf("Register(%s): %v", s.Name, err)
	}
}

func deregister(t *testing.T, r registry.Registry, s *registry.Service) {
	t.Helper()
	if err := r.Deregister(t.Context(), s); err != nil {
		t.Fatalf("Deregister(%s): %v", s.Name, err)
	}
}

// ids returns the sorted node ids of ss.
func ids(ss []*registry.Service) []string {
	var out []string
	for _, s := range ss {
		for _, n := range s.Nodes {
			out = append(out, n.Id)
		}
	}
	slices.Sort(out)
	return out
}

// mustIDs asks c for name once and checks the node ids.
func mustIDs(t *testing.T, c registry.Registry, name string, want ...string) {
	t.Helper()
	ss, err := c.GetService(t.Context(), name)
	if err != nil {
		t.Fatalf("GetService(%s): %v", name, err)
	}
	if got := ids(ss); !slices.Equal(got, want) {
		t.Fatalf("GetService(%s) nodes = %v, want %v", name, got, want)
	}
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not reached within %v: %v", what, deadline, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		}
	}
}

func waitIDs(t *testing.T, c registry.Registry, name string, want ...string) {
	t.Helper()
	eventually(t, "nodes of "+name+" become "+fmt.Sprint(want), func() error {
		ss, err := c.GetService(t.Context(), name)
		if len(want) == 0 {
			if errors.Is(err, registry.ErrNotFound) {
				return nil
			}
			return fmt.Errorf("got %v, %v; want not found", ids(ss), err)
		}
		if err != nil {
			return err
		}
		if got := ids(ss); !slices.Equal(got, want) {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
}

func TestServesFromMemory(t *testing.T) {
	m := memory.New()
	f := newFlaky(m)
	c := newCache(t, f)
	register(t, m, svc("greeter", "a", "b"))

	for range 50 {
		mustIDs(t, c, "greeter", "a", "b")
	}
	if got := f.gets.Load(); got != 1 {
		t.Fatalf("underlying GetService called %d times for 50 cached reads, want 1", got)
	}
}

func TestFreshThroughWatch(t *testing.T) {
	m := memory.New()
	f := newFlaky(m)
	c := newCache(t, f) // default TTL of a minute: only the watch can refresh
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")

	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"node added", func() { register(t, m, svc("greeter", "a", "b")) }, []string{"a", "b"}},
		{"node removed", func() { deregister(t, m, svc("greeter", "a")) }, []string{"b"}},
		{"node updated", func() {
			s := svc("greeter", "b")
			s.Nodes[0].Address = "127.0.0.1:1"
			register(t, m, s)
		}, []string{"b"}},
		{"last node removed", func() { deregister(t, m, svc("greeter", "b")) }, nil},
		{"registered again", func() { register(t, m, svc("greeter", "c")) }, []string{"c"}},
	}
	for _, st := range steps {
		st.change()
		waitIDs(t, c, "greeter", st.want...)
		if st.name == "node updated" {
			eventually(t, "address update", func() error {
				ss, err := c.GetService(t.Context(), "greeter")
				if err != nil {
					return err
				}
				if a := ss[0].Nodes[0].Address; a != "127.0.0.1:1" {
					return fmt.Errorf("address %s", a)
				}
				return nil
			})
		}
	}
	if got := f.watches.Load(); got != 1 {
		t.Fatalf("%d watches running, want one per service", got)
	}
}

func TestTTLRefetch(t *testing.T) {
	m := memory.New()
	f := newFlaky(m)
	f.silent = true // no events: only the TTL can bring changes in
	clk := newClock()
	c := newCache(t, f, TTL(time.Minute), withClock(clk.Now))
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")

	register(t, m, svc("greeter", "a", "b"))
	clk.Advance(59 * time.Second)
	mustIDs(t, c, "greeter", "a") // still within the TTL: the cached answer
	if got := f.gets.Load(); got != 1 {
		t.Fatalf("underlying GetService called %d times within the TTL, want 1", got)
	}

	clk.Advance(2 * time.Second)
	// Past the TTL: the stale answer at once, refetched in the background.
	mustIDs(t, c, "greeter", "a")
	waitIDs(t, c, "greeter", "a", "b")
	if got := f.gets.Load(); got != 2 {
		t.Fatalf("underlying GetService called %d times after the TTL, want 2", got)
	}
	mustIDs(t, c, "greeter", "a", "b")
	if got := f.gets.Load(); got != 2 {
		t.Fatalf("refetched answer not cached: %d calls", got)
	}
}

func TestStaleWhenRegistryFails(t *testing.T) {
	m := memory.New()
	f := newFlaky(m)
	clk := newClock()
	c := newCache(t, f, withClock(clk.Now), Backoff(time.Millisecond, 5*time.Millisecond))
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")

	f.setDown(true)
	clk.Advance(2 * time.Minute) // past the TTL: the cache must try the registry
	before := f.gets.Load()
	for range 3 {
		mustIDs(t, c, "greeter", "a")
	}
	eventually(t, "expired entry refetched in the background", func() error {
		if f.gets.Load() == before {
			return errors.New("the registry was not asked")
		}
		return nil
	})

	// A name never fetched has nothing stale to offer.
	if _, err := c.GetService(t.Context(), "unknown"); !errors.Is(err, errDown) {
		t.Fatalf("GetService(unknown) with the registry down: %v, want %v", err, errDown)
	}

	// Changes made while the registry was unreachable arrive once it is
	// back: the watch is re-established and refetches.
	register(t, m, svc("greeter", "a", "b"))
	f.setDown(false)
	waitIDs(t, c, "greeter", "a", "b")
	waitIDs(t, c, "unknown")
}

func TestStaleWhileWatchBroken(t *testing.T) {
	// The registry stays down for GetService while watches keep failing:
	// the cache keeps answering and keeps retrying the watch.
	m := memory.New()
	f := newFlaky(m)
	c := newCache(t, f, Backoff(time.Millisecond, 2*time.Millisecond))
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")

	f.setDown(true)
	eventually(t, "watch torn down, answers still served", func() error {
		ss, err := c.GetService(t.Context(), "greeter")
		if err != nil || !slices.Equal(ids(ss), []string{"a"}) {
			return fmt.Errorf("got %v, %v", ids(ss), err)
		}
		if f.watches.Load() != 0 {
			return errors.New("watch still running")
		}
		return nil
	})
}

func TestCopySafety(t *testing.T) {
	m := memory.New()
	c := newCache(t, m)
	register(t, m, svc("greeter", "a", "b"))

	// The first answer comes from a fetch, the later ones from the cache:
	// corrupt each and check the next.
	for i := range 3 {
		ss, err := c.GetService(t.Context(), "greeter")
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 1 || ss[0].Name != "greeter" || len(ss[0].Nodes) != 2 ||
			ss[0].Nodes[0].Address != "127.0.0.1:9000" || ss[0].Nodes[0].Metadata["id"] != "a" ||
			ss[0].Nodes[1] == nil {
			t.Fatalf("read %d: cache corrupted by a caller: %+v", i, ss)
		}
		ss[0].Name = "changed"
		ss[0].Nodes[0].Address = "changed"
		ss[0].Nodes[0].Metadata["id"] = "changed"
		ss[0].Nodes[1] = nil
		ss[0].Nodes = append(ss[0].Nodes, &registry.Node{Id: "z"})
		ss[0] = nil
	}
}

func TestSingleFetch(t *testing.T) {
	cases := []struct {
		name    string
		down    bool
		wantErr error
		wantIDs []string
	}{
		{"registered", false, nil, []string{"a", "b"}},
		{"registry down", true, errDown, nil},
		{"not registered", false, registry.ErrNotFound, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := memory.New()
			f := newFlaky(m)
			c := newCache(t, f)
			name := "greeter"
			if tc.wantErr == registry.ErrNotFound {
				name = "nobody"
			}
			register(t, m, svc("greeter", "a", "b"))
			f.setDown(tc.down)
			release := f.hold()
			t.Cleanup(release)

			const n = 32
			type answer struct {
				ids []string
				err error
			}
			answers := make(chan answer, n)
			for range n {
				go func() {
					ss, err := c.GetService(t.Context(), name)
					answers <- answer{ids(ss), err}
				}()
			}
			// Release the fetch once every caller waits for it.
			eventually(t, "callers join one fetch", func() error {
				c.mu.Lock()
				defer c.mu.Unlock()
				e := c.entries[name]
				if e == nil || e.inflight == nil {
					return errors.New("no fetch in flight")
				}
				if e.inflight.joined != n-1 {
					return fmt.Errorf("%d callers joined", e.inflight.joined)
				}
				return nil
			})
			release()
			for range n {
				a := <-answers
				if tc.wantErr != nil {
					if !errors.Is(a.err, tc.wantErr) {
						t.Fatalf("error %v, want %v", a.err, tc.wantErr)
					}
					continue
				}
				if a.err != nil || !slices.Equal(a.ids, tc.wantIDs) {
					t.Fatalf("got %v, %v; want %v", a.ids, a.err, tc.wantIDs)
				}
			}
			if got := f.gets.Load(); got != 1 {
				t.Fatalf("underlying GetService called %d times for %d concurrent misses, want 1", got, n)
			}
		})
	}
}

func TestAbandonedFetch(t *testing.T) {
	// The leader's context ends during the fetch; a waiter with a live
	// context gets a real answer instead of the leader's error.
	m := memory.New()
	f := newFlaky(m)
	c := newCache(t, f)
	register(t, m, svc("greeter", "a"))
	release := f.hold()
	t.Cleanup(release)

	leaderCtx, cancel := context.WithCancel(t.Context())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.GetService(leaderCtx, "greeter")
		leaderErr <- err
	}()
	eventually(t, "leader fetching", func() error {
		if f.gets.Load() != 1 {
			return errors.New("no fetch yet")
		}
		return nil
	})
	waiter := make(chan []string, 1)
	go func() {
		ss, err := c.GetService(t.Context(), "greeter")
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiter <- ids(ss)
	}()
	eventually(t, "waiter joined", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if e := c.entries["greeter"]; e.inflight == nil || e.inflight.joined != 1 {
			return errors.New("waiter not joined")
		}
		return nil
	})
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want context.Canceled", err)
	}
	release()
	if got := <-waiter; !slices.Equal(got, []string{"a"}) {
		t.Fatalf("waiter got %v", got)
	}
}

func TestReadYourWrites(t *testing.T) {
	m := memory.New()
	c := newCache(t, m)
	register(t, c, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")
	register(t, c, svc("greeter", "b"))
	mustIDs(t, c, "greeter", "a", "b") // at once: Register invalidated
	deregister(t, c, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "b")
	deregister(t, c, svc("greeter", "b"))
	if _, err := c.GetService(t.Context(), "greeter"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("after deregistering every node: %v, want not found", err)
	}
}

func TestPassThrough(t *testing.T) {
	m := memory.New()
	c := newCache(t, m)
	register(t, c, svc("a", "1"))
	register(t, c, svc("b", "2"))
	list, err := c.ListServices(t.Context())
	if err != nil || len(list) != 2 {
		t.Fatalf("ListServices = %d services, %v", len(list), err)
	}
	w, err := c.Watch(t.Context(), registry.WatchService("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	register(t, c, svc("a", "3"))
	res, err := w.Next()
	if err != nil || res.Action != registry.Create || res.Service.Nodes[0].Id != "3" {
		t.Fatalf("Watch.Next = %+v, %v", res, err)
	}
	if got := c.String(); got != "cache(memory)" {
		t.Fatalf("String() = %q", got)
	}
	if err := c.Register(t.Context(), &registry.Service{}); !errors.Is(err, registry.ErrInvalidService) {
		t.Fatalf("Register(invalid) = %v", err)
	}
}

func TestNilRegistry(t *testing.T) {
	c := New(nil)
	defer c.Close()
	ctx := t.Context()
	if _, err := c.GetService(ctx, "x"); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("GetService: %v", err)
	}
	if err := c.Register(ctx, svc("x", "1")); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("Register: %v", err)
	}
	if err := c.Deregister(ctx, svc("x", "1")); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("Deregister: %v", err)
	}
	if _, err := c.ListServices(ctx); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("ListServices: %v", err)
	}
	if _, err := c.Watch(ctx); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("Watch: %v", err)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	m := memory.New()
	f := newFlaky(m)
	c := New(f, Backoff(time.Hour, time.Hour))
	register(t, m, svc("a", "1"))
	register(t, m, svc("b", "2"))
	for _, name := range []string{"a", "b", "missing"} {
		_, _ = c.GetService(t.Context(), name)
	}
	if got := f.watches.Load(); got != 3 {
		t.Fatalf("%d watches, want 3", got)
	}
	// One watch sits in a long backoff: Close must not wait for it.
	f.setDown(true)
	_, _ = c.GetService(t.Context(), "down")

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := f.watches.Load(); got != 0 {
		t.Fatalf("%d watches left running after Close", got)
	}
	goleak.VerifyNone(t)

	// Afterwards GetService passes through and starts nothing.
	f.setDown(false)
	before := f.gets.Load()
	mustIDs(t, c, "a", "1")
	mustIDs(t, c, "a", "1")
	if got := f.gets.Load() - before; got != 2 {
		t.Fatalf("after Close, %d underlying calls for 2 GetService, want 2", got)
	}
	goleak.VerifyNone(t)
}

func TestCloseStopsDeafWatcher(t *testing.T) {
	// A watcher that ignores its context still ends: Close stops it.
	f := newFlaky(memory.New())
	f.silent, f.deaf = true, true
	c := New(f)
	_, _ = c.GetService(t.Context(), "a")
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(deadline):
		t.Fatal("Close did not return: the watch goroutine is stuck in Next")
	}
	if got := f.watches.Load(); got != 0 {
		t.Fatalf("%d watches left running after Close", got)
	}
}

func TestBackoffBounded(t *testing.T) {
	c := New(nil, Backoff(10*time.Millisecond, 80*time.Millisecond))
	defer c.Close()
	for attempt := 1; attempt <= 40; attempt++ {
		want := min(10*time.Millisecond<<min(attempt-1, 10), 80*time.Millisecond)
		for range 20 {
			d := c.backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m := memory.New()
	c := newCache(t, m, TTL(time.Millisecond))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			name := fmt.Sprintf("svc-%d", g%2)
			for i := range 50 {
				s := svc(name, fmt.Sprintf("n%d-%d", g, i%3))
				if err := c.Register(t.Context(), s); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.GetService(t.Context(), name); err != nil && !errors.Is(err, registry.ErrNotFound) {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := c.Deregister(t.Context(), s); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
