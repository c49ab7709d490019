package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

func withWatchWait(d time.Duration) Option { return func(o *options) { o.watchWait = d } }

// closeWithin runs c.Close and fails the test with every goroutine's stack
// if it has not returned by the deadline. It may run on any goroutine.
func closeWithin(t *testing.T, c *Cache) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		_ = c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(deadline):
		var sb strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
		t.Errorf("Close did not return within %v; goroutines:\n%s", deadline, sb.String())
	}
}

// gated wraps a registry: Watch waits until the gate opens (honouring its
// context unless deaf, in which case it waits for the gate alone, as a
// registry that ignores its context would) and every watcher it hands out
// is counted until stopped. A deaf registry's watchers only end on Stop.
type gated struct {
	registry.Registry
	deaf   bool
	dawdle bool // Watch yields the processor a few times before it returns

	gate    chan struct{}
	waiting atomic.Int64 // Watch calls waiting at the gate
	live    atomic.Int64 // watchers handed out and not stopped
	late    atomic.Int64 // watchers handed out after their context ended
}

func newGated(r registry.Registry, deaf bool) *gated {
	return &gated{Registry: r, deaf: deaf, gate: make(chan struct{})}
}

func (g *gated) open() { close(g.gate) }

func (g *gated) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	if g.deaf {
		<-g.gate
	} else {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if g.dawdle {
		for range rand.IntN(8) {
			runtime.Gosched()
		}
	}
	watchCtx := ctx
	if g.deaf {
		watchCtx = context.Background()
	}
	inner, err := g.Registry.Watch(watchCtx, opts...)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		g.late.Add(1)
	}
	g.live.Add(1)
	return &gatedWatcher{g: g, inner: inner}, nil
}

type gatedWatcher struct {
	g     *gated
	inner registry.Watcher
	once  sync.Once
}

func (w *gatedWatcher) Next() (*registry.Result, error) { return w.inner.Next() }

func (w *gatedWatcher) Stop() {
	w.once.Do(func() {
		w.inner.Stop()
		w.g.live.Add(-1)
	})
}

// TestStressCloseRacesWatch creates and closes many caches over one
// registry while GetService misses start watches on many names and the
// registry keeps changing: every Close must return, and nothing may be
// left running (TestMain checks for leaks).
func TestStressCloseRacesWatch(t *testing.T) {
	regs := []struct {
		name string
		new  func() registry.Registry
	}{
		{"memory", func() registry.Registry { return memory.New() }},
		// Watch ignores its context and dawdles, and its watchers ignore
		// it too: only Close's Stop ends them.
		{"deaf watchers", func() registry.Registry {
			g := newGated(memory.New(), true)
			g.dawdle = true
			g.open()
			return g
		}},
	}
	const (
		rounds = 8
		caches = 12
		names  = 16
		users  = 3
	)
	for _, rt := range regs {
		t.Run(rt.name, func(t *testing.T) {
			r := rt.new()
			stop := make(chan struct{})
			var churn sync.WaitGroup
			churn.Go(func() { // keeps the watches busy with events
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					s := svc(fmt.Sprintf("svc-%d", i%names), fmt.Sprintf("n%d", i%3))
					if i%2 == 0 {
						_ = r.Register(context.Background(), s)
					} else {
						_ = r.Deregister(context.Background(), s)
					}
				}
			})
			defer func() { close(stop); churn.Wait() }()

			for round := range rounds {
				var wg sync.WaitGroup
				for i := range caches {
					c := New(r, Logger(discard()), Backoff(time.Millisecond, 4*time.Millisecond), TTL(time.Millisecond))
					var users_ sync.WaitGroup
					for u := range users {
						users_.Go(func() {
							for k := range names {
								name := fmt.Sprintf("svc-%d", (k+u*5+round)%names)
								if k%3 == 0 {
									name = fmt.Sprintf("missing-%d-%d-%d", round, i, k)
								}
								_, err := c.GetService(t.Context(), name)
								if err != nil && !errors.Is(err, registry.ErrNotFound) {
									t.Errorf("GetService(%s): %v", name, err)
									return
								}
							}
						})
					}
					wg.Go(func() {
						// Close races the users' first watches: at once for
						// some caches, after a few misses for others.
						if i%3 != 0 {
							for range rand.IntN(4) {
								_, _ = c.GetService(t.Context(), fmt.Sprintf("svc-%d", rand.IntN(names)))
							}
						}
						closeWithin(t, c)
						users_.Wait()
						closeWithin(t, c) // idempotent
						c.mu.Lock()
						defer c.mu.Unlock()
						for name, e := range c.entries {
							if e.watcher != nil {
								select {
								case <-e.ctx.Done():
								default:
									t.Errorf("entry %s: context alive after Close", name)
								}
							}
						}
					})
				}
				wg.Wait()
				if t.Failed() {
					return
				}
			}
			if g, ok := r.(*gated); ok {
				eventually(t, "every watcher stopped", func() error {
					if n := g.live.Load(); n != 0 {
						return fmt.Errorf("%d watchers running", n)
					}
					return nil
				})
			}
		})
	}
}

