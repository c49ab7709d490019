package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
)

// The tests run real consul agents: `consul agent -dev` on free loopback
// ports, one per test that needs its own (the conformance suite shares
// one), stopped when the test ends.

// consulVersion is the consul that scripts/consul.sh builds.
const consulVersion = "v1.13.9"

// binEnv names the variable that points the tests at a consul binary.
const binEnv = "MICRO_TEST_CONSUL_BIN"

// consulBin returns the consul binary: $MICRO_TEST_CONSUL_BIN, else the one
// scripts/consul.sh builds into the cache folder. Without one the test is
// skipped, or fails under MICRO_TEST_REQUIRE.
func consulBin(t testing.TB) string {
	t.Helper()
	path := os.Getenv(binEnv)
	if path == "" {
		dir := os.Getenv("XDG_CACHE_HOME")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				testenv.Missing(t, "consul", "no home folder to find the consul binary in: "+err.Error())
				return ""
			}
			dir = filepath.Join(home, ".cache")
		}
		path = filepath.Join(dir, "micro", "consul-"+consulVersion, "consul")
	}
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		testenv.Missing(t, "consul", fmt.Sprintf("no consul binary at %s; run make test-deps (scripts/consul.sh builds consul %s) or set %s",
			path, consulVersion, binEnv))
		return ""
	}
	return path
}

// testAgent is one consul agent in dev mode.
type testAgent struct {
	t     testing.TB
	bin   string
	addr  string // HTTP host:port
	ports []int  // http, serf lan, serf wan, server
	extra []string
	token string // ACL token for the harness's own calls, if ACLs are on
	log   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newAgent prepares an agent on free ports without starting it; extra are
// further command-line arguments.
func newAgent(t testing.TB, extra ...string) *testAgent {
	t.Helper()
	a := &testAgent{t: t, bin: consulBin(t), extra: extra, log: filepath.Join(t.TempDir(), "consul.log")}
	a.ports = freePorts(t, 4)
	a.addr = "127.0.0.1:" + strconv.Itoa(a.ports[0])
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			if b, err := os.ReadFile(a.log); err == nil {
				t.Logf("consul agent log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	return a
}

// startAgent starts an agent and waits until it serves.
func startAgent(t testing.TB, extra ...string) *testAgent {
	t.Helper()
	a := newAgent(t, extra...)
	a.start()
	return a
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// freePorts returns n loopback ports that are free for TCP and UDP (serf
// uses both) at the time of asking.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		ports = append(ports, port)
	}
	return ports
}

// start runs the agent and waits for it to have a leader and its own node
// registered and healthy.
func (a *testAgent) start() {
	a.t.Helper()
	a.mu.Lock()
	if a.cmd != nil {
		a.mu.Unlock()
		a.t.Fatal("consul agent already running")
	}
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.mu.Unlock()
		a.t.Fatal(err)
	}
	args := []string{"agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", "micro-test",
		"-http-port", strconv.Itoa(a.ports[0]),
		"-serf-lan-port", strconv.Itoa(a.ports[1]),
		"-serf-wan-port", strconv.Itoa(a.ports[2]),
		"-server-port", strconv.Itoa(a.ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1",
		"-hcl", "disable_update_check = true",
		"-log-level", "info",
	}
	args = append(args, a.extra...)
	cmd := exec.Command(a.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The agent dies with the test binary, even when that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		_ = logf.Close()
		a.t.Fatalf("starting consul: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()
	a.waitReady()
}

// waitReady waits until the agent has a leader and its node is healthy in
// the catalog, or fails the test.
func (a *testAgent) waitReady() {
	a.t.Helper()
	c := a.client()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-a.exited():
			a.t.Fatalf("consul agent exited while starting; see %s", a.log)
		default:
		}
		if last = a.ready(c); last == nil {
			return
		}
		t := time.NewTimer(50 * time.Millisecond)
		<-t.C
	}
	a.t.Fatalf("consul agent at %s not ready after 60s: %v", a.addr, last)
}

func (a *testAgent) ready(c *api.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	leader, err := c.Status().LeaderWithQueryOptions(q)
	if err != nil {
		return err
	}
	if leader == "" {
		return errors.New("no leader yet")
	}
	checks, _, err := c.Health().Node("micro-test", q)
	if err != nil {
		return err
	}
	for _, hc := range checks {
		if hc.CheckID == "serfHealth" && hc.Status == api.HealthPassing {
			return nil
		}
	}
	return errors.New("node not healthy in the catalog yet")
}

func (a *testAgent) exited() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return a.done
}

// stop ends the agent (SIGTERM, then SIGKILL) and waits for it.
func (a *testAgent) stop() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.cmd = nil
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-done
	}
}

// restart stops the agent and starts it again on the same ports. In dev
// mode the agent keeps nothing: services and checks are gone.
func (a *testAgent) restart() {
	a.t.Helper()
	a.stop()
	a.start()
}

// client returns a consul API client of the agent for the tests' own
// checks, with its own transport that the test's end closes.
func (a *testAgent) client() *api.Client {
	a.t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = a.addr
	cfg.Token = a.token
	c, err := api.NewClient(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { cfg.Transport.CloseIdleConnections() })
	return c
}

// eventually polls cond until it returns nil, failing the test after d.
func eventually(t testing.TB, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v: %v", what, d, err)
		}
		timer := time.NewTimer(20 * time.Millisecond)
		select {
		case <-timer.C:
		case <-t.Context().Done():
			timer.Stop()
			t.Fatalf("%s: test ended: %v", what, err)
		}
	}
}

// testRegistry returns a registry of the agent at addr, closed when the
// test ends.
func testRegistry(t testing.TB, addr string, opts ...registry.Option) *consulRegistry {
	t.Helper()
	r, err := NewRegistry(append([]registry.Option{registry.Addrs(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.(*consulRegistry).Close() })
	return r.(*consulRegistry)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(freePorts(t, 1)[0])
}
