package micro_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// patience bounds every wait of these tests: far longer than anything
// takes on a loaded machine.
const patience = 30 * time.Second

// registryServer is a go-micro server serving the registry handler over a
// backend, as `micro server` does.
type registryServer struct {
	t       testing.TB
	backend registry.Registry
	h       *handler.Registry
	srv     server.Server
	tr      transport.Transport
	addr    string
	stopped bool
}

// serve starts a registry server over backend at addr (127.0.0.1:0 for
// any port), stopped when the test ends if not before.
func serve(t testing.TB, backend registry.Registry, addr string, tlsConf *tls.Config) *registryServer {
	t.Helper()
	var topts []transport.Option
	if tlsConf != nil {
		topts = append(topts, transport.TLS(tlsConf))
	}
	tr, err := httptransport.NewTransport(topts...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(
		server.Name(micro.ServiceName),
		server.Address(addr),
		server.Transport(tr),
		server.Registry(memory.New()), // its own registration stays out of the backend
		server.Logger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		t.Fatal(err)
	}
	h := handler.New(backend)
	if err := srv.Handle(srv.NewHandler(h)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := &registryServer{t: t, backend: backend, h: h, srv: srv, tr: tr, addr: srv.Options().Address}
	t.Cleanup(s.stop)
	return s
}

// stop ends the watch streams and stops the server; it is idempotent.
func (s *registryServer) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	_ = handler.Close(s.h)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.srv.Stop(ctx); err != nil {
		s.t.Errorf("stopping the registry server: %v", err)
	}
	_ = s.tr.Close()
}

// newClient returns a micro registry for addr, closed when the test ends.
func newClient(t testing.TB, addr string, opts ...registry.Option) registry.Registry {
	t.Helper()
	r := micro.NewRegistry(append([]registry.Option{registry.Addrs(addr)}, opts...)...)
	t.Cleanup(func() { _ = r.(interface{ Close() error }).Close() })
	return r
}

// logBuffer is a slog handler's output that tests read while the code
// under test writes it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func svc(name, version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name, Version: version}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, &registry.Node{Id: id, Address: "127.0.0.1:1" + id})
	}
	return s
}

// nextResult is one call to Watcher.Next.
type nextResult struct {
	res *registry.Result
	err error
}

// next calls w.Next, failing the test when it does not return within
// patience.
func next(t testing.TB, w registry.Watcher) (*registry.Result, error) {
	t.Helper()
	ch := make(chan nextResult, 1)
	go func() {
		res, err := w.Next()
		ch <- nextResult{res, err}
	}()
	select {
	case r := <-ch:
		return r.res, r.err
	case <-time.After(patience):
		w.Stop() // ends the goroutine
		t.Fatalf("Next did not return within %v", patience)
		return nil, nil
	}
}

// expect reads the next result and checks its action, service and node
// ids.
func expect(t testing.TB, w registry.Watcher, action registry.Action, name string, ids ...string) *registry.Result {
	t.Helper()
	res, err := next(t, w)
	if err != nil {
		t.Fatalf("Next: %v; want %s of %s %v", err, action, name, ids)
	}
	var got []string
	for _, n := range res.Service.Nodes {
		got = append(got, n.Id)
	}
	if res.Action != action || res.Service.Name != name || !equalStrings(got, ids) {
		t.Fatalf("Next = %s %s %v; want %s %s %v", res.Action, res.Service.Name, got, action, name, ids)
	}
	return res
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
