package etcd

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

func TestOpenByName(t *testing.T) {
	if !slices.Contains(registry.Names(), "etcd") {
		t.Fatalf("registry.Names() = %v, want etcd among them", registry.Names())
	}
	// Building one dials nothing: no etcd is needed here.
	r, err := registry.Open("etcd", registry.Addrs("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.(interface{ Close() error }).Close()
	if r.String() != "etcd" {
		t.Errorf("String() = %q, want etcd", r.String())
	}
}

func TestConfig(t *testing.T) {
	l := slog.New(slog.DiscardHandler)
	tests := []struct {
		what string
		opts []registry.Option
		want config
	}{
		{"defaults", nil, config{prefix: DefaultPrefix, logger: slog.Default()}},
		{"prefix gets a slash", []registry.Option{Prefix("/svc")}, config{prefix: "/svc/", logger: slog.Default()}},
		{"prefix kept", []registry.Option{Prefix("/svc/")}, config{prefix: "/svc/", logger: slog.Default()}},
		{"empty prefix is the default", []registry.Option{Prefix("")}, config{prefix: DefaultPrefix, logger: slog.Default()}},
		{"auth", []registry.Option{Auth("u", "p")}, config{prefix: DefaultPrefix, username: "u", password: "p", logger: slog.Default()}},
		{"check interval", []registry.Option{CheckInterval(time.Second)}, config{prefix: DefaultPrefix, checkInterval: time.Second, logger: slog.Default()}},
		{"bad check interval", []registry.Option{CheckInterval(-1)}, config{prefix: DefaultPrefix, logger: slog.Default()}},
		{"logger", []registry.Option{Logger(l)}, config{prefix: DefaultPrefix, logger: l}},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			o := registry.NewOptions(tc.opts...)
			if got := newConfig(&o); got != tc.want {
				t.Errorf("newConfig = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLeaseSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Second, 1},
		{1500 * time.Millisecond, 2}, {90 * time.Second, 90},
	} {
		if got := leaseSeconds(tc.d); got != tc.want {
			t.Errorf("leaseSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// TestLayout checks the keys and values behind the registry's back, and
// that registries with different prefixes do not see each other.
func TestLayout(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	a := newTestRegistry(t, te.Addr(), Prefix("/team-a"))
	b := newTestRegistry(t, te.Addr(), Prefix("/team-b/"))

	s := svc("greeter", "1.0.0", "g1", "127.0.0.1:9001")
	s.Metadata = map[string]string{"team": "a"}
	if err := a.Register(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	resp, err := raw.Get(opCtx(t), "/team-a/greeter/1.0.0/g1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("key /team-a/greeter/1.0.0/g1: %v, %v", resp, err)
	}
	got, err := decodeNode(resp.Kvs[0].Value)
	if err != nil || got.Name != "greeter" || got.Metadata["team"] != "a" || got.Nodes[0].Address != "127.0.0.1:9001" {
		t.Fatalf("value = %s (%v)", resp.Kvs[0].Value, err)
	}
	if _, err := b.GetService(t.Context(), "greeter"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("another prefix sees the service: %v", err)
	}
}

// TestForeignKeys puts under the prefix what the registry did not write:
// reads and watches skip it.
func TestForeignKeys(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	r := newTestRegistry(t, te.Addr())
	ws := pump(t, mustWatch(t, r))
	p := r.cfg.prefix
	for key, value := range map[string]string{
		p + "junk/1/a":     "not json",
		p + "junk/1/b":     `{"name":"other","nodes":[{"id":"b"}]}`,
		p + "junk/1/c":     `{"name":"junk","nodes":[]}`,
		p + "junk":         `{"name":"junk","nodes":[{"id":"d"}]}`,
		p + "junk/1/e/f/g": `{"name":"junk","nodes":[{"id":"e"}]}`,
	} {
		if _, err := raw.Put(opCtx(t), key, value); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(t.Context(), svc("junk", "1", "ok", "127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "junk", "ok") // nothing before it
	if !hasNodes(t, r, "junk", "ok") {
		t.Error("GetService does not return exactly the valid node")
	}
	ss, err := r.ListServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ss {
		names = append(names, s.Name+"@"+s.Version)
	}
	if !slices.Equal(names, []string{"junk@1"}) {
		t.Errorf("ListServices = %v, want [junk@1]", names)
	}
	// A foreign key deleted yields no event either.
	if _, err := raw.Delete(opCtx(t), p+"junk"); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(t.Context(), svc("junk", "1", "ok", "")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Delete, "junk", "ok")
}

func TestClose(t *testing.T) {
	te := etcdtest.Start(t)
	r := newTestRegistry(t, te.Addr())
	w := mustWatch(t, r)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next()
		errc <- err
	}()
	if err := r.Register(t.Context(), svc("closing", "1", "a", "127.0.0.1:1"), registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The pending Next gets the Create, or the stop if Close wins.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := testenv.Recv(t, "Next after Close", errc); err != nil && !errors.Is(err, registry.ErrWatcherStopped) {
		t.Errorf("Next across Close: %v", err)
	}
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Errorf("Next after Close: %v, want ErrWatcherStopped", err)
	}
	ctx := t.Context()
	calls := map[string]error{
		"Register":   r.Register(ctx, svc("closing", "1", "b", "x")),
		"Deregister": r.Deregister(ctx, svc("closing", "1", "a", "x")),
	}
	_, calls["GetService"] = r.GetService(ctx, "closing")
	_, calls["ListServices"] = r.ListServices(ctx)
	_, calls["Watch"] = r.Watch(ctx)
	for call, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", call, err)
		}
	}
	// Close deregistered nothing.
	if !hasNodes(t, newTestRegistry(t, te.Addr()), "closing", "a") {
		t.Error("the node is gone after Close")
	}
}

// TestTLS reaches an etcd that serves TLS, with registry.TLS; without it
// calls fail.
func TestTLS(t *testing.T) {
	conf := testenv.SelfSignedTLS(t)
	te := etcdtest.Start(t, etcdtest.TLS(conf))
	r := newTestRegistry(t, te.Addr(), registry.TLS(conf))
	if err := r.Register(t.Context(), svc("secure", "1", "a", "127.0.0.1:1")); err != nil {
		t.Fatalf("Register over TLS: %v", err)
	}
	if !hasNodes(t, r, "secure", "a") {
		t.Fatal("GetService over TLS does not have the node")
	}
	plain := newTestRegistry(t, te.Addr(), registry.Timeout(500*time.Millisecond))
	if _, err := plain.GetService(t.Context(), "secure"); err == nil {
		t.Fatal("GetService without TLS from an etcd serving TLS succeeded")
	}
}

// TestAuth reaches an etcd with authentication on.
func TestAuth(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	ctx := opCtx(t)
	for _, step := range []func() error{
		func() error { _, err := raw.RoleAdd(ctx, "root"); return err },
		func() error { _, err := raw.UserAdd(ctx, "root", "s3cret"); return err },
		func() error { _, err := raw.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := raw.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enabling auth: %v", err)
		}
	}

	r := newTestRegistry(t, te.Addr(), Auth("root", "s3cret"))
	if err := r.Register(t.Context(), svc("authed", "1", "a", "127.0.0.1:1")); err != nil {
		t.Fatalf("Register with credentials: %v", err)
	}
	if !hasNodes(t, r, "authed", "a") {
		t.Fatal("GetService with credentials does not have the node")
	}

	if _, err := NewRegistry(registry.Addrs(te.Addr()), registry.Timeout(testTimeout), Auth("root", "wrong")); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Errorf("NewRegistry with a wrong password: %v, want an error wrapping rpctypes.ErrAuthFailed", err)
	}
	anon := newTestRegistry(t, te.Addr())
	if _, err := anon.GetService(t.Context(), "authed"); err == nil || !strings.Contains(err.Error(), "registry/etcd") {
		t.Errorf("GetService without credentials: %v, want a registry/etcd error", err)
	}
}

// TestWatchEndsWithContext checks that a watcher whose context ends, with
// no Stop, lets go of the registry.
func TestWatchEndsWithContext(t *testing.T) {
	te := etcdtest.Start(t)
	r := newTestRegistry(t, te.Addr())
	ctx, cancel := context.WithCancel(t.Context())
	w, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next after the context ended: %v", err)
	}
	testenv.WaitFor(t, "the watcher to leave the registry", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.watchers) == 0
	})
}
