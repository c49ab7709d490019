package consultest_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// TestStartStopRestart starts an agent, checks that it serves with the
// arguments given, restarts it on the same address, and checks that the
// end of the test that started it stops it.
func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	var a *consultest.Agent
	t.Run("life", func(t *testing.T) {
		a = consultest.Start(t, consultest.Args("-datacenter", "dc-test"))
		if !a.Running() {
			t.Fatal("Running = false after Start")
		}
		if host, _, err := net.SplitHostPort(a.Addr()); err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr = %q, want 127.0.0.1:port", a.Addr())
		}
		c := a.Client()
		self, err := c.Agent().Self()
		if err != nil {
			t.Fatal(err)
		}
		if dc := self["Config"]["Datacenter"]; dc != "dc-test" {
			t.Fatalf("datacenter %v, want dc-test from Args", dc)
		}
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "kept-until-restart"}); err != nil {
			t.Fatal(err)
		}

		a.Stop()
		if a.Running() {
			t.Fatal("Running = true after Stop")
		}
		if _, err := c.Status().Leader(); err == nil {
			t.Fatal("the stopped agent still answers")
		}
		a.Stop() // a no-op when stopped

		a.Restart()
		if _, err := c.Status().Leader(); err != nil {
			t.Fatalf("the restarted agent does not answer at the same address: %v", err)
		}
		services, err := c.Agent().Services()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := services["kept-until-restart"]; ok {
			t.Fatal("a dev agent kept a service across a restart")
		}
	})
	if a == nil {
		t.Fatal("no agent")
	}
	if a.Running() {
		t.Fatal("the agent still runs after its test ended")
	}
	if c, err := net.DialTimeout("tcp", a.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("something still listens at %s after the test ended", a.Addr())
	}
}

// TestToken runs an agent that enforces ACLs: the package's readiness
// check and Client carry the Token, a client without it is refused.
func TestToken(t *testing.T) {
	t.Parallel()
	const token = "root-token"
	a := consultest.Start(t, consultest.Token(token), consultest.Args(
		"-hcl", fmt.Sprintf(`acl { enabled = true default_policy = "deny" tokens { initial_management = %q agent = %q } }`, token, token),
	))
	if _, err := a.Client().Agent().Self(); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = a.Addr()
	anon, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Transport.CloseIdleConnections()
	if _, err := anon.Agent().Self(); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("without the token: %v, want a 403", err)
	}
}

// TestNew prepares an agent whose address is known before it runs.
func TestNew(t *testing.T) {
	t.Parallel()
	a := consultest.New(t)
	if a.Running() {
		t.Fatal("Running = true before Start")
	}
	if c, err := net.DialTimeout("tcp", a.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("something listens at %s before Start", a.Addr())
	}
	a.Start()
	if _, err := a.Client().Status().Leader(); err != nil {
		t.Fatal(err)
	}
}

// recorder is a testing.TB that records Skipf and Fatalf instead of
// acting on them.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	failed  string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = fmt.Sprintf(format, args...)
}

// TestBinMissing points the package at binaries that are not there or
// cannot run: the test is skipped with the reason, or fails when consul
// is required.
func TestBinMissing(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "consul-not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		bin      string
		require  string
		wantFail bool
	}{
		{"absent", filepath.Join(dir, "nothing-here"), "", false},
		{"a folder", dir, "", false},
		{"not executable", notExec, "", false},
		{"absent, all required", filepath.Join(dir, "nothing-here"), "all", true},
		{"absent, consul required", filepath.Join(dir, "nothing-here"), "redis,consul", true},
		{"absent, others required", filepath.Join(dir, "nothing-here"), "redis", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(consultest.BinEnv, tc.bin)
			t.Setenv(testenv.RequireEnv, tc.require)
			r := &recorder{}
			if got := consultest.Bin(r); got != "" {
				t.Fatalf("Bin = %q, want \"\"", got)
			}
			msg := r.skipped
			if tc.wantFail {
				msg = r.failed
				// (A real Fatalf ends the test; the recorder lets Missing go
				// on to its Skipf, so only the failure counts here.)
				if r.failed == "" {
					t.Fatalf("want a failure, got skip %q fail %q", r.skipped, r.failed)
				}
			} else if r.skipped == "" || r.failed != "" {
				t.Fatalf("want a skip, got skip %q fail %q", r.skipped, r.failed)
			}
			if !strings.Contains(msg, tc.bin) || !strings.Contains(msg, consultest.BinEnv) {
				t.Fatalf("the reason %q does not name the path and %s", msg, consultest.BinEnv)
			}
		})
	}
}

// TestBinFound takes the binary from the variable.
func TestBinFound(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "consul")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(consultest.BinEnv, bin)
	r := &recorder{}
	if got := consultest.Bin(r); got != bin || r.skipped != "" || r.failed != "" {
		t.Fatalf("Bin = %q (skip %q, fail %q), want %q", got, r.skipped, r.failed, bin)
	}
}

// TestFreePorts returns as many distinct ports as asked for.
func TestFreePorts(t *testing.T) {
	ports := consultest.FreePorts(t, 8)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: bad or repeated %d", ports, p)
		}
		seen[p] = true
	}
	if len(ports) != 8 {
		t.Fatalf("got %d ports, want 8", len(ports))
	}
}
