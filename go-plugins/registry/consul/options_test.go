package consul

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
)

func TestSettings(t *testing.T) {
	tests := []struct {
		name string
		opts []registry.Option
		want settings
	}{
		{"defaults", nil, settings{addrs: []string{DefaultAddr}, keepalive: DefaultKeepaliveTTL,
			deregisterAfter: DefaultDeregisterCriticalAfter, watchWait: DefaultWatchWait}},
		{"every option", []registry.Option{
			registry.Addrs("a:1", "b:2"), registry.Timeout(time.Second),
			Token("t"), Datacenter("dc9"), KeepaliveTTL(3 * time.Second),
			DeregisterCriticalAfter(2 * time.Minute), WatchWait(time.Minute),
		}, settings{addrs: []string{"a:1", "b:2"}, timeout: time.Second, token: "t", datacenter: "dc9",
			keepalive: 3 * time.Second, deregisterAfter: 2 * time.Minute, watchWait: time.Minute}},
		{"non-positive durations keep the defaults", []registry.Option{
			KeepaliveTTL(0), DeregisterCriticalAfter(-1), WatchWait(0),
		}, settings{addrs: []string{DefaultAddr}, keepalive: DefaultKeepaliveTTL,
			deregisterAfter: DefaultDeregisterCriticalAfter, watchWait: DefaultWatchWait}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := newSettings(registry.NewOptions(tc.opts...))
			if canonicalSettings(got) != canonicalSettings(tc.want) {
				t.Errorf("settings = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func canonicalSettings(s settings) string {
	return strings.Join(s.addrs, ",") + "|" + s.timeout.String() + "|" + s.token + "|" + s.datacenter + "|" +
		s.keepalive.String() + "|" + s.deregisterAfter.String() + "|" + s.watchWait.String()
}

func TestNewRegistryAddresses(t *testing.T) {
	tests := []struct {
		addr    string
		tls     bool
		wantErr string
	}{
		{addr: "127.0.0.1:8500"},
		{addr: "127.0.0.1:8501", tls: true},
		{addr: "http://127.0.0.1:8500"},
		{addr: "https://consul.example:8501"},
		{addr: "unix:///run/consul.sock"},
		{addr: "ftp://x", wantErr: "unknown scheme"},
		{addr: "http://", wantErr: "empty address"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			opts := []registry.Option{registry.Addrs(tc.addr)}
			if tc.tls {
				opts = append(opts, registry.TLS(&tls.Config{MinVersion: tls.VersionTLS12}))
			}
			r, err := NewRegistry(opts...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.(io.Closer).Close()
			cr := r.(*consulRegistry)
			if got := cr.transports[0].TLSClientConfig != nil; got != tc.tls {
				t.Errorf("TLS config set = %v, want %v", got, tc.tls)
			}
			if r.String() != "consul" {
				t.Errorf("String() = %q", r.String())
			}
		})
	}
}

// Calls that need no agent: invalid input, cancelled contexts, Close.
func TestWithoutAgent(t *testing.T) {
	r, err := NewRegistry(registry.Addrs(closedAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	valid := &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "n", Address: "127.0.0.1:1"}}}

	if err := r.Register(ctx, &registry.Service{Name: "s"}); !errors.Is(err, registry.ErrInvalidService) {
		t.Errorf("Register(no nodes) = %v, want ErrInvalidService", err)
	}
	if err := r.Deregister(ctx, nil); !errors.Is(err, registry.ErrInvalidService) {
		t.Errorf("Deregister(nil) = %v, want ErrInvalidService", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Register(cancelled, valid); !errors.Is(err, context.Canceled) {
		t.Errorf("Register(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := r.Watch(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := r.GetService(ctx, ""); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("GetService(\"\") = %v, want ErrNotFound", err)
	}
	// The agent is down: a clear error naming the address.
	err = r.Register(ctx, valid)
	if err == nil || !strings.Contains(err.Error(), "consul agent at") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Register with no agent = %v, want an error naming the agent and the refusal", err)
	}

	c := r.(io.Closer)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := r.Register(ctx, valid); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
	if _, err := r.GetService(ctx, "s"); !errors.Is(err, ErrClosed) {
		t.Errorf("GetService after Close = %v, want ErrClosed", err)
	}
	if _, err := r.ListServices(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ListServices after Close = %v, want ErrClosed", err)
	}
	if _, err := r.Watch(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
	if err := r.Deregister(ctx, valid); !errors.Is(err, ErrClosed) {
		t.Errorf("Deregister after Close = %v, want ErrClosed", err)
	}
}

func TestRegisterTooLarge(t *testing.T) {
	r := testRegistry(t, closedAddr(t))
	svc := bigService("big", 10)
	svc.Nodes = append(svc.Nodes, &registry.Node{Id: "huge", Metadata: map[string]string{"noise": noise(40000)}})
	if err := r.Register(t.Context(), svc); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Register = %v, want ErrTooLarge", err)
	}
}
