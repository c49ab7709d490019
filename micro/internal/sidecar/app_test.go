package sidecar

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
)

func TestNewOptions(t *testing.T) {
	reg := Registry(memory.New())
	tests := []struct {
		name string
		opts []Option
		want error
		says string
	}{
		{"no registry", nil, ErrMissing, "registry"},
		{"empty address", []Option{reg, Address("")}, ErrInvalidOption, "address"},
		{"zero body size", []Option{reg, MaxBodySize(0)}, ErrInvalidOption, "body size"},
		{"zero socket buffer", []Option{reg, SocketBuffer(0)}, ErrInvalidOption, "socket buffer"},
		{"zero keep-alive", []Option{reg, KeepAlive(0)}, ErrInvalidOption, "keep-alive"},
		{"zero socket buffer bytes", []Option{reg, SocketBufferBytes(0)}, ErrInvalidOption, "bytes"},
		{"zero max sockets", []Option{reg, MaxSockets(0)}, ErrInvalidOption, "max sockets"},
		{"negative request timeout", []Option{reg, RequestTimeout(-time.Second)}, ErrInvalidOption, "request timeout"},
		{"app without a name", []Option{reg, App("", "127.0.0.1:9")}, ErrInvalidOption, "without a name"},
		{"app address without a port", []Option{reg, App("a", "127.0.0.1")}, ErrInvalidOption, "host:port"},
		{"health check without an app", []Option{reg, HealthCheck("http://127.0.0.1:9/health", time.Second)}, ErrInvalidOption, "needs an app"},
		{"health check URL not http", []Option{reg, App("a", "127.0.0.1:9"), HealthCheck("ftp://x/health", time.Second)}, ErrInvalidOption, "http or https"},
		{"health check URL relative", []Option{reg, App("a", "127.0.0.1:9"), HealthCheck("/health", time.Second)}, ErrInvalidOption, "http or https"},
		{"negative TTL", []Option{reg, App("a", "127.0.0.1:9"), RegisterTTL(-1)}, ErrInvalidOption, "TTL"},
		{"zero interval", []Option{reg, App("a", "127.0.0.1:9"), RegisterInterval(0)}, ErrInvalidOption, "interval"},
		{"interval not below TTL", []Option{reg, App("a", "127.0.0.1:9"), RegisterTTL(time.Second), RegisterInterval(time.Second)}, ErrInvalidOption, "lapse"},
		{"origin not an origin", []Option{reg, CORSOrigins("app.example.com")}, ErrInvalidOption, "want * or scheme://host[:port]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts...)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("New: %v, want %v saying %q", err, tt.want, tt.says)
			}
		})
	}
	// Defaults build.
	s, err := New(reg, App("a", "127.0.0.1:9"), HealthCheck("http://127.0.0.1:9/health", 0), RegisterTTL(0))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != DefaultAddress || s.opts.healthEvery != DefaultHealthCheckInterval || s.opts.interval != DefaultRegisterInterval {
		t.Errorf("defaults: address %s, health every %v, interval %v", s.Addr(), s.opts.healthEvery, s.opts.interval)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop without Start: %v", err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop: %v", err)
	}
}

func TestStartTwice(t *testing.T) {
	s := start(t)
	if err := s.Start(t.Context()); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
}

