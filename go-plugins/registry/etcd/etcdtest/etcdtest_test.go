package etcdtest_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// client returns an etcd client of s, closed when the test ends.
func client(t *testing.T, s *etcdtest.Server, tlsConf *tls.Config) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, TLS: tlsConf, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// opCtx bounds one request: far above what it takes, even under -race on
// a loaded machine.
func opCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*testenv.Patience)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, c *clientv3.Client, k, v string) {
	t.Helper()
	if _, err := c.Put(opCtx(t), k, v); err != nil {
		t.Fatalf("put %s: %v", k, err)
	}
}

// get returns the value of k, "" when there is none.
func get(t *testing.T, c *clientv3.Client, k string) string {
	t.Helper()
	rsp, err := c.Get(opCtx(t), k)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	if len(rsp.Kvs) == 0 {
		return ""
	}
	return string(rsp.Kvs[0].Value)
}

// listening reports whether something accepts connections at addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// TestLife starts etcd, stops it and starts it again with its data, then
// wiped; Start on a running etcd is an error.
func TestLife(t *testing.T) {
	s := etcdtest.Start(t)
	if !s.Running() {
		t.Fatal("Running = false after Start")
	}
	if host, _, err := net.SplitHostPort(s.Addr()); err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr = %q, want 127.0.0.1:port", s.Addr())
	}
	if !slices.Equal(s.Endpoints(), []string{s.Addr()}) {
		t.Fatalf("Endpoints = %v, want [%s]", s.Endpoints(), s.Addr())
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start on a running etcd succeeded")
	}
	c := client(t, s, nil)
	put(t, c, "k", "v")

	s.Stop()
	if s.Running() || listening(s.Addr()) {
		t.Fatal("etcd still runs after Stop")
	}
	s.Stop() // a no-op when stopped

	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "k"); got != "v" {
		t.Fatalf("after a restart k = %q, want v (the data kept)", got)
	}

	s.Stop()
	s.Wipe()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "k"); got != "" {
		t.Fatalf("after a wipe k = %q, want nothing", got)
	}
}

// TestNew prepares etcd whose address is known before it serves.
func TestNew(t *testing.T) {
	s := etcdtest.New(t)
	if s.Running() || listening(s.Addr()) {
		t.Fatal("etcd serves before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	put(t, client(t, s, nil), "k", "v")
}

// TestStopLeavesNothing checks that the end of the test that started etcd
// stops it, and that no goroutine of etcd's is left.
func TestStopLeavesNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	var s *etcdtest.Server
	t.Run("run", func(t *testing.T) {
		s = etcdtest.Start(t)
		put(t, client(t, s, nil), "k", "v")
	})
	if s == nil || s.Running() || listening(s.Addr()) {
		t.Fatal("etcd still runs after its test ended")
	}
	goleak.VerifyNone(t, ignore)
}

// TestTLS serves the client port with TLS: a client that trusts the
// certificate works, a plain one does not.
func TestTLS(t *testing.T) {
	conf := testenv.SelfSignedTLS(t)
	s := etcdtest.Start(t, etcdtest.TLS(conf))
	put(t, client(t, s, conf), "k", "v")

	plain := client(t, s, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := plain.Get(ctx, "k"); err == nil {
		t.Fatal("a plain client read from the TLS port")
	}
}

// TestBadOptions gets clear errors for TLS it cannot serve, and starts
// nothing.
func TestBadOptions(t *testing.T) {
	cases := []struct {
		name string
		dir  string
		conf *tls.Config
	}{
		{"no certificate", t.TempDir(), &tls.Config{}},
		{"no folder", filepath.Join(t.TempDir(), "missing"), testenv.SelfSignedTLS(t)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := etcdtest.NewServer(tc.dir, etcdtest.TLS(tc.conf))
			if err == nil {
				s.Stop()
				t.Fatal("NewServer succeeded")
			}
			t.Log(err)
		})
	}
}
