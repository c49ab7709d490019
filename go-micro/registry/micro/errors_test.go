package micro_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Every call to a registry that is not running fails at once with an
// error that names the address and says what to do.
func TestUnreachable(t *testing.T) {
	addr := deadAddr(t)
	r := newClient(t, addr)
	s := svc("greeter", "1", "a")
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Register", func(ctx context.Context) error { return r.Register(ctx, s, registry.RegisterTTL(time.Minute)) }},
		{"Deregister", func(ctx context.Context) error { return r.Deregister(ctx, s) }},
		{"GetService", func(ctx context.Context) error { _, err := r.GetService(ctx, "greeter"); return err }},
		{"ListServices", func(ctx context.Context) error { _, err := r.ListServices(ctx); return err }},
		{"Watch", func(ctx context.Context) error {
			w, err := r.Watch(ctx)
			if w != nil {
				w.Stop()
			}
			return err
		}},
	}
	want := `registry micro: nothing answers at ` + addr + `: start it with "micro server" or choose another registry with --registry`
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(t.Context())
			if !errors.Is(err, micro.ErrUnreachable) {
				t.Fatalf("err = %v, want one matching micro.ErrUnreachable", err)
			}
			if err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
			if errors.Is(err, registry.ErrNotFound) {
				t.Error("an unreachable registry is not a service not found")
			}
		})
	}
}

// A server whose registry is not running keeps serving and logs one line
// saying what to start.
func TestServerLogsUnreachableRegistry(t *testing.T) {
	addr := deadAddr(t)
	var logs logBuffer
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srv, err := server.New(server.Name("greeter"), server.Transport(tr),
		server.Registry(newClient(t, addr)), server.Logger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatalf("Start with the registry down: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_ = srv.Stop(ctx)
	}()
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "cannot register") {
			line = l
		}
	}
	t.Logf("the server logs:\n%s", line)
	for _, want := range []string{
		"level=WARN", "registry=micro", "registry_address=" + addr,
		`nothing answers at ` + addr, `start it with \"micro server\"`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the warning lacks %q: %q", want, line)
		}
	}
}

// Close stops the watchers and makes every later call fail with
// ErrClosed.
func TestClose(t *testing.T) {
	s := serve(t, memory.New(), "127.0.0.1:0", nil)
	r := micro.NewRegistry(registry.Addrs(s.addr))
	closer := r.(interface{ Close() error })
	ctx := t.Context()
	w, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pending := make(chan nextResult, 1)
	go func() {
		res, err := w.Next()
		pending <- nextResult{res, err}
	}()
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Recv(t, "Next after Close", pending); !errors.Is(got.err, registry.ErrWatcherStopped) {
		t.Errorf("Next after Close = %v; want registry.ErrWatcherStopped", got.err)
	}
	if err := closer.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := r.Register(ctx, svc("x", "1", "a")); !errors.Is(err, micro.ErrClosed) {
		t.Errorf("Register after Close: %v", err)
	}
	if _, err := r.GetService(ctx, "x"); !errors.Is(err, micro.ErrClosed) {
		t.Errorf("GetService after Close: %v", err)
	}
	if _, err := r.Watch(ctx); !errors.Is(err, micro.ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []registry.Option
		addrs []string
		tmo   time.Duration
	}{
		{"defaults", nil, []string{micro.DefaultAddress}, micro.DefaultTimeout},
		{"blank addresses", []registry.Option{registry.Addrs(" ", "")}, []string{micro.DefaultAddress}, micro.DefaultTimeout},
		{"given", []registry.Option{registry.Addrs(" 10.0.0.1:8000", "10.0.0.2:8000"), registry.Timeout(time.Second)},
			[]string{"10.0.0.1:8000", "10.0.0.2:8000"}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := micro.NewRegistry(tc.opts...)
			defer r.(interface{ Close() error }).Close()
			o := r.(interface{ Options() registry.Options }).Options()
			if !slices.Equal(o.Addrs, tc.addrs) || o.Timeout != tc.tmo {
				t.Errorf("Options() = %q, %v; want %q, %v", o.Addrs, o.Timeout, tc.addrs, tc.tmo)
			}
			if r.String() != "micro" {
				t.Errorf("String() = %q", r.String())
			}
		})
	}
}

// The name table knows "micro".
func TestOpenByName(t *testing.T) {
	r, err := registry.Open("micro", registry.Addrs("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.(interface{ Close() error }).Close()
	if r.String() != "micro" {
		t.Errorf("String() = %q", r.String())
	}
}

// A second address is tried when the first does not answer.
func TestSecondAddress(t *testing.T) {
	s := serve(t, memory.New(), "127.0.0.1:0", nil)
	r := micro.NewRegistry(registry.Addrs(deadAddr(t), s.addr))
	defer r.(interface{ Close() error }).Close()
	ctx := t.Context()
	if err := r.Register(ctx, svc("x", "1", "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
}

// A client without TLS cannot talk to a registry serving TLS, and says
// so rather than hanging.
func TestTLSMismatch(t *testing.T) {
	s := serve(t, memory.New(), "127.0.0.1:0", testenv.SelfSignedTLS(t))
	r := newClient(t, s.addr, registry.Timeout(5*time.Second))
	_, err := r.ListServices(t.Context())
	if !errors.Is(err, micro.ErrUnreachable) {
		t.Fatalf("ListServices over plain TCP to a TLS registry: err = %v, want one matching micro.ErrUnreachable", err)
	}
	for _, want := range []string{"cannot reach the registry at " + s.addr + " (", `start it with "micro server"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to hold %q", err, want)
		}
	}
}

// silentRegistry accepts watches and never sends their snapshot.
type silentRegistry struct{}

func (silentRegistry) Watch(ctx context.Context, st server.Stream) error {
	var req micro.WatchRequest
	for st.Recv(&req) == nil { // until the client leaves
	}
	return nil
}

// A registry that accepts a watch but sends no snapshot makes Watch fail
// after the timeout rather than hang.
func TestWatchSnapshotTimeout(t *testing.T) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srv, err := server.New(server.Name(micro.ServiceName), server.Transport(tr),
		server.Registry(memory.New()), server.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(silentRegistry{}, server.HandlerName("Registry"))); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v (a watch stream was left open)", err)
		}
	}()
	r := newClient(t, srv.Options().Address, registry.Timeout(200*time.Millisecond))
	w, err := r.Watch(t.Context())
	if w != nil {
		w.Stop()
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "sent no snapshot within 200ms") {
		t.Fatalf("Watch = %v; want a deadline error saying no snapshot came", err)
	}
}

// greeter is a service that is not a registry.
type greeter struct{}

func (greeter) Hello(ctx context.Context, req *struct{}, rsp *struct{}) error { return nil }

// A server at the registry's address that is not the registry (it has no
// Registry endpoints) is an error naming the address, not a service that
// is not found.
func TestNotARegistry(t *testing.T) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srv, err := server.New(server.Name("greeter"), server.Address("127.0.0.1:0"), server.Transport(tr),
		server.Registry(memory.New()), server.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(greeter{})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_ = srv.Stop(ctx)
	}()
	addr := srv.Options().Address
	r := newClient(t, addr)
	_, err = r.GetService(t.Context(), "x")
	if errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService from a server that is not a registry: %v; want an error other than registry.ErrNotFound", err)
	}
	for _, want := range []string{"Registry.GetService at " + addr, "404", "no endpoint Registry.GetService"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("GetService from a server that is not a registry: %v; want it to hold %q", err, want)
		}
	}
}