func TestStartTakenAddress(t *testing.T) {
	taken := start(t)
	s, err := New(Registry(memory.New()), Address(taken.Addr()), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil || !strings.Contains(err.Error(), taken.Addr()) {
		t.Errorf("Start on a taken address: %v", err)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

// TestAppKeptRegistered: the sidecar registers the app at Start, renews
// the registration every interval with the TTL, never removes it while it
// runs, and Stop deregisters it. The renewals are counted as they happen,
// so no TTL has to lapse, or not lapse, in real time.
func TestAppKeptRegistered(t *testing.T) {
	reg := &flakyRegistry{Registry: memory.New()}
	const ttl = time.Hour
	s := start(t, Registry(reg), App("app", "127.0.0.1:9090"), AppVersion("1.2"),
		AppMetadata(map[string]string{"lang": "python"}), RegisterTTL(ttl), RegisterInterval(time.Millisecond))
	id := s.AppNode()
	// Start registers it at once, unless a stall made that attempt time
	// out; then the loop does.
	testenv.WaitFor(t, "the app to be registered", func() bool {
		got := nodes(t, reg, "app")
		return len(got) == 1 && got[0] == id
	})
	ss, _ := reg.GetService(t.Context(), "app")
	if n := ss[0].Nodes[0]; ss[0].Version != "1.2" || n.Address != "127.0.0.1:9090" || n.Metadata["lang"] != "python" || n.Metadata["server"] != "sidecar" {
		t.Errorf("registered %+v, node %+v", ss[0], n)
	}

	testenv.WaitFor(t, "ten renewals", func() bool { return reg.registers.Load() > 10 })
	if ttls := reg.seenTTLs(); len(ttls) != 1 || ttls[0] != ttl {
		t.Errorf("registered with the TTLs %v, want %v each time", ttls, ttl)
	}
	if n := reg.deregisters.Load(); n != 0 {
		t.Errorf("the running sidecar deregistered the app %d times", n)
	}
	if got := nodes(t, reg, "app"); len(got) != 1 || got[0] != id {
		t.Errorf("while renewing the registry lists %v, want %s", got, id)
	}

	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := nodes(t, reg, "app"); got != nil {
		t.Errorf("after Stop the registry lists %v", got)
	}
	// No renewal follows the deregistration.
	if n := reg.registers.Load(); n != reg.registersAt(reg.deregisters.Load()) {
		t.Errorf("%d registrations in all, %d of them before the deregistration", n, reg.registersAt(1))
	}
}

// TestAppRegistryDown: when the registry is down at Start the sidecar
// still starts, and registers the app once the registry is back.
func TestAppRegistryDown(t *testing.T) {
	reg := &flakyRegistry{Registry: memory.New()}
	reg.down.Store(true)
	s := start(t, Registry(reg), App("app", "127.0.0.1:9090"), RegisterTTL(time.Minute), RegisterInterval(50*time.Millisecond))
	if rsp := do(t, "GET", "http://"+s.Addr()+"/registry", ""); rsp.code != 503 {
		t.Errorf("GET /registry with the registry down: %d", rsp.code)
	}
	reg.down.Store(false)
	testenv.WaitFor(t, "the app to be registered once the registry is back", func() bool {
		return nodes(t, reg, "app") != nil
	})
}

// healthApp is an app whose health endpoint answers 200 or 503 as told:
// 503 while not healthy, and for the next failNext checks.
type healthApp struct {
	*httptest.Server
	healthy  atomic.Bool
	checks   atomic.Int64
	failNext atomic.Int64
}

// failing takes one of the checks failNext asks to fail.
func (a *healthApp) failing() bool {
	for {
		n := a.failNext.Load()
		if n <= 0 {
			return false
		}
		if a.failNext.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func newHealthApp(t *testing.T, healthy bool) *healthApp {
	t.Helper()
	a := &healthApp{}
	a.healthy.Store(healthy)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.checks.Add(1)
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if !a.healthy.Load() || a.failing() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(a.Close)
	return a
}

// countingRegistry counts the deregistrations of a memory registry.
type countingRegistry struct {
	registry.Registry
	deregs atomic.Int64
}

func (r *countingRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	r.deregs.Add(1)
	return r.Registry.Deregister(ctx, s, opts...)
}

// TestHealthThreshold: failed checks fewer than the threshold in a row
// leave the app registered; as many as the threshold deregister it, and the
// next good answer registers it again.
func TestHealthThreshold(t *testing.T) {
	reg := &countingRegistry{Registry: memory.New()}
	app := newHealthApp(t, true)
	start(t, Registry(reg), App("app", app.Listener.Addr().String()),
		HealthCheck(app.URL+"/health", 10*time.Millisecond), HealthThreshold(3),
		RegisterTTL(time.Minute), RegisterInterval(time.Second))
	testenv.WaitFor(t, "the healthy app to be registered", func() bool { return nodes(t, reg, "app") != nil })

	// Two failures, then good answers: the checks run one after another,
	// so once three good answers followed, any deregistration has happened.
	app.failNext.Store(2)
	testenv.WaitFor(t, "two failed checks", func() bool { return app.failNext.Load() == 0 })
	seen := app.checks.Load()
	testenv.WaitFor(t, "three more checks", func() bool { return app.checks.Load() >= seen+3 })
	if n := reg.deregs.Load(); n != 0 {
		t.Fatalf("two failed checks in a row deregistered the app (%d times) with a threshold of 3", n)
	}
	if nodes(t, reg, "app") == nil {
		t.Fatal("the app is not registered after two failed checks")
	}

	// Three failures in a row: deregistered, then registered again.
	app.failNext.Store(3)
	testenv.WaitFor(t, "the app to be deregistered", func() bool { return reg.deregs.Load() == 1 })
	testenv.WaitFor(t, "the recovered app to be registered", func() bool { return nodes(t, reg, "app") != nil })
	if n := reg.deregs.Load(); n != 1 {
		t.Fatalf("deregistered %d times, want 1", n)
	}
}

// TestHealthCheck: the app is deregistered while its health URL fails and
// registered again when it recovers.
func TestHealthCheck(t *testing.T) {
	reg := memory.New()
	app := newHealthApp(t, true)
	s := start(t, Registry(reg), App("app", app.Listener.Addr().String()),
		HealthCheck(app.URL+"/health", 10*time.Millisecond), RegisterTTL(time.Minute), RegisterInterval(time.Second))
	// Start registers it at once, unless a stall made the first check
	// time out; then the next check does.
	testenv.WaitFor(t, "the healthy app to be registered", func() bool { return nodes(t, reg, "app") != nil })
	for round := range 2 {
		app.healthy.Store(false)
		testenv.WaitFor(t, "the unhealthy app to be deregistered", func() bool { return nodes(t, reg, "app") == nil })
		// It stays away while unhealthy: several more checks pass.
		seen := app.checks.Load()
		testenv.WaitFor(t, "three more health checks", func() bool { return app.checks.Load() >= seen+3 })
		if got := nodes(t, reg, "app"); got != nil {
			t.Fatalf("round %d: an unhealthy app is registered: %v", round, got)
		}
		app.healthy.Store(true)
		testenv.WaitFor(t, "the recovered app to be registered", func() bool { return nodes(t, reg, "app") != nil })
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := nodes(t, reg, "app"); got != nil {
		t.Errorf("after Stop the registry lists %v", got)
	}
}

// TestHealthCheckUnhealthyAtStart: an app that is not healthy yet is
// registered once it is; one whose health URL does not answer at all is
// never registered.
func TestHealthCheckUnhealthyAtStart(t *testing.T) {
	reg := memory.New()
	app := newHealthApp(t, false)
	start(t, Registry(reg), App("app", app.Listener.Addr().String()),
		HealthCheck(app.URL+"/health", 10*time.Millisecond))
	if got := nodes(t, reg, "app"); got != nil {
		t.Fatalf("an unhealthy app is registered at Start: %v", got)
	}
	app.healthy.Store(true)
	testenv.WaitFor(t, "the app to be registered once healthy", func() bool { return nodes(t, reg, "app") != nil })

	// Nothing listens: never registered.
	gone := httptest.NewServer(http.NotFoundHandler())
	url := gone.URL + "/health"
	gone.Close()
	ghost := newHealthApp(t, true) // counts nothing; only its port is used
	start(t, Registry(reg), App("ghost", ghost.Listener.Addr().String()), HealthCheck(url, 10*time.Millisecond))
	if got := nodes(t, reg, "ghost"); got != nil {
		t.Errorf("an app whose health URL does not answer is registered: %v", got)
	}
}

// TestHealthCheckSelf: a health URL that leads back to the sidecar itself
// (here /registry, which answers 200) is never taken for the app's
// health, and the log says why.
func TestHealthCheckSelf(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	reg := memory.New()
	start(t, Registry(reg), listenOn(ln), Logger(logs.logger()), App("app", "127.0.0.1:9"),
		HealthCheck("http://"+ln.Addr().String()+"/registry", time.Hour))
	if got := nodes(t, reg, "app"); got != nil {
		t.Errorf("registered %v on the sidecar's own health", got)
	}
	if !strings.Contains(logs.String(), "points at the sidecar itself") {
		t.Errorf("the log does not say why the app is not registered:\n%s", logs.String())
	}
}

// blockingRegistry is a memory registry whose Deregister waits until its
// ctx ends, as a registry that does not answer.
type blockingRegistry struct {
	registry.Registry
	entered chan struct{}
	cause   chan error
}

func (r *blockingRegistry) Deregister(ctx context.Context, _ *registry.Service, _ ...registry.DeregisterOption) error {
	close(r.entered)
	<-ctx.Done()
	r.cause <- context.Cause(ctx)
	return ctx.Err()
}

var errTestStop = errors.New("the test stops the sidecar")

// TestStopDeregisterBoundedByCtx: Stop does not outlast its ctx when the
// registry hangs on the app's deregistration.
func TestStopDeregisterBoundedByCtx(t *testing.T) {
	reg := &blockingRegistry{Registry: memory.New(), entered: make(chan struct{}), cause: make(chan error, 1)}
	s, err := New(Registry(reg), Address("127.0.0.1:0"), Logger(testLogger()), App("app", "127.0.0.1:9"),
		RegisterTTL(3*DefaultRegisterInterval))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = s.Stop(ctx)
	}()
	testenv.Wait(t, "Stop to deregister the app", reg.entered)
	cancel(errTestStop)
	if cause := testenv.Recv(t, "the deregistration to end", reg.cause); !errors.Is(cause, errTestStop) {
		t.Errorf("the deregistration ended with %v, not with Stop's ctx", cause)
	}
	testenv.Wait(t, "Stop to return", stopped)
}

// TestHealthCheckNoRedirects: a health URL that redirects is not a
// healthy answer, whatever the redirect leads to.
func TestHealthCheckNoRedirects(t *testing.T) {
	var ok atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			ok.Add(1)
			_, _ = w.Write([]byte("sign in"))
			return
		}
		http.Redirect(w, r, "/login", http.StatusFound)
	}))
	t.Cleanup(app.Close)
	reg := memory.New()
	start(t, Registry(reg), App("app", app.Listener.Addr().String()), HealthCheck(app.URL+"/health", 0))
	if got := nodes(t, reg, "app"); got != nil || ok.Load() != 0 {
		t.Errorf("an app whose health URL redirects is registered (%v) or the redirect was followed (%d)", got, ok.Load())
	}
}
