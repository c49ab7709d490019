package etcd

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/openmicro/go-micro/registry"
)

// testLogger sends the registry's log to the test's log while the test
// runs.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// testTimeout bounds each request of the tests' registries unless a test
// sets its own: far above what a request takes, even on a loaded machine
// under the race detector.
const testTimeout = 30 * time.Second

// newTestRegistry builds a registry on addr and closes it when the test
// ends. opts come last and so win over the defaults set here.
func newTestRegistry(t testing.TB, addr string, opts ...registry.Option) *etcdRegistry {
	t.Helper()
	opts = append([]registry.Option{registry.Addrs(addr), registry.Timeout(testTimeout), Logger(testLogger(t))}, opts...)
	r, err := NewRegistry(opts...)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.(*etcdRegistry).Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r.(*etcdRegistry)
}

// rawClient is a plain etcd client for looking behind the registry's back.
func rawClient(t testing.TB, addr string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// opCtx bounds one request made by a test helper.
func opCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func svc(name, version, id, addr string) *registry.Service {
	return &registry.Service{Name: name, Version: version, Nodes: []*registry.Node{{Id: id, Address: addr}}}
}
