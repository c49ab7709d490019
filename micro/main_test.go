package main

// The acceptance tests: the micro binary and the greeter example run as
// separate processes, on loopback, and are checked on what they print.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	httpbroker "github.com/openmicro/go-micro/broker/http"
	"github.com/openmicro/go-micro/registry"
	microregistry "github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// The binaries TestMain builds.
var microBin, greeterBin string

// exampleBins are the example programs the docs' examples run, by name,
// built by TestMain for TestDocs.
var exampleBins = map[string]string{}

// Registration timing of the greeters: short, so that a killed one
// expires quickly.
const (
	greeterTTL      = 3 * time.Second
	greeterInterval = time.Second
	// margin is what a wait allows beyond the time an event is due: far
	// more than it takes on a loaded machine.
	margin = 30 * time.Second
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "micro-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		flag.Parse()
		if !runsAny("TestPlatform", "TestNew", "TestServerSignals", "TestServerBackends", "TestGateway", "TestDocs") {
			return m.Run() // no test here needs the binaries (make test's -run 'Allocs$')
		}
		microBin = filepath.Join(dir, "micro")
		greeterBin = filepath.Join(dir, "greeter")
		builds := []struct{ dir, out, pkg string }{
			{".", microBin, "."},
			{filepath.Join("..", "examples"), greeterBin, "./greeter/srv"},
		}
		if runsAny("TestDocs") {
			for _, ex := range []string{"api", "rest"} {
				exampleBins[ex] = filepath.Join(dir, "example-"+ex)
				builds = append(builds, struct{ dir, out, pkg string }{filepath.Join("..", "examples"), exampleBins[ex], "./" + ex})
			}
		}
		for _, b := range builds {
			args := []string{"build", "-o", b.out}
			if raceEnabled {
				args = append(args, "-race")
			}
			c := exec.Command("go", append(args, b.pkg)...)
			c.Dir = b.dir
			if out, err := c.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build %s in %s: %v\n%s", b.pkg, b.dir, err, out)
				return 1
			}
		}
		code := m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				code = 1
			}
		}
		return code
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runsAny reports whether -run selects one of the tests named.
func runsAny(names ...string) bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	pattern, _, _ := strings.Cut(f.Value.String(), "/")
	re, err := regexp.Compile(pattern)
	if err != nil {
		return true
	}
	for _, n := range names {
		if re.MatchString(n) {
			return true
		}
	}
	return false
}

// proc is a process the test started, its output kept as it comes.
type proc struct {
	name string
	cmd  *exec.Cmd

	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr, interleaved as written
	stdout bytes.Buffer
	done   chan struct{} // closed once the process exited and its output was read
	err    error         // Wait's, set before done is closed
}

// lockedWriter appends to the proc's buffers.
type lockedWriter struct {
	p      *proc
	stdout bool
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	w.p.out.Write(b)
	if w.stdout {
		w.p.stdout.Write(b)
	}
	return len(b), nil
}

// start runs bin with args until the test ends, when it is killed.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout = lockedWriter{p: p, stdout: true}
	p.cmd.Stderr = lockedWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) stdoutText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// await waits until re matches the process's output and returns the
// submatches; it fails when the process exits first.
func (p *proc) await(t *testing.T, what string, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	eventually(t, what, margin, func() bool {
		m = re.FindStringSubmatch(p.output())
		if m == nil {
			select {
			case <-p.done:
				t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.err, what, p.output())
			default:
			}
		}
		return m != nil
	})
	return m
}

// stop sends sig and waits for the process to exit; it returns Wait's
// error.
func (p *proc) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %s: %v", p.name, err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(margin):
		t.Fatalf("%s did not exit after %v", p.name, sig)
		return nil
	}
}

// eventually polls cond every 100ms until it holds, failing the test
// after within.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatalf("the test ended while waiting for %s", what)
		}
	}
}

// result is one run of the micro CLI.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("micro %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// micro runs the CLI with args and returns what it did.
func micro(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), margin)
	defer cancel()
	c := exec.CommandContext(ctx, microBin, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running micro %v: %v", args, err)
	}
	return r
}

// ok runs the CLI and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) result {
	t.Helper()
	r := micro(t, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%v", r)
	}
	return r
}

// jsonOf runs the CLI, which must exit 0, and decodes its output.
func jsonOf(t *testing.T, v any, args ...string) {
	t.Helper()
	r := ok(t, args...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%v", err, r)
	}
}