// TestWatchBlocksUntilClose: the registry's Watch waits for its context.
// GetService still answers (it stops waiting for the watch and fetches) and
// Close ends the pending Watch.
func TestWatchBlocksUntilClose(t *testing.T) {
	m := memory.New()
	g := newGated(m, false)
	c := New(g, Logger(discard()), withWatchWait(time.Millisecond))
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")
	if _, err := c.GetService(t.Context(), "nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService(nobody) = %v, want not found", err)
	}
	if n := g.waiting.Load(); n != 2 {
		t.Fatalf("%d Watch calls pending, want 2", n)
	}
	closeWithin(t, c)
	if n, l := g.waiting.Load(), g.live.Load(); n != 0 || l != 0 {
		t.Fatalf("after Close: %d Watch calls pending, %d watchers live", n, l)
	}
}

// TestWatchReturnsAfterClose: the registry's Watch ignores its context and
// hands out a watcher (that only Stop ends) after Close has begun. Close
// waits for it and the watcher is stopped.
func TestWatchReturnsAfterClose(t *testing.T) {
	m := memory.New()
	g := newGated(m, true)
	c := New(g, Logger(discard()), withWatchWait(time.Millisecond))
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")

	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	eventually(t, "Close begun", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed {
			return errors.New("not closed yet")
		}
		return nil
	})
	g.open()
	select {
	case <-closed:
	case <-time.After(deadline):
		t.Fatal("Close did not return after the late Watch did")
	}
	if l, late := g.live.Load(), g.late.Load(); l != 0 || late != 1 {
		t.Fatalf("%d watchers live, %d handed out late; want 0 and 1", l, late)
	}
}

// TestFetchBeforeSlowWatch: the first fetch did not wait for a slow watch,
// so a change made before the watch ran is caught by a refetch once the
// watch runs (the TTL is a minute: nothing else would bring it in).
func TestFetchBeforeSlowWatch(t *testing.T) {
	m := memory.New()
	g := newGated(m, false)
	c := newCache(t, g, withWatchWait(time.Millisecond))
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")
	register(t, m, svc("greeter", "a", "b"))
	mustIDs(t, c, "greeter", "a") // cached; no watch yet
	g.open()
	waitIDs(t, c, "greeter", "a", "b")
}

func TestIdleOption(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want time.Duration
	}{
		{"default", nil, 10 * time.Minute},
		{"short TTL", []Option{TTL(time.Nanosecond)}, 10 * time.Minute},
		{"from long TTL", []Option{TTL(time.Hour)}, 5 * time.Hour},
		{"set", []Option{Idle(3 * time.Second)}, 3 * time.Second},
		{"set before TTL", []Option{Idle(3 * time.Second), TTL(time.Hour)}, 3 * time.Second},
		{"zero keeps default", []Option{Idle(0)}, 10 * time.Minute},
		{"negative keeps default", []Option{Idle(-time.Second)}, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newOptions(tt.opts...).idle; got != tt.want {
				t.Fatalf("idle = %v, want %v", got, tt.want)
			}
		})
	}
}

