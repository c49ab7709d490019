package registries

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/examples/greeter"
	pb "github.com/openmicro/examples/greeter/proto"
	micro "github.com/openmicro/go-micro"
	"github.com/openmicro/go-micro/broker"
	httpbroker "github.com/openmicro/go-micro/broker/http"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/testenv"

	// The plugins register themselves as "consul" and "etcd", which
	// --registry then names, as in a program that ships them.
	_ "github.com/openmicro/go-plugins/registry/consul"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
	_ "github.com/openmicro/go-plugins/registry/etcd"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// patience bounds each wait of these tests: far above what any step
// takes, even under -race on a loaded 2-core machine, so that a failure
// means the awaited thing never happened.
const patience = 4 * testenv.Patience

// engine is a running registry engine of a test.
type engine struct {
	addr    string // for --registry_address
	stop    func() // stops it
	restart func() // starts it again on the same address
}

// engines are the registries the greeter runs over: the name --registry
// takes and a function that starts the engine for a test, which stops it
// when the test ends.
var engines = []struct {
	name  string
	start func(t *testing.T) engine
}{
	{"consul", func(t *testing.T) engine {
		a := consultest.Start(t)
		// A dev agent restarts empty: the greeter registers again.
		return engine{addr: a.Addr(), stop: a.Stop, restart: a.Start}
	}},
	{"etcd", func(t *testing.T) engine {
		s := etcdtest.Start(t)
		return engine{addr: s.Addr(), stop: s.Stop, restart: func() {
			t.Helper()
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
		}}
	}},
}

// TestGreeterThroughRegistries registers the greeter through each
// registry plugin, chosen by flags as a user would, and calls it from a
// separate client service through its default selector (over a registry
// cache): Say.Hello, the server stream Say.Stream and an event to the
// greeter's subscriber. While the engine is down, the client still calls
// the greeter, from its cache; once the engine is back the greeter is
// registered again. Once the greeter stops, its node is gone from the
// engine and the client's selector no longer finds it.
func TestGreeterThroughRegistries(t *testing.T) {
	for _, e := range engines {
		// Not in parallel: two services' Init at once race on
		// urfave/cli's global HelpFlag (reported in go-micro).
		t.Run(e.name, func(t *testing.T) {
			eng := e.start(t)
			flags := []string{"--registry=" + e.name, "--registry_address=" + eng.addr}
			observer := openRegistry(t, e.name, eng.addr)

			// The server, as greeter/srv runs it, with short registration
			// timings so that a lost node would show within the test.
			srv := startGreeter(t, append([]string{"greeter",
				"--server_address=127.0.0.1:0",
				"--register_interval=1s",
				"--register_ttl=5s",
			}, flags...))
			if got := srv.service.Options().Registry.String(); got != e.name {
				t.Fatalf("the greeter's registry is %q, want %q", got, e.name)
			}
			waitRegistered(t, observer, srv.addr)

			// The client: its own service, registry and selector, as
			// greeter/cli builds them, with no address to call.
			cli := newClientService(t, append([]string{"greeter.cli"}, flags...))
			opts := cli.Options()
			if got := opts.Registry.String(); got != e.name {
				t.Fatalf("the client's registry is %q, want %q", got, e.name)
			}
			if opts.Registry == srv.service.Options().Registry {
				t.Fatal("the client shares the greeter's registry instance")
			}

			next, err := opts.Selector.Select(t.Context(), greeter.Name)
			if err != nil {
				t.Fatalf("the client's selector (%s) does not find the greeter: %v", opts.Selector, err)
			}
			node, err := next()
			if err != nil || node.Address != srv.addr {
				t.Fatalf("the selector's node = %+v, %v; want the greeter at %s", node, err, srv.addr)
			}

			var out bytes.Buffer
			if err := greeter.Greet(callCtx(t), opts.Client, &out, "Ann", 3); err != nil {
				t.Fatalf("calling the greeter through the selector: %v", err)
			}
			const want = "Hello Ann\nHello Ann (1 of 3)\nHello Ann (2 of 3)\nHello Ann (3 of 3)\n"
			if out.String() != want {
				t.Fatalf("the client printed:\n%s\nwant:\n%s", out.String(), want)
			}

			// An event, from the client's broker to the greeter's
			// subscriber, which the http broker finds in the engine.
			b := opts.Broker
			if err := b.Connect(callCtx(t)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { disconnect(t, b) })
			sent := event{Name: "Ann", Message: "hello from the client"}
			msg := opts.Client.NewMessage(greeter.Topic, &pb.Event{Name: sent.Name, Message: sent.Message})
			if err := opts.Client.Publish(callCtx(t), msg); err != nil {
				t.Fatalf("publishing to %s: %v", greeter.Topic, err)
			}
			// Publish returns once the subscriber has run.
			if got := srv.events(); !slices.Contains(got, sent) {
				t.Fatalf("the greeter's subscriber logged %v, want %v among them", got, sent)
			}

			// The engine goes down: the client's selector serves the nodes
			// its cache saw last, and the greeter keeps serving. (The first
			// Select may wait for the cache's refetch to time out first:
			// seconds, with etcd.)
			eng.stop()
			if c, err := net.DialTimeout("tcp", eng.addr, time.Second); err == nil {
				_ = c.Close()
				t.Fatalf("%s still listens at %s after its stop", e.name, eng.addr)
			}
			out.Reset()
			if err := greeter.Greet(callCtx(t), opts.Client, &out, "Cy", 1); err != nil {
				t.Fatalf("calling the greeter with %s down: %v", e.name, err)
			}
			if want := "Hello Cy\nHello Cy (1 of 1)\n"; out.String() != want {
				t.Fatalf("with %s down the client printed:\n%s\nwant:\n%s", e.name, out.String(), want)
			}
			// The engine comes back: the greeter is registered again (in
			// an emptied consul, by its registration heartbeat).
			eng.restart()
			waitRegistered(t, observer, srv.addr)

			// Stop the greeter: it deregisters from the engine, and the
			// client's cache sees it go.
			if err := srv.stop(); err != nil {
				t.Fatalf("the greeter stopped with %v", err)
			}
			eventually(t, "the greeter's node to leave "+e.name, func(ctx context.Context) error {
				ss, err := observer.GetService(ctx, greeter.Name)
				if errors.Is(err, registry.ErrNotFound) {
					return nil
				}
				return fmt.Errorf("GetService = %v, %v; want registry.ErrNotFound", ss, err)
			})
			eventually(t, "the greeter's broker subscription to leave "+e.name, func(ctx context.Context) error {
				list, err := observer.ListServices(ctx)
				if err != nil {
					return err
				}
				for _, s := range list {
					if s.Name == greeter.Name || s.Name == httpbroker.ServicePrefix+greeter.Topic {
						return fmt.Errorf("%s is still listed", s.Name)
					}
				}
				return nil
			})
			eventually(t, "the client's selector to lose the greeter", func(ctx context.Context) error {
				_, err := opts.Selector.Select(ctx, greeter.Name)
				if errors.Is(err, selector.ErrNotFound) {
					return nil
				}
				return fmt.Errorf("Select = %v, want selector.ErrNotFound", err)
			})
			err = greeter.Greet(callCtx(t), opts.Client, io.Discard, "Bob", 1)
			if merrors.Code(err) != 404 {
				t.Fatalf("calling the stopped greeter = %v, want a 404", err)
			}
		})
	}
}