// strings of a JSON value: every string it holds, at any depth. The
// checks look at the content of replies, not at their Go types, so that
// the greeter may change its messages' types.
func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}

// holds reports whether the JSON text holds a string containing want.
func holds(t *testing.T, text, want string) bool {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, text)
	}
	for _, s := range stringsIn(v) {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

var (
	serverReady   = regexp.MustCompile(`(?m)^registry\s+go\.micro\.registry at (\S+),`)
	serviceStarts = regexp.MustCompile(`micro: service started.* address=(\S+)`)
)

// startServer runs `micro server` on addr and returns it with the address
// it listens on.
func startServer(t *testing.T, addr string) (*proc, string) {
	t.Helper()
	p := start(t, "micro server", microBin, "server", "--address", addr, "--api_address", "127.0.0.1:0", "--sidecar_address", "127.0.0.1:0")
	m := p.await(t, "micro server to print where it serves", serverReady)
	return p, m[1]
}

// startGreeter runs a greeter registered with the registry at regAddr.
func startGreeter(t *testing.T, name, regAddr string) (*proc, string) {
	t.Helper()
	p := start(t, name, greeterBin,
		"--registry", "micro", "--registry_address", regAddr,
		"--register_ttl", greeterTTL.String(), "--register_interval", greeterInterval.String(),
		"--server_address", "127.0.0.1:0")
	m := p.await(t, name+" to start", serviceStarts)
	return p, m[1]
}

// greeterNodes returns the addresses of the greeter's nodes the registry
// lists.
func greeterNodes(t *testing.T, reg string) []string {
	t.Helper()
	r := micro(t, "--registry_address", reg, "get", "service", "greeter", "--output", "json")
	if r.code == 1 && strings.Contains(r.stderr, "service not found: greeter") {
		return nil
	}
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	var svcs []registry.Service
	if err := json.Unmarshal([]byte(r.stdout), &svcs); err != nil {
		t.Fatalf("%v\n%v", err, r)
	}
	var addrs []string
	for _, s := range svcs {
		for _, n := range s.Nodes {
			addrs = append(addrs, n.Address)
		}
	}
	return addrs
}

func listed(t *testing.T, reg, name string) bool {
	t.Helper()
	var svcs []registry.Service
	jsonOf(t, &svcs, "--registry_address", reg, "list", "services", "--output", "json")
	for _, s := range svcs {
		if s.Name == name {
			return true
		}
	}
	return false
}

// TestPlatform runs micro server and two greeters and uses every command
// of the CLI on them; then it kills a greeter and restarts the server.
func TestPlatform(t *testing.T) {
	server, reg := startServer(t, "127.0.0.1:0")
	greeterA, addrA := startGreeter(t, "greeter A", reg)
	greeterB, addrB := startGreeter(t, "greeter B", reg)
	g := []string{"--registry", "micro", "--registry_address", reg}
	cli := func(args ...string) []string { return append(append([]string(nil), g...), args...) }

	eventually(t, "both greeters registered", margin, func() bool { return len(greeterNodes(t, reg)) == 2 })

	t.Run("list", func(t *testing.T) {
		r := ok(t, cli("list", "services")...)
		for _, want := range []string{"NAME", "VERSION", "greeter", "go.micro.registry"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("lacks %q\n%v", want, r)
			}
		}
		if !listed(t, reg, "greeter") || !listed(t, reg, microregistry.ServiceName) {
			t.Error("list services --output json lacks greeter or the registry")
		}
	})

	t.Run("get", func(t *testing.T) {
		r := ok(t, cli("get", "service", "greeter")...)
		for _, want := range []string{"service  greeter", addrA, addrB, "endpoint Say.Hello", "endpoint Say.Stream", "name", "transport=http"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("lacks %q\n%v", want, r)
			}
		}
		var svcs []registry.Service
		jsonOf(t, &svcs, cli("get", "service", "--output", "json", "greeter")...)
		var hello *registry.Endpoint
		for _, s := range svcs {
			for _, ep := range s.Endpoints {
				if ep.Name == "Say.Hello" {
					hello = ep
				}
			}
		}
		if hello == nil || hello.Request == nil || hello.Response == nil || len(hello.Request.Values) == 0 {
			t.Fatalf("Say.Hello has no request and response shapes: %+v", hello)
		}
		if hello.Request.Values[0].Name != "name" {
			t.Errorf("Say.Hello's request has no field name: %+v", hello.Request.Values)
		}
	})

	t.Run("call", func(t *testing.T) {
		for _, args := range [][]string{
			{"call", "greeter", "Say.Hello", `{"name": "Ann"}`},
			{"query", "greeter", "Say.Hello", `{"name": "Ann"}`},
			{"call", "--metadata", "Trace=1", "--metadata", "User=ann", "greeter", "Say.Hello", `{"name": "Ann"}`},
			{"call", "--address", addrB, "greeter", "Say.Hello", `{"name": "Ann"}`},
			{"call", "greeter", "Say.Hello", `{"name": "Ann"}`, "--output", "json"},
		} {
			r := ok(t, cli(args...)...)
			if !holds(t, r.stdout, "Hello Ann") {
				t.Errorf("no greeting\n%v", r)
			}
		}
		// The service's own error comes back with its detail.
		r := micro(t, cli("call", "greeter", "Say.Hello", `{}`)...)
		if r.code != 1 || !strings.Contains(r.stderr, "400") {
			t.Errorf("a bad request: want exit 1 and the 400\n%v", r)
		}
	})

	t.Run("stream", func(t *testing.T) {
		r := ok(t, cli("stream", "greeter", "Say.Stream", `{"name": "Ann", "count": 3}`)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("want 3 messages\n%v", r)
		}
		for _, l := range lines {
			if !holds(t, l, "Hello Ann") {
				t.Errorf("message %q has no greeting", l)
			}
		}
	})

	t.Run("publish", func(t *testing.T) {
		got := subscribe(t, reg, "e2e.events")
		r := ok(t, cli("publish", "e2e.events", `{"name": "Ann", "message": "hi"}`)...)
		if !strings.Contains(r.stdout, "published to e2e.events") {
			t.Errorf("%v", r)
		}
		msg := testenv.Recv(t, "the published event", got)
		if !holds(t, string(msg.Body), "hi") || msg.Header["Content-Type"] != "application/json" {
			t.Errorf("event: header %v body %s", msg.Header, msg.Body)
		}
	})

	t.Run("health", func(t *testing.T) {
		r := ok(t, cli("health", "greeter")...)
		if strings.Count(r.stdout, " ok ") != 2 {
			t.Errorf("want two nodes ok\n%v", r)
		}
		var rows []struct{ Address, Status string }
		jsonOf(t, &rows, cli("health", "greeter", "--output", "json")...)
		if len(rows) != 2 || rows[0].Status != "ok" || rows[1].Status != "ok" {
			t.Errorf("health --output json: %+v", rows)
		}
	})

	t.Run("stats", func(t *testing.T) {
		r := ok(t, cli("stats", "greeter")...)
		for _, want := range []string{"UPTIME", "GOROUTINES", "REQUESTS", addrA, addrB} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("lacks %q\n%v", want, r)
			}
		}
		var rows []struct {
			Address string
			Result  *struct{ Requests, Started int64 }
		}
		jsonOf(t, &rows, cli("stats", "--output", "json", "greeter")...)
		if len(rows) != 2 || rows[0].Result == nil || rows[1].Result == nil || rows[0].Result.Started == 0 {
			t.Errorf("stats --output json: %+v", rows)
		}
	})

	t.Run("register", func(t *testing.T) {
		svc := `{"name":"legacy","version":"1.0.0","nodes":[{"id":"legacy-1","address":"127.0.0.1:9","metadata":{"zone":"eu"}}]}`
		ok(t, cli("register", "service", svc)...)
		r := ok(t, cli("get", "service", "legacy")...)
		if !strings.Contains(r.stdout, "127.0.0.1:9") || !strings.Contains(r.stdout, "zone=eu") {
			t.Errorf("%v", r)
		}
		// Nothing answers there: health fails.
		if r := micro(t, cli("health", "legacy")...); r.code != 1 || !strings.Contains(r.stdout, "unreachable") {
			t.Errorf("health of a node that does not answer: want exit 1\n%v", r)
		}
		ok(t, cli("deregister", "service", `{"name":"legacy","version":"1.0.0","nodes":[{"id":"legacy-1"}]}`)...)
		if r := micro(t, cli("get", "service", "legacy")...); r.code != 1 || !strings.Contains(r.stderr, "service not found: legacy") {
			t.Errorf("after deregister\n%v", r)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		down := closedAddr(t)
		tests := []struct {
			args   []string
			code   int
			stderr []string
		}{
			{cli("get", "service", "nope"), 1, []string{"service not found: nope"}},
			{cli("call", "nope", "Say.Hello", "{}"), 1, []string{"service not found: nope"}},
			{cli("health", "nope"), 1, []string{"service not found: nope"}},
			{cli("call", "greeter", "Say.Hello", `{"name": "Ann"`), 2, []string{"malformed JSON", "unexpected end"}},
			{cli("publish", "e2e.events", `{name}`), 2, []string{"malformed JSON", "invalid character"}},
			{cli("register", "service", `[`), 2, []string{"malformed JSON"}},
			{cli("list", "services", "--bogus"), 2, []string{"flag provided but not defined: -bogus", "usage: micro list services"}},
			{cli("bogus"), 2, []string{`unknown command "bogus"`, "usage: micro"}},
			{cli("call", "greeter"), 2, []string{"missing ENDPOINT", "usage: micro call"}},
			{[]string{"--registry_address", down, "list", "services"}, 1, []string{"cannot reach the registry at " + down, "micro server"}},
		}
		for _, tt := range tests {
			r := micro(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("want exit %d\n%v", tt.code, r)
				continue
			}
			for _, want := range tt.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q\n%v", want, r)
				}
			}
		}
		r := micro(t, "--registry_address", down, "list", "services")
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("an unreachable registry takes more than one line\n%v", r)
		}
	})

	t.Run("kill a greeter", func(t *testing.T) {
		if err := greeterA.stop(t, syscall.SIGKILL); err == nil {
			t.Fatal("greeter A exited cleanly after SIGKILL")
		}
		// Calls go on through greeter B while A is still listed: the
		// client retries on the other node.
		for range 3 {
			if r := ok(t, cli("call", "greeter", "Say.Hello", `{"name": "Ann"}`)...); !holds(t, r.stdout, "Hello Ann") {
				t.Errorf("%v", r)
			}
		}
		eventually(t, "greeter A to expire", greeterTTL+margin, func() bool {
			nodes := greeterNodes(t, reg)
			return len(nodes) == 1 && nodes[0] == addrB
		})
		if r := micro(t, cli("health", "greeter")...); r.code != 0 || strings.Contains(r.stdout, addrA) {
			t.Errorf("health after A expired\n%v", r)
		}
		for range 3 {
			if r := ok(t, cli("call", "greeter", "Say.Hello", `{"name": "Bo"}`)...); !holds(t, r.stdout, "Hello Bo") {
				t.Errorf("%v", r)
			}
		}
	})

	// Restart the server on the same port (at the top level: the new
	// server lives until the end of the test).
	if t.Failed() {
		return
	}
	if err := server.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("micro server exited with %v after SIGTERM, want 0\n%s", err, server.output())
	}
	if !strings.Contains(server.stdoutText(), "stopped") {
		t.Errorf("micro server did not say it stopped:\n%s", server.output())
	}
	if r := micro(t, cli("list", "services")...); r.code != 1 || !strings.Contains(r.stderr, "cannot reach the registry at "+reg) {
		t.Fatalf("with the server down\n%v", r)
	}
	if _, again := startServer(t, reg); again != reg {
		t.Fatalf("restarted on %s, want %s", again, reg)
	}
	// Greeter B registers again within an interval of the restart,
	// without being restarted itself.
	eventually(t, "greeter B to register again", greeterInterval+margin, func() bool {
		nodes := greeterNodes(t, reg)
		return len(nodes) == 1 && nodes[0] == addrB
	})
	if r := ok(t, cli("call", "greeter", "Say.Hello", `{"name": "Cy"}`)...); !holds(t, r.stdout, "Hello Cy") {
		t.Errorf("%v", r)
	}

	// A greeter stopped by SIGTERM deregisters before it exits.
	if err := greeterB.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("greeter B exited with %v after SIGTERM", err)
	}
	if listed(t, reg, "greeter") {
		t.Error("greeter B exited but is still listed: it did not deregister")
	}
}

