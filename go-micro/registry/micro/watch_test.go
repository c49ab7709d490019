package micro_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
	"github.com/openmicro/go-micro/testenv"
)

// How the registry server goes away in the restart tests.
var stops = []struct {
	name string
	stop func(s *registryServer)
}{
	// As `micro server` stops: the handler ends the watch streams, then
	// the server stops gracefully.
	{"graceful", func(s *registryServer) { s.stop() }},
	// As a crash looks to the client: the streams are cut.
	{"cut", func(s *registryServer) {
		s.stopped = true
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.srv.Stop(ctx) // cuts the open streams at once
		_ = s.tr.Close()
	}},
}

// A watcher resumes by itself after the server restarts on the same
// address, reports what changed while it was away, and then the events
// that follow.
func TestWatchResumesAfterRestart(t *testing.T) {
	for _, tc := range stops {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			backend := memory.New()
			s := serve(t, backend, "127.0.0.1:0", nil)
			var logs logBuffer
			r := newClient(t, s.addr, micro.Logger(logs.logger()))

			// Known from the snapshot only.
			if err := backend.Register(ctx, svc("greeter", "1", "a", "b")); err != nil {
				t.Fatal(err)
			}
			w, err := r.Watch(ctx, registry.WatchService("greeter"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Stop)
			if err := r.Register(ctx, svc("greeter", "1", "c")); err != nil {
				t.Fatal(err)
			}
			expect(t, w, registry.Create, "greeter", "c")

			tc.stop(s)
			// While the server is down: a node goes, one comes, one moves,
			// and another service changes (which this watch ignores).
			if err := backend.Deregister(ctx, svc("greeter", "1", "a")); err != nil {
				t.Fatal(err)
			}
			if err := backend.Register(ctx, svc("greeter", "1", "d")); err != nil {
				t.Fatal(err)
			}
			moved := svc("greeter", "1", "b")
			moved.Nodes[0].Address = "127.0.0.1:9999"
			if err := backend.Register(ctx, moved); err != nil {
				t.Fatal(err)
			}
			if err := backend.Register(ctx, svc("other", "1", "x")); err != nil {
				t.Fatal(err)
			}

			// Next is waiting, reconnecting, while the server is down.
			pending := make(chan nextResult, 1)
			go func() {
				res, err := w.Next()
				pending <- nextResult{res, err}
			}()
			testenv.WaitFor(t, "the watcher to notice the server went", func() bool {
				return strings.Contains(logs.String(), "lost its stream")
			})
			serve(t, backend, s.addr, nil)

			first := testenv.Recv(t, "the first event after the restart", pending)
			if first.err != nil {
				t.Fatalf("Next after the restart: %v", first.err)
			}
			if got := ids(first.res); first.res.Action != registry.Delete || got != "a" {
				t.Fatalf("first event after the restart: %s %s, want delete a", first.res.Action, got)
			}
			expect(t, w, registry.Create, "greeter", "d")
			res := expect(t, w, registry.Update, "greeter", "b")
			if got := res.Service.Nodes[0].Address; got != "127.0.0.1:9999" {
				t.Errorf("update of b carries address %q", got)
			}

			// Events after the restart arrive live.
			if err := r.Register(ctx, svc("greeter", "1", "e")); err != nil {
				t.Fatal(err)
			}
			expect(t, w, registry.Create, "greeter", "e")
			if err := r.Deregister(ctx, svc("greeter", "1", "c")); err != nil {
				t.Fatal(err)
			}
			expect(t, w, registry.Delete, "greeter", "c")

			for _, want := range []string{
				"the watch lost its stream to the registry; reconnecting",
				"the watch reconnected to the registry",
				"address=" + s.addr,
				"service=greeter",
			} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("logs lack %q:\n%s", want, logs.String())
				}
			}
		})
	}
}

func ids(res *registry.Result) string {
	var s []string
	for _, n := range res.Service.Nodes {
		s = append(s, n.Id)
	}
	return strings.Join(s, ",")
}

