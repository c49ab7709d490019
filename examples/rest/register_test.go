package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
)

func testService() *registry.Service {
	return &registry.Service{Name: Name, Version: Version, Nodes: []*registry.Node{{Id: "n1", Address: "127.0.0.1:1"}}}
}

func TestRegisterRefuses(t *testing.T) {
	tests := []struct {
		name          string
		svc           *registry.Service
		ttl, interval time.Duration
		want          string
	}{
		{"no nodes", &registry.Service{Name: Name}, time.Minute, time.Second, "no nodes"},
		{"zero interval", testService(), time.Minute, 0, "want more than 0"},
		{"interval not below ttl", testService(), time.Second, time.Second, "would lapse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Register(t.Context(), memory.New(), tt.svc, tt.ttl, tt.interval, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Register = %v, %v; want an error saying %q", r, err, tt.want)
			}
		})
	}
}

// TestRegistration: Register registers at once with the TTL, the loop
// registers again every interval, and Stop deregisters.
func TestRegistration(t *testing.T) {
	reg := &countingRegistry{Registry: memory.New()}
	r, err := Register(t.Context(), reg, testService(), time.Minute, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := nodes(t, reg); got != 1 {
		t.Fatalf("%d nodes right after Register, want 1", got)
	}
	testenv.WaitFor(t, "three renewals", func() bool { return reg.count() >= 4 })
	if ttl := reg.lastTTL(); ttl != time.Minute {
		t.Errorf("registered with TTL %v, want 1m", ttl)
	}
	if err := r.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := reg.GetService(t.Context(), Name); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("GetService after Stop: %v, want ErrNotFound", err)
	}
}

// countingRegistry counts the Register calls and keeps the last TTL.
type countingRegistry struct {
	registry.Registry
	mu  sync.Mutex
	n   int
	ttl time.Duration
}

func (c *countingRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	c.mu.Lock()
	c.n++
	c.ttl = registry.NewRegisterOptions(opts...).TTL
	c.mu.Unlock()
	return c.Registry.Register(ctx, s, opts...)
}

func (c *countingRegistry) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingRegistry) lastTTL() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ttl
}

// TestRegistrationRetries: while the registry refuses, Register still
// succeeds (the service keeps serving) and the loop registers as soon as
// it answers.
func TestRegistrationRetries(t *testing.T) {
	reg := &flakyRegistry{Registry: memory.New(), fail: make(chan struct{})}
	r, err := Register(t.Context(), reg, testService(), time.Minute, 20*time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	if _, err := reg.Registry.GetService(t.Context(), Name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("registered while the registry fails: %v", err)
	}
	close(reg.fail) // the registry answers from now on
	testenv.WaitFor(t, "the registration to be retried", func() bool { return nodes(t, reg.Registry) == 1 })
}

// flakyRegistry fails Register until fail is closed.
type flakyRegistry struct {
	registry.Registry
	fail chan struct{}
}

func (f *flakyRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	select {
	case <-f.fail:
		return f.Registry.Register(ctx, s, opts...)
	default:
		return errors.New("registry unreachable")
	}
}

// nodes counts the registered nodes of Name.
func nodes(t *testing.T, reg registry.Registry) int {
	t.Helper()
	ss, err := reg.GetService(t.Context(), Name)
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range ss {
		n += len(s.Nodes)
	}
	return n
}