// subscribe subscribes in the test process, through an http broker
// finding its peers in the registry at reg, and returns the messages.
func subscribe(t *testing.T, reg, topic string) <-chan *broker.Message {
	t.Helper()
	r := microregistry.NewRegistry(registry.Addrs(reg))
	t.Cleanup(func() { r.(interface{ Close() error }).Close() })
	b, err := httpbroker.New(broker.Registry(r))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), margin)
		defer cancel()
		_ = b.Disconnect(ctx)
	})
	got := make(chan *broker.Message, 1)
	if _, err := b.Subscribe(t.Context(), topic, func(_ context.Context, e broker.Event) error {
		select {
		case got <- e.Message():
		default:
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestNew scaffolds a service, builds it, runs it against micro server
// and calls it.
func TestNew(t *testing.T) {
	goMicro, err := filepath.Abs(filepath.Join("..", "go-micro"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := exec.CommandContext(t.Context(), microBin, "new", "demo")
	c.Dir = dir
	c.Env = append(os.Environ(), "MICRO_NEW_REPLACE=github.com/openmicro/go-micro="+goMicro)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("micro new demo: %v\n%s", err, out)
	}
	demo := filepath.Join(dir, "demo")
	bin := filepath.Join(dir, "demo-bin")
	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"build", "-o", bin, "."}} {
		c := exec.CommandContext(t.Context(), "go", args...)
		c.Dir = demo
		c.Env = append(os.Environ(), "GOWORK=off")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go %v in the new service: %v\n%s", args, err, out)
		}
	}

	_, reg := startServer(t, "127.0.0.1:0")
	start(t, "demo", bin, "--registry_address", reg)
	eventually(t, "demo to register", margin, func() bool { return listed(t, reg, "demo") })
	r := ok(t, "--registry_address", reg, "call", "demo", "Demo.Call", `{"name": "Ann"}`)
	if !holds(t, r.stdout, "Hello Ann") {
		t.Errorf("%v", r)
	}
	r = ok(t, "--registry_address", reg, "stream", "demo", "Demo.Stream", `{"count": 2}`)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 {
		t.Errorf("want 2 messages\n%v", r)
	}
	if r := micro(t, "new", filepath.Join(dir, "demo")); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Errorf("micro new over an existing service: want exit 1\n%v", r)
	}
	if r := micro(t, "new", filepath.Join(dir, "9lives")); r.code != 2 || !strings.Contains(r.stderr, "invalid service name") {
		t.Errorf("micro new with a bad name: want exit 2\n%v", r)
	}
}