// A server that comes back empty (a restarted `micro server` before the
// services register again) makes the watcher report every node it knew as
// deleted, so it never shows stale nodes; the nodes coming back are
// created again.
func TestWatchResumesOnEmptyServer(t *testing.T) {
	ctx := t.Context()
	s := serve(t, memory.New(), "127.0.0.1:0", nil)
	r := newClient(t, s.addr)
	if err := r.Register(ctx, svc("a", "1", "a1", "a2")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(ctx, svc("b", "2", "b1")); err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch(ctx) // every service
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	s.stop()
	s2 := serve(t, memory.New(), s.addr, nil)
	expect(t, w, registry.Delete, "a", "a1", "a2")
	expect(t, w, registry.Delete, "b", "b1")

	if err := r.Register(ctx, svc("b", "2", "b1")); err != nil {
		t.Fatal(err)
	}
	expect(t, w, registry.Create, "b", "b1")
	if _, err := s2.backend.GetService(ctx, "b"); err != nil {
		t.Errorf("the new server's backend: %v", err)
	}
}

// Stop, and the end of the watch's context, end a Next that is waiting
// for the server to come back.
func TestWatchStopWhileReconnecting(t *testing.T) {
	for _, how := range []string{"stop", "cancel"} {
		t.Run(how, func(t *testing.T) {
			s := serve(t, memory.New(), "127.0.0.1:0", nil)
			r := newClient(t, s.addr)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w, err := r.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			s.stop()

			pending := make(chan nextResult, 1)
			go func() {
				res, err := w.Next()
				pending <- nextResult{res, err}
			}()
			if how == "stop" {
				w.Stop()
			} else {
				cancel()
			}
			got := testenv.Recv(t, "Next to return", pending)
			if !errors.Is(got.err, registry.ErrWatcherStopped) {
				t.Fatalf("Next = %v, %v; want registry.ErrWatcherStopped", got.res, got.err)
			}
		})
	}
}

// Many watchers over one server all resume.
func TestManyWatchersResume(t *testing.T) {
	ctx := t.Context()
	backend := memory.New()
	s := serve(t, backend, "127.0.0.1:0", nil)
	var logs logBuffer
	r := newClient(t, s.addr, micro.Logger(logs.logger()))
	const n = 20
	ws := make([]registry.Watcher, n)
	for i := range ws {
		w, err := r.Watch(ctx, registry.WatchService("svc"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		ws[i] = w
	}
	s.stop()
	if err := backend.Register(ctx, svc("svc", "1", "a")); err != nil {
		t.Fatal(err)
	}
	serve(t, backend, s.addr, nil)
	for _, w := range ws {
		expect(t, w, registry.Create, "svc", "a")
	}
	// One outage, one warning and one line saying it is over.
	warns, infos := 0, 0
	for l := range strings.Lines(logs.String()) {
		switch {
		case strings.Contains(l, "level=WARN") && strings.Contains(l, "lost its stream"):
			warns++
		case strings.Contains(l, "level=INFO") && strings.Contains(l, "reconnected"):
			infos++
		}
	}
	if warns != 1 || infos != 1 {
		t.Errorf("%d watchers resuming logged %d warnings and %d infos, want 1 and 1:\n%s", n, warns, infos, logs.String())
	}
}

// Watch returns only once the server has started watching: a change made
// right after it is seen even when the backend holds much already.
func TestWatchSeesChangesAfterReturn(t *testing.T) {
	ctx := t.Context()
	backend := memory.New()
	for i := range 200 {
		if err := backend.Register(ctx, svc("bulk", "1", string(rune('A'+i%26))+time.Duration(i).String())); err != nil {
			t.Fatal(err)
		}
	}
	s := serve(t, backend, "127.0.0.1:0", nil)
	r := newClient(t, s.addr)
	for range 20 {
		w, err := r.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := backend.Register(ctx, svc("late", "1", "z")); err != nil {
			t.Fatal(err)
		}
		expect(t, w, registry.Create, "late", "z")
		if err := backend.Deregister(ctx, svc("late", "1", "z")); err != nil {
			t.Fatal(err)
		}
		expect(t, w, registry.Delete, "late", "z")
		w.Stop()
	}
}

// countingRegistry counts the watchers open on the registry it wraps.
type countingRegistry struct {
	registry.Registry
	open atomic.Int32
}

func (c *countingRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	w, err := c.Registry.Watch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedWatcher{Watcher: w, stop: sync.OnceFunc(func() { c.open.Add(-1) })}, nil
}

type countedWatcher struct {
	registry.Watcher
	stop func()
}

func (w *countedWatcher) Stop() {
	w.Watcher.Stop()
	w.stop()
}

// Watchers whose context ends, without Stop, release their watches on
// the server; Next then returns registry.ErrWatcherStopped.
func TestWatchContextEndReleasesServer(t *testing.T) {
	backend := &countingRegistry{Registry: memory.New()}
	s := serve(t, backend, "127.0.0.1:0", nil)
	r := newClient(t, s.addr)
	ctx, cancel := context.WithCancel(t.Context())
	const n = 50
	ws := make([]registry.Watcher, n)
	for i := range ws {
		w, err := r.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	if got := backend.open.Load(); got != n {
		t.Fatalf("%d backend watchers open for %d watches", got, n)
	}
	cancel()
	testenv.WaitFor(t, "the server to stop the backend watchers of watches whose context ended", func() bool {
		return backend.open.Load() == 0
	})
	for _, w := range ws {
		if _, err := next(t, w); !errors.Is(err, registry.ErrWatcherStopped) {
			t.Fatalf("Next after the context ended: %v; want registry.ErrWatcherStopped", err)
		}
	}
}

// A registry service that refuses watches (its handler is closed, the
// server shutting down) makes Watch fail with the service's reason, even
// when the refusal comes before the request is sent.
func TestWatchRefused(t *testing.T) {
	s := serve(t, memory.New(), "127.0.0.1:0", nil)
	if err := handler.Close(s.h); err != nil {
		t.Fatal(err)
	}
	r := newClient(t, s.addr)
	for range 20 {
		w, err := r.Watch(t.Context())
		if w != nil {
			w.Stop()
		}
		if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable: watch: the registry is shutting down") {
			t.Fatalf("Watch of a closed registry handler: %v; want the 503 saying it is shutting down", err)
		}
	}
}
