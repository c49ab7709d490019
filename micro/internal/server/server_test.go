package server

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	brokermemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	microregistry "github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// components returns a memory registry, an http transport and a memory
// broker, released at the end of the test.
func components(t *testing.T) Components {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return Components{Registry: memory.New(), Transport: tr, Broker: brokermemory.New()}
}

func start(t *testing.T, comps Components, opts ...Option) (*Server, []Started) {
	t.Helper()
	s, err := New(comps, append([]Option{Address("127.0.0.1:0"), Version("test")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := s.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, parts
}

func names(ss []*registry.Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestServesTheRegistry(t *testing.T) {
	comps := components(t)
	s, parts := start(t, comps)

	if len(parts) != 2 || parts[0].Name != "broker" || parts[1].Name != "registry" {
		t.Fatalf("parts: %+v", parts)
	}
	addr := s.RegistryAddress()
	if !strings.Contains(parts[1].Serves, microregistry.ServiceName+" at "+addr) || !strings.Contains(parts[1].Serves, "memory") {
		t.Errorf("the registry part serves %q", parts[1].Serves)
	}

	// A service registers through the registry service's client and is
	// kept in the backend.
	client := microregistry.NewRegistry(registry.Addrs(addr))
	t.Cleanup(func() { client.(interface{ Close() error }).Close() })
	svc := &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{{Id: "g-1", Address: "127.0.0.1:1"}}}
	if err := client.Register(t.Context(), svc, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := comps.Registry.GetService(t.Context(), "greeter")
	if err != nil || len(got) != 1 || got[0].Nodes[0].Id != "g-1" {
		t.Fatalf("backend GetService: %+v, %v", got, err)
	}
	listed, err := client.ListServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := names(listed); !slices.Equal(n, []string{microregistry.ServiceName, "greeter"}) {
		t.Errorf("listed %v", n)
	}
	self, err := comps.Registry.GetService(t.Context(), microregistry.ServiceName)
	if err != nil || self[0].Version != "test" || self[0].Nodes[0].Address != addr {
		t.Errorf("the registry service's own registration: %+v, %v", self, err)
	}

	// An open watch does not hold the stop back, and the registry service
	// deregisters itself.
	w, err := client.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := make(chan *registry.Result, 1)
	go func() {
		res, err := w.Next()
		if err != nil {
			res = nil
		}
		next <- res
	}()
	if err := client.Register(t.Context(), &registry.Service{Name: "other", Nodes: []*registry.Node{{Id: "o-1", Address: "127.0.0.1:2"}}}); err != nil {
		t.Fatal(err)
	}
	if res := testenv.Recv(t, "the watch's first event", next); res == nil || res.Service.Name != "other" {
		t.Fatalf("the watch saw %+v", res)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*testenv.Patience)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop with a watch open: %v", err)
	}
	if _, err := comps.Registry.GetService(t.Context(), microregistry.ServiceName); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("after Stop the registry service is still registered: %v", err)
	}
	if err := comps.Broker.Publish(t.Context(), "t", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("after Stop the broker is still connected: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := s.Start(t.Context()); !errors.Is(err, ErrStarted) {
		t.Errorf("Start after Stop: %v, want ErrStarted", err)
	}
}

// TestStartFailure: when the registry cannot listen, the broker that
// started is stopped again and the error says what failed.
func TestStartFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	comps := components(t)
	s, err := New(comps, Address(l.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "starting the registry") || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("Start on a taken address: %v", err)
	}
	if err := comps.Broker.Publish(t.Context(), "t", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("the broker stays connected after a failed start: %v", err)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

func TestNewMissing(t *testing.T) {
	full := components(t)
	tests := []struct {
		name string
		edit func(*Components)
	}{
		{"registry", func(c *Components) { c.Registry = nil }},
		{"transport", func(c *Components) { c.Transport = transport.Transport(nil) }},
		{"broker", func(c *Components) { c.Broker = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := full
			tt.edit(&c)
			if _, err := New(c); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("New without a %s: %v", tt.name, err)
			}
		})
	}
}