// TestServerSignals: micro server stops gracefully on SIGINT, exit 0, and
// its port is free again.
func TestServerSignals(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p, reg := startServer(t, "127.0.0.1:0")
			ok(t, "--registry_address", reg, "list", "services")
			if err := p.stop(t, sig); err != nil {
				t.Fatalf("exit %v after %v, want 0", err, sig)
			}
			l, err := net.Listen("tcp", reg)
			if err != nil {
				t.Fatalf("the port is still taken after the stop: %v", err)
			}
			l.Close()
		})
	}
}

// TestServerBackends runs micro server storing into etcd and consul: a
// greeter registered through it is in the engine, and leaves it when it
// stops.
func TestServerBackends(t *testing.T) {
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"etcd", func(t *testing.T) string { return etcdtest.Start(t).Addr() }},
		{"consul", func(t *testing.T) string { return consultest.Start(t).Addr() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			engine := tt.addr(t)
			direct := []string{"--registry", tt.name, "--registry_address", engine}
			p := start(t, "micro server", microBin, append(direct, "server", "--address", "127.0.0.1:0", "--api_address", "", "--sidecar_address", "")...)
			reg := p.await(t, "micro server to print where it serves", serverReady)[1]
			if !strings.Contains(p.stdoutText(), "storing into the "+tt.name+" registry") {
				t.Errorf("micro server does not say it stores into %s:\n%s", tt.name, p.output())
			}
			greeter, addr := startGreeter(t, "greeter", reg)
			eventually(t, "the greeter to register", margin, func() bool { return len(greeterNodes(t, reg)) == 1 })

			// The registration is in the engine itself.
			r := ok(t, append(direct, "get", "service", "greeter")...)
			if !strings.Contains(r.stdout, addr) {
				t.Errorf("%s does not hold the greeter's node\n%v", tt.name, r)
			}
			if r := ok(t, "--registry_address", reg, "call", "greeter", "Say.Hello", `{"name": "Ann"}`); !holds(t, r.stdout, "Hello Ann") {
				t.Errorf("%v", r)
			}
			if err := greeter.stop(t, syscall.SIGTERM); err != nil {
				t.Fatalf("the greeter exited with %v after SIGTERM", err)
			}
			if r := micro(t, append(direct, "get", "service", "greeter")...); r.code != 1 {
				t.Errorf("the stopped greeter is still in %s\n%v", tt.name, r)
			}
		})
	}
}
