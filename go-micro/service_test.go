package micro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/registry"
	regmem "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
)

type Req struct{ Name string }
type Rsp struct{ Msg string }

type Greeter struct{}

func (g *Greeter) Hello(_ context.Context, req *Req, rsp *Rsp) error {
	rsp.Msg = "hello " + req.Name
	return nil
}

// Slow answers once released, telling when a call arrived.
type Slow struct {
	started chan struct{}
	release chan struct{}
}

func (s *Slow) Wait(ctx context.Context, req *Req, rsp *Rsp) error {
	s.started <- struct{}{}
	select {
	case <-s.release:
		rsp.Msg = "done " + req.Name
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func handle(t *testing.T, srv server.Server, h any) {
	t.Helper()
	if err := srv.Handle(srv.NewHandler(h)); err != nil {
		t.Fatal(err)
	}
}

// call calls Greeter.Hello on service name through cl.
func call(ctx context.Context, cl client.Client, name, who string) (string, error) {
	var rsp Rsp
	err := cl.Call(ctx, cl.NewRequest(name, "Greeter.Hello", &Req{Name: who}), &rsp)
	return rsp.Msg, err
}

func TestInitArgsFlagsAction(t *testing.T) {
	e := newEnv(t, "flagged")
	var seen struct {
		greeting string
		count    int
		client   client.Client
		server   server.Server
		args     []string
	}
	var s *testService
	s = newTestService(t, append(e.options(),
		Name("coded"), Version("0.1"), RegisterTTL(3600e9),
		Metadata(map[string]string{"a": "code", "b": "code"}),
		Args([]string{"prog", "--server_name=flagged", "--server_metadata=b=flag", "--register_ttl=60",
			"--greeting=hi", "--count", "3", "extra"}),
		Flags(&cli.StringFlag{Name: "greeting"}, &cli.IntFlag{Name: "count"}),
		Action(func(c *cli.Context) error {
			seen.greeting, seen.count = c.String("greeting"), c.Int("count")
			seen.client, seen.server = s.Client(), s.Server()
			seen.args = c.Args().Slice()
			return nil
		}),
	)...)
	if s.Client() != nil || s.Server() != nil {
		t.Fatal("client or server built before Init")
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	if seen.greeting != "hi" || seen.count != 3 || !slices.Equal(seen.args, []string{"extra"}) {
		t.Errorf("Action saw greeting %q count %d args %q", seen.greeting, seen.count, seen.args)
	}
	if seen.client == nil || seen.server == nil || seen.client != s.Client() || seen.server != s.Server() {
		t.Error("Action did not see the built client and server")
	}
	if s.Name() != "flagged" {
		t.Errorf("Name() = %q, want the flag's", s.Name())
	}
	so := s.Server().Options()
	if so.Version != "0.1" || so.RegisterTTL != 60e9 || so.Metadata["a"] != "code" || so.Metadata["b"] != "flag" {
		t.Errorf("server options: version %q ttl %v metadata %v", so.Version, so.RegisterTTL, so.Metadata)
	}
	o := s.Options()
	if o.Registry != e.reg || o.Broker != e.br || o.Transport != e.tr || o.Selector == nil || o.Name != "flagged" {
		t.Errorf("Options after Init: %+v", o)
	}
	if err := s.Init(); err == nil {
		t.Error("a second Init succeeded")
	}
}

func TestEnvironment(t *testing.T) {
	e := newEnv(t, "from-env")
	t.Setenv("MICRO_SERVER_NAME", "from-env")
	t.Setenv("MICRO_CLIENT_RETRIES", "0")
	s := newTestService(t, append(e.options(), Args([]string{"prog"}))...)
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	if s.Name() != "from-env" || s.Client().Options().Retries != 0 {
		t.Errorf("name %q retries %d", s.Name(), s.Client().Options().Retries)
	}
}

func TestInitBadFlags(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		flagErr  string // the cmd.FlagError's flag, when one
		mentions []string
	}{
		{"unknown flag", []string{"--no_such_flag"}, "", []string{"no_such_flag"}},
		{"missing value", []string{"--registry"}, "", []string{"registry"}},
		{"bad duration", []string{"--register_ttl=soon"}, "register_ttl", []string{"MICRO_REGISTER_TTL"}},
		{"unknown registry", []string{"--registry=nope"}, "registry", []string{"memory", "nope"}},
		{"bad retries", []string{"--client_retries=-2"}, "client_retries", nil},
		{"tls without files", []string{"--enable_tls"}, "enable_tls", []string{"tls_cert_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestService(t, Args(append([]string{"prog"}, tc.args...)))
			err := s.Init()
			if err == nil {
				t.Fatal("want an error")
			}
			if errors.Is(err, ErrHelp) {
				t.Fatal("a bad flag returned ErrHelp")
			}
			var fe *cmd.FlagError
			if tc.flagErr != "" && (!errors.As(err, &fe) || fe.Flag != tc.flagErr) {
				t.Errorf("want a FlagError for --%s, got %v", tc.flagErr, err)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if !strings.Contains(s.stderr.String(), "Usage: prog [options]") || !strings.Contains(s.stderr.String(), "--help") {
				t.Errorf("stderr lacks the usage line: %q", s.stderr)
			}
			if s.Client() != nil || s.Server() != nil || s.Options().Registry != nil {
				t.Error("a failed Init left something built")
			}
			if err2 := s.Run(); err2 != err {
				t.Errorf("Run after a failed Init = %v, want Init's error", err2)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			s := newTestService(t, Name("greeter"), Args([]string{"prog", arg}),
				Flags(&cli.StringFlag{Name: "greeting", Usage: "what to say", EnvVars: []string{"GREETING"}}),
				Action(func(*cli.Context) error { t.Error("Action ran on --help"); return nil }))
			if err := s.Run(); !errors.Is(err, ErrHelp) {
				t.Fatalf("Run = %v, want ErrHelp", err)
			}
			out := s.stdout.String()
			for _, want := range []string{"greeter", "$MICRO_REGISTRY", "$MICRO_REGISTER_TTL", "registered: ",
				"memory", "--greeting", "$GREETING", "what to say"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			if s.Client() != nil || s.stderr.Len() != 0 {
				t.Errorf("--help built a client or wrote to stderr: %q", s.stderr)
			}
		})
	}
}

func TestDuplicateFlag(t *testing.T) {
	for _, name := range []string{"registry", "help", "h"} {
		s := newTestService(t, Args([]string{"prog"}), Flags(&cli.StringFlag{Name: name}))
		if err := s.Init(); err == nil || !strings.Contains(err.Error(), "--"+name) {
			t.Errorf("flag %q: Init = %v, want an error naming it", name, err)
		}
	}
}

// An Action's error fails Init and releases what Init built.
func TestActionError(t *testing.T) {
	boom := errors.New("boom")
	s := newTestService(t, Args([]string{"prog", "--transport=closecheck"}),
		Action(func(*cli.Context) error { return boom }))
	if err := s.Init(); !errors.Is(err, boom) {
		t.Fatalf("Init = %v, want boom", err)
	}
	if !lastCloseCheck(t).isClosed() {
		t.Error("the transport built from the flags was not closed")
	}
	if s.Client() != nil || s.Server() != nil {
		t.Error("client or server left after a failed Init")
	}
}

// An instance given in code beats the flag, with a warning.
func TestInstanceBeatsFlag(t *testing.T) {
	e := newEnv(t, "svc")
	s := newTestService(t, append(e.options(), Args([]string{"prog", "--registry=nope", "--transport=http"}))...)
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	if s.Options().Registry != e.reg || s.Options().Transport != e.tr {
		t.Error("the instances given in code were not used")
	}
	if logs := s.logs.String(); !strings.Contains(logs, "--registry") || !strings.Contains(logs, "--transport") {
		t.Errorf("no warnings for the flags overruled by code: %s", logs)
	}
}

func TestRunServes(t *testing.T) {
	e := newEnv(t, "greeter")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		msg      string
		err      error
		services []*registry.Service
	}
	got := make(chan result, 1)
	var wrapped, handled int
	var s *testService
	s = newTestService(t, append(e.options(),
		Name("greeter"), Version("1.0.0"), Context(ctx),
		Args([]string{"prog", "--server_metadata=zone=a"}),
		WrapClient(func(c client.Client) client.Client { wrapped++; return c }),
		WrapHandler(func(next server.HandlerFunc) server.HandlerFunc {
			return func(ctx context.Context, req server.Request, rsp any) error {
				handled++
				return next(ctx, req, rsp)
			}
		}),
		AfterStart(func() error {
			var r result
			r.services, r.err = e.reg.GetService(ctx, "greeter")
			if r.err == nil {
				r.msg, r.err = call(ctx, s.Client(), "greeter", "bob")
			}
			got <- r
			cancel()
			return nil
		}),
	)...)
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	handle(t, s.Server(), new(Greeter))
	if err := s.Run(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("while running: %v", r.err)
	}
	if r.msg != "hello bob" {
		t.Errorf("call answered %q", r.msg)
	}
	if len(r.services) != 1 || r.services[0].Version != "1.0.0" || len(r.services[0].Nodes) != 1 ||
		r.services[0].Nodes[0].Metadata["zone"] != "a" {
		t.Errorf("registered %+v", r.services)
	}
	if wrapped != 1 || handled != 1 {
		t.Errorf("client wrapped %d times, handler wrapper ran %d times; want 1 and 1", wrapped, handled)
	}
	if _, err := e.reg.GetService(t.Context(), "greeter"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("after Run the service is still registered: %v", err)
	}
	if err := s.Run(); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestHookOrder(t *testing.T) {
	e := newEnv(t, "hooks")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newTestService(t, append(e.options(), Name("hooks"), Context(ctx), Args([]string{"prog"}),
		BeforeStart(e.ev.hook("before start 1")), BeforeStart(e.ev.hook("before start 2")),
		AfterStart(e.ev.hook("after start")), AfterStart(func() error { cancel(); return nil }),
		BeforeStop(e.ev.hook("before stop")), AfterStop(e.ev.hook("after stop")),
	)...)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	want := []string{"connect", "before start 1", "before start 2", "register", "after start",
		"before stop", "deregister", "listener shutdown", "after stop", "disconnect"}
	var got []string
	for _, ev := range e.ev.list() {
		if ev != "listener close" {
			got = append(got, ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("order\n got %q\nwant %q", got, want)
	}
}

func TestHookErrors(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	fail := func(err error) func() error { return func() error { return err } }
	cases := []struct {
		name   string
		opts   func(e *env) []Option
		want   error
		events []string // must all happen
		absent []string // must not happen
	}{
		{"BeforeStart", func(e *env) []Option {
			return []Option{BeforeStart(fail(errA)), BeforeStart(e.ev.hook("before start 2")),
				BeforeStop(e.ev.hook("before stop")), AfterStop(e.ev.hook("after stop"))}
		}, errA, []string{"connect", "before stop", "after stop", "disconnect"}, []string{"before start 2", "register", "deregister"}},
		{"AfterStart", func(e *env) []Option {
			return []Option{AfterStart(fail(errA)), AfterStop(e.ev.hook("after stop"))}
		}, errA, []string{"register", "deregister", "after stop", "disconnect"}, nil},
		{"BeforeStop", func(e *env) []Option {
			return []Option{AfterStart(fail(errA)), BeforeStop(fail(errB)), BeforeStop(e.ev.hook("before stop 2")),
				AfterStop(e.ev.hook("after stop"))}
		}, errA, []string{"before stop 2", "deregister", "after stop", "disconnect"}, nil},
		{"AfterStop", func(e *env) []Option {
			return []Option{AfterStart(fail(errA)), AfterStop(fail(errB)), AfterStop(e.ev.hook("after stop 2"))}
		}, errA, []string{"deregister", "after stop 2", "disconnect"}, nil},
		{"only a stop hook", func(e *env) []Option {
			return []Option{AfterStart(func() error { return nil }), BeforeStop(fail(errB))}
		}, errB, []string{"deregister", "disconnect"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "hooks")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			// Run stops as soon as it started. (A Context ended before Run
			// would race with the start, which it may abort.)
			opts := append(append(e.options(), Name("hooks"), Context(ctx), Args([]string{"prog"})), tc.opts(e)...)
			opts = append(opts, AfterStart(func() error { cancel(); return nil }))
			s := newTestService(t, opts...)
			err := s.Run()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
			for _, ev := range tc.events {
				if !e.ev.has(ev) {
					t.Errorf("%q did not happen; events %q", ev, e.ev.list())
				}
			}
			for _, ev := range tc.absent {
				if e.ev.has(ev) {
					t.Errorf("%q happened; events %q", ev, e.ev.list())
				}
			}
		})
	}
}

// Run releases the components it built from the flags.
func TestRunReleasesBuilt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := newTestService(t, Context(ctx), Args([]string{"prog", "--transport=closecheck", "--broker=http"}),
		Registry(regmem.New()))
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if !lastCloseCheck(t).isClosed() {
		t.Error("the transport built from the flags is still open")
	}
}

// SIGTERM stops Run gracefully: the service deregisters before its
// listener stops accepting, and a call in progress completes.
func TestSIGTERM(t *testing.T) {
	// Keep the default action (exit) away even if the signal came late.
	safety := make(chan os.Signal, 1)
	signal.Notify(safety, syscall.SIGTERM)
	defer signal.Stop(safety)

	e := newEnv(t, "slow")
	slow := &Slow{started: make(chan struct{}, 1), release: make(chan struct{})}
	up := make(chan struct{})
	s := newTestService(t, append(e.options(), Name("slow"), Args([]string{"prog"}),
		AfterStart(func() error { close(up); return nil }))...)
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	handle(t, s.Server(), slow)
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	testenv.Wait(t, "the service to start", up)

	type answer struct {
		msg string
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		var rsp Rsp
		cl := s.Client()
		err := cl.Call(t.Context(), cl.NewRequest("slow", "Slow.Wait", &Req{Name: "x"}), &rsp,
			client.WithRequestTimeout(2*testenv.Patience))
		answered <- answer{rsp.Msg, err}
	}()
	testenv.Recv(t, "the call to arrive", slow.started)

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the service to deregister", func() bool { return e.ev.has("deregister") })
	close(slow.release)

	a := testenv.Recv(t, "the call's answer", answered)
	if a.err != nil || a.msg != "done x" {
		t.Errorf("the call in progress got %q, %v; want it to complete", a.msg, a.err)
	}
	if err := testenv.Recv(t, "Run to return", ran); err != nil {
		t.Errorf("Run = %v, want nil after SIGTERM", err)
	}
	d, sd := e.ev.index("deregister"), e.ev.index("listener shutdown")
	if cl := e.ev.index("listener close"); sd < 0 || (cl >= 0 && cl < sd) {
		sd = cl
	}
	if d < 0 || sd < 0 || d > sd {
		t.Errorf("want deregister before the listener stops; events %q", e.ev.list())
	}
	if _, err := e.reg.GetService(t.Context(), "slow"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("still registered after SIGTERM: %v", err)
	}
}

func TestString(t *testing.T) {
	s := NewService(Name("x"))
	if s.String() != "micro" || s.Name() != "x" {
		t.Errorf("String %q Name %q", s.String(), s.Name())
	}
	if NewService().Name() != server.DefaultName {
		t.Errorf("default Name %q", NewService().Name())
	}
	o := NewService().Options()
	if o.GracePeriod != DefaultGracePeriod || o.Context == nil || o.Logger == nil {
		t.Errorf("defaults: %+v", o)
	}
}

// Close releases what Init built for a program that never runs the
// service (goleak in TestMain sees what is left), and Run after it fails.
func TestCloseWithoutRun(t *testing.T) {
	s := NewService(Name("client-only"), Args([]string{"prog"}))
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Run(); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

// Two services parse their flags at once in one process (urfave/cli's
// built-in help flag is a shared global that parsing writes to).
func TestInitConcurrently(t *testing.T) {
	var g sync.WaitGroup
	for i := range 4 {
		g.Add(1)
		go func() {
			defer g.Done()
			s := NewService(Name(fmt.Sprint("svc-", i)), Args([]string{"prog", "--server_version=1"}),
				Logger(slog.New(slog.DiscardHandler)))
			if err := s.Init(); err != nil {
				t.Error(err)
				return
			}
			if err := s.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	g.Wait()
}
