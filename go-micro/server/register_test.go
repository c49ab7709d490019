package server_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
)

// hookRegistry wraps a registry: while fail is set Register fails, every
// Register call is reported on registers (when there is room), and
// onDeregister runs after each Deregister.
type hookRegistry struct {
	registry.Registry
	fail         atomic.Bool
	registers    chan registry.RegisterOptions
	onDeregister func()
}

func newHookRegistry() *hookRegistry {
	return &hookRegistry{Registry: regmemory.New(), registers: make(chan registry.RegisterOptions, 1000)}
}

var errRegistryDown = errors.New("dial tcp 10.9.9.9:8000: connection refused")

func (h *hookRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	select {
	case h.registers <- registry.NewRegisterOptions(opts...):
	default:
	}
	if h.fail.Load() {
		return errRegistryDown
	}
	return h.Registry.Register(ctx, s, opts...)
}

func (h *hookRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	err := h.Registry.Deregister(ctx, s, opts...)
	if h.onDeregister != nil {
		h.onDeregister()
	}
	return err
}

func (h *hookRegistry) Options() registry.Options {
	return registry.Options{Addrs: []string{"10.9.9.9:8000"}}
}

func (h *hookRegistry) String() string { return "hook" }

// watch starts a watch of testService, stopped at the end of the test.
func watch(t *testing.T, r registry.Registry) registry.Watcher {
	t.Helper()
	w, err := r.Watch(context.Background(), registry.WatchService(testService))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// next returns the next watch event, failing after testenv.Patience.
func next(t *testing.T, w registry.Watcher) *registry.Result {
	t.Helper()
	ch := make(chan *registry.Result, 1)
	go func() {
		r, err := w.Next()
		if err != nil {
			r = nil
		}
		ch <- r
	}()
	r := testenv.Recv(t, "a registry event", ch)
	if r == nil {
		t.Fatal("watcher stopped")
	}
	return r
}

var uuidRE = regexp.MustCompile(`^test-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRegistration(t *testing.T) {
	hr := newHookRegistry()
	w := watch(t, hr.Registry)
	f := newFixture(t,
		server.Registry(hr),
		server.Version("1.2.3"),
		server.Metadata(map[string]string{"zone": "a", "server": "mine"}),
		server.RegisterInterval(10*time.Millisecond),
		server.RegisterTTL(time.Minute),
	)
	addr := f.start()

	res := next(t, w)
	if res.Action != registry.Create {
		t.Fatalf("first event %s", res.Action)
	}
	s := res.Service
	if s.Name != testService || s.Version != "1.2.3" || len(s.Nodes) != 1 {
		t.Fatalf("service %+v", s)
	}
	n := s.Nodes[0]
	if !uuidRE.MatchString(n.Id) || n.Id != f.srv.Options().Id {
		t.Errorf("node id %q (options %q), want test-<uuid>", n.Id, f.srv.Options().Id)
	}
	if n.Address != addr {
		t.Errorf("node address %q, want the listener's %q", n.Address, addr)
	}
	want := map[string]string{"zone": "a", "server": "rpc", "protocol": "mucp", "transport": "memory", "registry": "hook"}
	for k, v := range want {
		if n.Metadata[k] != v {
			t.Errorf("node metadata %s=%q, want %q (all: %v)", k, n.Metadata[k], v, n.Metadata)
		}
	}
	if _, ok := n.Metadata["broker"]; ok {
		t.Errorf("broker metadata without a broker: %v", n.Metadata)
	}
	var names []string
	for _, ep := range s.Endpoints {
		names = append(names, ep.Name)
		if ep.Name == "Greeter.Echo" && ep.Metadata["stream"] != "true" {
			t.Errorf("Greeter.Echo metadata %v", ep.Metadata)
		}
		if ep.Name == "Debug.Stats" && (ep.Response == nil || len(ep.Response.Values) != 6) {
			t.Errorf("Debug.Stats response shape %+v", ep.Response)
		}
	}
	if !slices.IsSorted(names) || !slices.Contains(names, "Debug.Health") || !slices.Contains(names, "Greeter.Hello") {
		t.Errorf("endpoints %v", names)
	}

	// Renewals carry the TTL.
	for range 3 {
		o := testenv.Recv(t, "a renewal", hr.registers)
		if o.TTL != time.Minute {
			t.Fatalf("registered with TTL %v, want 1m", o.TTL)
		}
	}
	// A node that disappears (as on expiry) comes back with the next renewal.
	if err := hr.Registry.Deregister(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if res := next(t, w); res.Action != registry.Delete {
		t.Fatalf("got %s, want delete", res.Action)
	}
	if res := next(t, w); res.Action != registry.Create || res.Service.Nodes[0].Id != n.Id {
		t.Fatalf("got %s %+v, want the node registered again", res.Action, res.Service.Nodes)
	}

	// Stop deregisters.
	if err := f.srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res := next(t, w); res.Action != registry.Delete {
		t.Fatalf("got %s, want delete at Stop", res.Action)
	}
	if _, err := hr.GetService(t.Context(), testService); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("after Stop: %v", err)
	}
}

func TestRegistryDownAtStart(t *testing.T) {
	hr := newHookRegistry()
	hr.fail.Store(true)
	w := watch(t, hr.Registry)
	f := newFixture(t,
		server.Registry(hr),
		server.Address("down:1"),
		server.RegisterInterval(5*time.Millisecond),
		server.RegisterTTL(time.Minute),
	)
	f.start()

	// It serves all the same.
	var rsp Response
	if err := f.client().jsonCall("Greeter.Hello", &Request{Name: "x"}, &rsp); err != nil {
		t.Fatal(err)
	}
	// It retries, and warns once.
	for range 4 {
		testenv.Recv(t, "a registration attempt", hr.registers)
	}
	warns := f.log.records(slog.LevelWarn, "")
	if len(warns) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(warns), warns)
	}
	a := attrs(warns[0])
	for k, v := range map[string]string{"registry": "hook", "registry_address": "10.9.9.9:8000", "address": "down:1", "service": testService} {
		if a[k] != v {
			t.Errorf("warning %s=%q, want %q", k, a[k], v)
		}
	}
	if !strings.Contains(warns[0].Message, "still serving") || !strings.Contains(a["error"], "connection refused") {
		t.Errorf("warning %q %v", warns[0].Message, a)
	}

	hr.fail.Store(false)
	if res := next(t, w); res.Action != registry.Create || res.Service.Nodes[0].Address != "down:1" {
		t.Fatalf("got %s %+v", res.Action, res.Service)
	}
	testenv.WaitFor(t, "the recovery log line", func() bool {
		return len(f.log.records(slog.LevelInfo, "registered with the registry again")) == 1
	})
	if n := len(f.log.records(slog.LevelWarn, "")); n != 1 {
		t.Fatalf("%d warnings after recovery, want 1", n)
	}
}

func TestRegistryFailsAgainWarnsAgain(t *testing.T) {
	hr := newHookRegistry()
	f := newFixture(t, server.Registry(hr), server.Address("flaky:1"),
		server.RegisterInterval(5*time.Millisecond), server.RegisterTTL(time.Minute))
	f.start()
	testenv.Recv(t, "the first registration", hr.registers)
	hr.fail.Store(true)
	testenv.WaitFor(t, "a warning", func() bool { return len(f.log.records(slog.LevelWarn, "cannot register")) == 1 })
	for range 3 {
		testenv.Recv(t, "a retry", hr.registers)
	}
	hr.fail.Store(false)
	testenv.WaitFor(t, "the recovery", func() bool { return len(f.log.records(slog.LevelInfo, "again")) == 1 })
	hr.fail.Store(true)
	testenv.WaitFor(t, "a second warning", func() bool { return len(f.log.records(slog.LevelWarn, "cannot register")) == 2 })
}

func TestDeregisterFailureLogged(t *testing.T) {
	hr := newHookRegistry()
	f := newFixture(t, server.Registry(&failingDeregister{hr}))
	f.start()
	if err := f.srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if recs := f.log.records(slog.LevelWarn, "cannot deregister"); len(recs) != 1 {
		t.Fatalf("%d deregister warnings, want 1", len(recs))
	}
}

type failingDeregister struct{ *hookRegistry }

func (failingDeregister) Deregister(context.Context, *registry.Service, ...registry.DeregisterOption) error {
	return errRegistryDown
}