// greeterServer is a greeter service running in the test.
type greeterServer struct {
	service micro.Service
	addr    string // where it listens, once started
	log     *testLog

	stopOnce sync.Once
	cancel   context.CancelFunc
	ran      chan error
	err      error
}

// startGreeter builds the greeter service from args with
// greeter.NewService, runs it and waits until it has started. It stops
// when the test ends, if the test has not stopped it.
func startGreeter(t *testing.T, args []string) *greeterServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	log := newTestLog(t, "greeter")
	service, err := greeter.NewService(
		micro.Args(args),
		micro.Context(ctx),
		micro.Logger(log.logger),
		micro.AfterStart(func() error { close(started); return nil }),
	)
	if err != nil {
		cancel()
		t.Fatalf("building the greeter: %v", err)
	}
	s := &greeterServer{service: service, log: log, cancel: cancel, ran: make(chan error, 1)}
	go func() { s.ran <- service.Run() }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("the greeter stopped with %v", err)
		}
	})
	timer := time.NewTimer(patience)
	defer timer.Stop()
	select {
	case <-started:
	case err := <-s.ran:
		s.ran <- err // for stop
		t.Fatalf("the greeter did not start: %v", err)
	case <-timer.C:
		t.Fatalf("the greeter did not start within %v", patience)
	}
	s.addr = service.Server().Options().Address
	return s
}

// stop ends the service's Run and returns its error; later calls return
// the same.
func (s *greeterServer) stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		timer := time.NewTimer(patience)
		defer timer.Stop()
		select {
		case s.err = <-s.ran:
		case <-timer.C:
			s.err = fmt.Errorf("Run did not return within %v of the stop", patience)
		}
	})
	return s.err
}