func entryNames(c *Cache) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name := range c.entries {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func watchesRunning(t *testing.T, f *flaky, want int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d watches running", want), func() error {
		if n := f.watches.Load(); n != want {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
}

func TestIdleEviction(t *testing.T) {
	m := memory.New()
	f := newFlaky(m)
	clk := newClock()
	// Only watch events refetch: the TTL outlasts the test's clock moves.
	c := newCache(t, f, withClock(clk.Now), TTL(24*time.Hour), Idle(5*time.Minute))
	register(t, m, svc("a", "1"))
	mustIDs(t, c, "a", "1")
	if _, err := c.GetService(t.Context(), "b"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService(b) = %v", err)
	}
	watchesRunning(t, f, 2)

	clk.Advance(4 * time.Minute)
	register(t, m, svc("a", "1", "2")) // the watch keeps a fresh
	waitIDs(t, c, "a", "1", "2")
	clk.Advance(2 * time.Minute) // a read 2 minutes ago, b 6 minutes ago
	c.sweep()
	if got := entryNames(c); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("entries after sweep: %v, want [a]", got)
	}
	watchesRunning(t, f, 1)

	// An evicted name starts afresh: a fetch and a new watch.
	register(t, m, svc("b", "9"))
	before := f.gets.Load()
	mustIDs(t, c, "b", "9")
	if f.gets.Load() != before+1 {
		t.Fatal("evicted entry served without a fetch")
	}
	watchesRunning(t, f, 2)

	// An entry whose fetch is under way is kept, however idle.
	release := f.hold()
	t.Cleanup(release)
	got := make(chan error, 1)
	go func() {
		_, err := c.GetService(t.Context(), "c")
		got <- err
	}()
	eventually(t, "fetch of c under way", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if e := c.entries["c"]; e == nil || e.inflight == nil {
			return errors.New("no fetch")
		}
		return nil
	})
	clk.Advance(time.Hour)
	c.sweep()
	if got := entryNames(c); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("entries after sweep: %v, want [c]", got)
	}
	release()
	if err := <-got; !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService(c) = %v, want not found", err)
	}
	watchesRunning(t, f, 1)
	clk.Advance(time.Hour)
	c.sweep()
	if got := entryNames(c); len(got) != 0 {
		t.Fatalf("entries after the last sweep: %v", got)
	}
	watchesRunning(t, f, 0)
}

func TestIdleEvictionRuns(t *testing.T) {
	// With the real clock and a short idle time the sweep goroutine evicts
	// on its own.
	m := memory.New()
	f := newFlaky(m)
	c := newCache(t, f, Idle(20*time.Millisecond))
	register(t, m, svc("a", "1"))
	mustIDs(t, c, "a", "1")
	eventually(t, "idle entry evicted", func() error {
		if n, names := f.watches.Load(), entryNames(c); n != 0 || len(names) != 0 {
			return fmt.Errorf("%d watches, entries %v", n, names)
		}
		return nil
	})
	mustIDs(t, c, "a", "1")
}

// TestEvictionRacesWatch evicts entries while their watches are being
// established and their fetches run.
func TestEvictionRacesWatch(t *testing.T) {
	for _, deaf := range []bool{false, true} {
		t.Run(fmt.Sprintf("deaf=%v", deaf), func(t *testing.T) {
			m := memory.New()
			f := newFlaky(m)
			f.deaf = deaf
			clk := newClock()
			c := New(f, Logger(discard()), withClock(clk.Now), Backoff(time.Millisecond, 2*time.Millisecond))
			register(t, m, svc("a", "1"))
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 200 {
						name := fmt.Sprintf("s%d", (i+g)%8)
						if i%5 == 0 {
							name = "a"
						}
						if _, err := c.GetService(t.Context(), name); err != nil && !errors.Is(err, registry.ErrNotFound) {
							t.Errorf("GetService(%s): %v", name, err)
							return
						}
					}
				})
			}
			wg.Go(func() {
				for range 200 {
					clk.Advance(time.Hour)
					c.sweep()
				}
			})
			wg.Wait()
			mustIDs(t, c, "a", "1")
			closeWithin(t, c)
			watchesRunning(t, f, 0)
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
