package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

// stalling wraps a registry: while stalled, each GetService blocks until
// released (or, unless deaf, until its context ends) and then answers with
// what the registry holds at that moment, or with the error set by fail.
type stalling struct {
	registry.Registry
	deaf bool // GetService ignores the end of its context

	calls   atomic.Int64 // GetService calls begun
	blocked atomic.Int64 // calls waiting to be released
	ctxEnds atomic.Int64 // calls ended by their context

	mu   sync.Mutex
	gate chan struct{} // nil: GetService does not block
	err  error
}

// stall makes the following GetService calls block until release.
func (s *stalling) stall(t *testing.T) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	release = sync.OnceFunc(func() {
		s.mu.Lock()
		s.gate = nil
		s.mu.Unlock()
		close(gate)
	})
	t.Cleanup(release) // before the cache's Close, which may wait for it
	return release
}

// fail makes GetService return err (nil: the registry's answer).
func (s *stalling) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *stalling) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	s.calls.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		s.blocked.Add(1)
		done := ctx.Done()
		if s.deaf {
			done = nil
		}
		select {
		case <-gate:
			s.blocked.Add(-1)
		case <-done:
			s.blocked.Add(-1)
			s.ctxEnds.Add(1)
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Registry.GetService(ctx, name, opts...)
}

// staleCache returns a cache over a stalling memory registry whose
// "greeter" (node a) it has fetched, with the clock moved past the TTL.
// Its watches report nothing: only the TTL and invalidations refetch.
func staleCache(t *testing.T, deaf bool, opts ...Option) (*Cache, *stalling, registry.Registry, *clock) {
	t.Helper()
	m := memory.New()
	s := &stalling{Registry: m, deaf: deaf}
	f := newFlaky(s)
	f.silent = true
	clk := newClock()
	opts = append([]Option{withClock(clk.Now), TTL(time.Minute), Backoff(time.Hour, time.Hour)}, opts...)
	c := newCache(t, f, opts...)
	register(t, m, svc("greeter", "a"))
	mustIDs(t, c, "greeter", "a")
	clk.Advance(2 * time.Minute)
	return c, s, m, clk
}

var errWaited = errors.New("test: GetService waited for a held fetch")

// answerNow calls GetService on another goroutine and, if it does not
// return, marks the test failed and returns errWaited: it must not wait for
// the fetch the test holds. It may run on any goroutine.
func answerNow(t *testing.T, c *Cache, name string) ([]*registry.Service, error) {
	t.Helper()
	type answer struct {
		ss  []*registry.Service
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		ss, err := c.GetService(t.Context(), name)
		ch <- answer{ss, err}
	}()
	select {
	case a := <-ch:
		return a.ss, a.err
	case <-time.After(deadline):
		t.Errorf("GetService(%s) waited for a fetch the test holds", name)
		return nil, errWaited
	}
}

func waitBlocked(t *testing.T, s *stalling, want int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d fetches blocked", want), func() error {
		if n := s.blocked.Load(); n != want {
			return fmt.Errorf("%d blocked", n)
		}
		return nil
	})
}

// state returns what the cache records of name under its lock.
func state(c *Cache, name string) (failures int, revalidating, lockFree bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[name]
	if e == nil {
		return 0, false, false
	}
	return e.failures, e.bg != nil, e.pub.Load() != nil
}