// events returns the events the greeter's subscriber has logged.
func (s *greeterServer) events() []event {
	return s.log.events()
}

// waitRegistered waits until the engine has the greeter's node at addr,
// with its version and endpoints.
func waitRegistered(t *testing.T, r registry.Registry, addr string) {
	t.Helper()
	eventually(t, "the greeter to be registered", func(ctx context.Context) error {
		ss, err := r.GetService(ctx, greeter.Name)
		if err != nil {
			return err
		}
		for _, s := range ss {
			for _, n := range s.Nodes {
				if n.Address != addr {
					continue
				}
				if s.Version != greeter.Version {
					return fmt.Errorf("version %q, want %q", s.Version, greeter.Version)
				}
				var names []string
				for _, ep := range s.Endpoints {
					names = append(names, ep.Name)
					// The generated registration declares the stream's
					// kind and messages.
					if ep.Name == "Say.Stream" && (ep.Metadata["stream"] != "server" ||
						ep.Request == nil || ep.Request.Type != "greeter.StreamRequest" ||
						ep.Response == nil || ep.Response.Type != "greeter.HelloResponse") {
						return fmt.Errorf("Say.Stream is registered as %+v, want a server stream of greeter.StreamRequest to greeter.HelloResponse", ep)
					}
				}
				for _, want := range []string{"Say.Hello", "Say.Stream"} {
					if !slices.Contains(names, want) {
						return fmt.Errorf("endpoints %v, want %s among them", names, want)
					}
				}
				return nil
			}
		}
		return fmt.Errorf("no node at %s in %d versions", addr, len(ss))
	})
}

// newClientService builds, without running, a client-side service from
// args, as greeter/cli does, and closes it when the test ends.
func newClientService(t *testing.T, args []string) micro.Service {
	t.Helper()
	service := micro.NewService(
		micro.Name("greeter.cli"),
		micro.Args(args),
		micro.Logger(newTestLog(t, "client").logger),
	)
	if err := service.Init(); err != nil {
		t.Fatalf("building the client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := service.Close(ctx); err != nil {
			t.Errorf("closing the client: %v", err)
		}
	})
	return service
}

// openRegistry opens a registry of the engine by name, for the test's own
// look at what is registered, and closes it when the test ends.
func openRegistry(t *testing.T, name, addr string) registry.Registry {
	t.Helper()
	r, err := registry.Open(name, registry.Addrs(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, ok := r.(io.Closer); ok {
			if err := c.Close(); err != nil {
				t.Errorf("closing the %s registry: %v", name, err)
			}
		}
	})
	return r
}

// disconnect disconnects b within patience.
func disconnect(t *testing.T, b broker.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := b.Disconnect(ctx); err != nil {
		t.Errorf("disconnecting the client's broker: %v", err)
	}
}

// callCtx bounds one call or request of the test.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond, giving each try a context bounded by patience,
// until it returns nil, failing the test after patience with cond's last
// error.
func eventually(t *testing.T, what string, cond func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	try := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), patience)
		defer cancel()
		return cond(ctx)
	}
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: still not so after %v: %v", what, patience, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: the test ended: %v", what, err)
		}
	}
}

// testLog is a logger whose text is printed when the test fails, and
// which keeps the greeter's "greeter: event" records for the test to
// check. It may be written to after the test ended.
type testLog struct {
	logger *slog.Logger

	mu   sync.Mutex
	buf  bytes.Buffer
	evts []event
}

// event is a pb.Event as the greeter's subscriber logs it (comparable,
// unlike the generated message).
type event struct {
	Name, Message string
}

func newTestLog(t *testing.T, who string) *testLog {
	l := &testLog{}
	l.logger = slog.New(&eventHandler{Handler: slog.NewTextHandler(lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug}), log: l}).With("who", who)
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("%s's log:\n%s", who, l.buf.String())
		}
	})
	return l
}

func (l *testLog) events() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evts)
}

// lockedWriter appends to the log's buffer.
type lockedWriter struct{ l *testLog }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}

// eventHandler records the events that greeter.Subscriber logs, then
// writes every record through its Handler.
type eventHandler struct {
	slog.Handler
	log *testLog
}

func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "greeter: event") {
		var e event
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "name":
				e.Name = a.Value.String()
			case "message":
				e.Message = a.Value.String()
			}
			return true
		})
		h.log.mu.Lock()
		h.log.evts = append(h.log.evts, e)
		h.log.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h *eventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &eventHandler{Handler: h.Handler.WithAttrs(attrs), log: h.log}
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	return &eventHandler{Handler: h.Handler.WithGroup(name), log: h.log}
}
