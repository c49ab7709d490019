package testenv

import (
	"sync"
	"testing"
	"time"
)

// Patience is how long the waiting helpers wait before failing a test: far
// longer than anything takes on a loaded machine, so a failure means the
// awaited event never came, not that it came late.
const Patience = 10 * time.Second

// WaitFor polls cond until it holds, failing the test after [Patience] or
// when the test's context ends.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-time.After(time.Millisecond):
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		}
	}
}

// Wait waits for ch to be closed (or to yield a value), failing the test
// after [Patience].
func Wait(t testing.TB, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(Patience):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Recv receives from ch, failing the test after [Patience].
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Patience):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// Group tracks goroutines that the code under test starts on the test's
// behalf, such as transport Accept handlers: each calls Enter first and
// Leave last. Unlike a bare sync.WaitGroup, Enter refuses (returns false)
// once Wait has begun, so no Add ever races with Wait. The zero value is
// ready to use.
type Group struct {
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// Enter registers a goroutine; when it returns false the goroutine must
// return at once without calling Leave.
func (g *Group) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	return true
}

// Leave marks an entered goroutine done.
func (g *Group) Leave() { g.wg.Done() }

// Wait stops new goroutines from entering and waits for those that did.
func (g *Group) Wait() {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	g.wg.Wait()
}
