package consultest

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

	"github.com/openmicro/go-micro/testenv"
)

// Version is the consul version that scripts/consul.sh builds.
const Version = "v1.13.9"

// BinEnv names the variable that points the tests at a consul binary,
// instead of the one scripts/consul.sh builds.
const BinEnv = "MICRO_TEST_CONSUL_BIN"

// Engine is the engine's name for MICRO_TEST_REQUIRE.
const Engine = "consul"

// NodeName is the consul node name of every agent started here.
const NodeName = "micro-test"

// startupLimit bounds the wait for an agent to serve. It only keeps a
// broken start from hanging the test run; it asserts nothing about speed.
const startupLimit = 2 * time.Minute

// stopLimit bounds the wait for an agent to exit after SIGTERM, before it
// is killed.
const stopLimit = 15 * time.Second

// Bin returns the path of the consul binary: $MICRO_TEST_CONSUL_BIN, else
// the one scripts/consul.sh builds into the cache folder. When there is
// none it skips the test with the reason (and returns ""), or fails it
// when consul is required.
func Bin(t testing.TB) string {
	t.Helper()
	path := os.Getenv(BinEnv)
	if path == "" {
		dir := os.Getenv("XDG_CACHE_HOME")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				testenv.Missing(t, Engine, "no home folder to find the consul binary in: "+err.Error())
				return ""
			}
			dir = filepath.Join(home, ".cache")
		}
		path = filepath.Join(dir, "micro", "consul-"+Version, "consul")
	}
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		testenv.Missing(t, Engine, fmt.Sprintf("no consul binary at %s; run make test-deps (scripts/consul.sh builds consul %s) or set %s",
			path, Version, BinEnv))
		return ""
	}
	return path
}

// Option configures an agent built by [New] or [Start].
type Option func(*options)

type options struct {
	args  []string
	token string
}

// Args adds command-line arguments after those the package sets (which
// are listed in the package doc), such as "-datacenter", "dc1" or "-hcl"
// with further configuration. Default: none.
func Args(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Token sets the ACL token that the package's own requests (the readiness
// check and [Agent.Client]) carry, for an agent that enforces ACLs.
// Default: none.
func Token(token string) Option {
	return func(o *options) { o.token = token }
}

// Agent is one consul agent in dev mode on free loopback ports.
type Agent struct {
	t     testing.TB
	bin   string
	addr  string // HTTP host:port
	ports []int  // http, serf lan, serf wan, server
	args  []string
	token string
	log   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// New prepares an agent on free loopback ports without starting it, for a
// test that needs its address before it runs (see [Agent.Start]). The
// agent is stopped when t ends. When there is no consul binary, New skips
// or fails t (see [Bin]).
func New(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := Bin(t)
	if bin == "" {
		// Missing skipped or failed t; a recording TB may return here.
		return nil
	}
	a := &Agent{
		t:     t,
		bin:   bin,
		args:  o.args,
		token: o.token,
		log:   filepath.Join(t.TempDir(), "consul.log"),
		ports: FreePorts(t, 4),
	}
	a.addr = "127.0.0.1:" + strconv.Itoa(a.ports[0])
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(a.log); err == nil {
				t.Logf("consul agent log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	return a
}

// Start starts an agent on free loopback ports and waits until it has a
// leader and its node is healthy in the catalog; it is stopped when t
// ends. When there is no consul binary, Start skips or fails t (see
// [Bin]); when the agent does not come up, it fails t.
func Start(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	a := New(t, opts...)
	if a != nil {
		a.Start()
	}
	return a
}

// Addr returns the agent's HTTP address, 127.0.0.1:port: what
// registry.Addrs and --registry_address take.
func (a *Agent) Addr() string { return a.addr }

// LogFile returns the path of the agent's log.
func (a *Agent) LogFile() string { return a.log }

// Start runs the agent and waits until it serves (a leader, and its node
// healthy in the catalog), failing the test when it exits or is not ready
// within two minutes. Starting a running agent fails the test.
func (a *Agent) Start() {
	a.t.Helper()
	a.mu.Lock()
	if a.cmd != nil {
		a.mu.Unlock()
		a.t.Fatal("consultest: consul agent already running")
		return
	}
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.mu.Unlock()
		a.t.Fatal(err)
		return
	}
	args := []string{"agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", NodeName,
		"-http-port", strconv.Itoa(a.ports[0]),
		"-serf-lan-port", strconv.Itoa(a.ports[1]),
		"-serf-wan-port", strconv.Itoa(a.ports[2]),
		"-server-port", strconv.Itoa(a.ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1",
		"-hcl", "disable_update_check = true",
		"-log-level", "info",
	}
	args = append(args, a.args...)
	cmd := exec.Command(a.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The agent dies with the test binary, even when that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		a.mu.Unlock()
		_ = logf.Close()
		a.t.Fatalf("consultest: starting consul: %v", err)
		return
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()
	a.waitReady(done)
}

// waitReady waits until the agent is ready, or fails the test.
func (a *Agent) waitReady(exited <-chan struct{}) {
	a.t.Helper()
	c, release, err := a.newClient()
	if err != nil {
		a.t.Fatal(err)
		return
	}
	defer release()
	deadline := time.Now().Add(startupLimit)
	var last error
	for time.Now().Before(deadline) {
		if last = a.ready(c); last == nil {
			return
		}
		timer := time.NewTimer(50 * time.Millisecond)
		select {
		case <-exited:
			timer.Stop()
			a.t.Fatalf("consultest: consul agent exited while starting; its log is %s", a.log)
			return
		case <-timer.C:
		}
	}
	a.t.Fatalf("consultest: consul agent at %s not ready after %v: %v", a.addr, startupLimit, last)
}

// ready returns nil once the agent has a leader and its node's serf check
// passes.
func (a *Agent) ready(c *api.Client) error {
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
	checks, _, err := c.Health().Node(NodeName, q)
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

// Running reports whether the agent's process runs.
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// Stop ends the agent (SIGTERM, then SIGKILL after 15s) and waits for its
// process to exit. It is a no-op when the agent is not running; the test's
// end calls it.
func (a *Agent) Stop() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.cmd = nil
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopLimit)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops the agent and starts it again on the same ports, waiting
// until it serves. In dev mode the agent keeps nothing: services and
// checks are gone.
func (a *Agent) Restart() {
	a.t.Helper()
	a.Stop()
	a.Start()
}

// Client returns a consul API client of the agent, carrying the [Token]
// option's token, for a test's own look at consul behind the registry's
// back. It has its own transport, whose idle connections are closed when
// the test ends.
func (a *Agent) Client() *api.Client {
	a.t.Helper()
	c, release, err := a.newClient()
	if err != nil {
		a.t.Fatal(err)
		return nil
	}
	a.t.Cleanup(release)
	return c
}

// newClient returns a client of the agent with its own transport, and the
// function that closes the transport's idle connections.
func (a *Agent) newClient() (*api.Client, func(), error) {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = a.addr
	cfg.Token = a.token
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("consultest: consul client: %w", err)
	}
	return c, cfg.Transport.CloseIdleConnections, nil
}

// FreePorts returns n distinct loopback ports that are free for both TCP
// and UDP (serf uses both) at the time of asking, for the agent's own
// ports and for further ones a test configures with [Args].
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
			return nil
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		if !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	return ports
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