func TestStaleWhileRevalidate(t *testing.T) {
	cases := []struct {
		name    string
		outcome func(t *testing.T, m registry.Registry, s *stalling)
		check   func(t *testing.T, c *Cache, s *stalling, clk *clock)
	}{
		{
			name:    "refetch applied",
			outcome: func(t *testing.T, m registry.Registry, _ *stalling) { register(t, m, svc("greeter", "a", "b")) },
			check: func(t *testing.T, c *Cache, _ *stalling, _ *clock) {
				waitIDs(t, c, "greeter", "a", "b")
			},
		},
		{
			name:    "refetch fails",
			outcome: func(_ *testing.T, _ registry.Registry, s *stalling) { s.fail(errDown) },
			check: func(t *testing.T, c *Cache, s *stalling, clk *clock) {
				eventually(t, "failure recorded", func() error {
					if f, bg, _ := state(c, "greeter"); f != 1 || bg {
						return fmt.Errorf("%d failures, refetch running %v", f, bg)
					}
					return nil
				})
				// The stale nodes stay, and no refetch starts before the
				// backoff allows.
				for range 3 {
					mustIDs(t, c, "greeter", "a")
				}
				if n := s.calls.Load(); n != 1 {
					t.Fatalf("%d fetches within the backoff, want 1", n)
				}
				s.fail(nil)
				clk.Advance(2 * time.Hour)
				if ss, err := answerNow(t, c, "greeter"); err != nil || !slices.Equal(ids(ss), []string{"a"}) {
					t.Fatalf("after the backoff: %v, %v; want the stale [a]", ids(ss), err)
				}
				eventually(t, "refetch after the backoff", func() error {
					if n := s.calls.Load(); n != 2 {
						return fmt.Errorf("%d fetches", n)
					}
					return nil
				})
			},
		},
		{
			name: "service gone",
			outcome: func(t *testing.T, m registry.Registry, _ *stalling) {
				deregister(t, m, svc("greeter", "a"))
			},
			check: func(t *testing.T, c *Cache, _ *stalling, _ *clock) {
				waitIDs(t, c, "greeter") // not found: the gone nodes are not served
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s, m, clk := staleCache(t, false)
			_, gen, err := c.Snapshot(t.Context(), "greeter")
			if err != nil {
				t.Fatal(err)
			}
			s.calls.Store(0)
			release := s.stall(t)

			// Concurrent callers past the TTL: each gets the stale answer
			// while the one refetch they started is held.
			const readers = 16
			var wg sync.WaitGroup
			for range readers {
				wg.Go(func() {
					ss, err := answerNow(t, c, "greeter")
					if err != nil || !slices.Equal(ids(ss), []string{"a"}) {
						t.Errorf("stale read: %v, %v; want [a]", ids(ss), err)
						return
					}
					ss[0].Nodes[0].Address = "changed" // a copy: the cache keeps its own
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			waitBlocked(t, s, 1)
			if _, bg, lockFree := state(c, "greeter"); !bg || !lockFree {
				t.Fatalf("refetch running %v, served without the lock %v; want both", bg, lockFree)
			}
			ss, g, err := c.Snapshot(t.Context(), "greeter")
			if err != nil || g != gen || ss[0].Nodes[0].Address != "127.0.0.1:9000" {
				t.Fatalf("Snapshot while revalidating: gen %d (want %d), %+v, %v", g, gen, ss[0].Nodes[0], err)
			}
			// Readers that take the locked path (as those racing the first
			// one may) do not start another fetch either.
			for range 3 {
				c.mu.Lock()
				c.entries["greeter"].pub.Store(nil)
				c.mu.Unlock()
				if _, err := answerNow(t, c, "greeter"); err != nil {
					t.Fatal(err)
				}
			}
			if n := s.calls.Load(); n != 1 {
				t.Fatalf("%d fetches started by concurrent stale reads, want 1", n)
			}

			tc.outcome(t, m, s)
			release()
			tc.check(t, c, s, clk)
		})
	}
}

func TestNeverFetchedWaits(t *testing.T) {
	cases := []struct {
		name    string
		fail    error
		wantErr error
	}{
		{"registry down", errDown, errDown},
		{"not registered", nil, registry.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s, _, _ := staleCache(t, false)
			release := s.stall(t)
			got := make(chan error, 1)
			go func() {
				_, err := c.GetService(t.Context(), "other")
				got <- err
			}()
			waitBlocked(t, s, 1)
			select {
			case err := <-got:
				t.Fatalf("GetService of a name never fetched returned %v before its fetch", err)
			default:
			}
			s.fail(tc.fail)
			release()
			if err := <-got; !errors.Is(err, tc.wantErr) {
				t.Fatalf("GetService(other) = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestInvalidatedWaits: after a Register through the cache a caller waits
// for the fetch that follows (it reads its own write), even with a stale
// answer; once that fetch has failed, stale reads no longer wait.
func TestInvalidatedWaits(t *testing.T) {
	c, s, _, clk := staleCache(t, false)
	release := s.stall(t)
	register(t, c, svc("greeter", "b"))
	got := make(chan []string, 1)
	go func() {
		ss, err := c.GetService(t.Context(), "greeter")
		if err != nil {
			t.Errorf("GetService after Register: %v", err)
		}
		got <- ids(ss)
	}()
	waitBlocked(t, s, 1)
	select {
	case ids := <-got:
		t.Fatalf("GetService after Register returned %v before its fetch", ids)
	default:
	}
	release()
	if ids := <-got; !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("after Register: %v, want [a b]", ids)
	}

	// The fetch after the next write fails: the caller gets the last
	// answer, and once the backoff has passed a read does not wait again.
	release = s.stall(t)
	register(t, c, svc("greeter", "c"))
	go func() {
		ss, _ := c.GetService(t.Context(), "greeter")
		got <- ids(ss)
	}()
	waitBlocked(t, s, 1)
	s.fail(errDown)
	release()
	if ids := <-got; !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("after a failed fetch: %v, want the last answer [a b]", ids)
	}
	s.stall(t)
	clk.Advance(2 * time.Hour)
	if ss, err := answerNow(t, c, "greeter"); err != nil || !slices.Equal(ids(ss), []string{"a", "b"}) {
		t.Fatalf("after the backoff: %v, %v; want [a b] at once", ids(ss), err)
	}
	waitBlocked(t, s, 1)
}

func TestRevalidateTimeout(t *testing.T) {
	// The background refetch is bounded: a registry that never answers
	// fails it, the stale nodes stay and the backoff applies.
	c, s, _, _ := staleCache(t, false, FetchTimeout(time.Millisecond))
	s.stall(t)
	mustIDs(t, c, "greeter", "a")
	eventually(t, "timed-out refetch counted as a failure", func() error {
		if f, bg, _ := state(c, "greeter"); f != 1 || bg {
			return fmt.Errorf("%d failures, refetch running %v", f, bg)
		}
		return nil
	})
	if n := s.ctxEnds.Load(); n != 1 {
		t.Fatalf("%d fetches ended by their context, want 1", n)
	}
	mustIDs(t, c, "greeter", "a")
}

func TestCloseWaitsForRevalidation(t *testing.T) {
	cases := []struct {
		name string
		deaf bool // the fetch ignores its context: Close must wait for it
	}{
		{"fetch honours ctx", false},
		{"fetch ignores ctx", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s, _, _ := staleCache(t, tc.deaf)
			release := s.stall(t)
			mustIDs(t, c, "greeter", "a")
			waitBlocked(t, s, 1)

			closed := make(chan struct{})
			go func() {
				_ = c.Close()
				close(closed)
			}()
			if tc.deaf {
				eventually(t, "Close begun", func() error {
					c.mu.Lock()
					defer c.mu.Unlock()
					if !c.closed {
						return errors.New("not closed yet")
					}
					return nil
				})
				select {
				case <-closed:
					t.Fatal("Close returned while the background refetch ran")
				default:
				}
				release()
			}
			select {
			case <-closed:
			case <-time.After(deadline):
				t.Fatal("Close did not return")
			}
			if !tc.deaf {
				if n := s.ctxEnds.Load(); n != 1 {
					t.Fatalf("Close did not cancel the refetch: %d ended by ctx", n)
				}
				if f, _, _ := state(c, "greeter"); f != 0 {
					t.Fatalf("a refetch cancelled by Close counted as %d failures", f)
				}
			}
			goleak.VerifyNone(t)
		})
	}
}
