package cmd_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/urfave/cli/v2"
	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	brokermem "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/registry"
	regmem "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	trmem "github.com/openmicro/go-micro/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fakes register under "fake" and keep the options they were built
// with, so tests can see what Build passed.
func init() {
	registry.Register("fake", func(opts ...registry.Option) (registry.Registry, error) {
		return &fakeRegistry{Registry: regmem.New(), opts: registry.NewOptions(opts...)}, nil
	})
	transport.Register("fake", func(opts ...transport.Option) (transport.Transport, error) {
		t, err := trmem.NewTransport(opts...)
		if err != nil {
			return nil, err
		}
		return &fakeTransport{Transport: t, opts: transport.NewOptions(opts...)}, nil
	})
	registry.Register("recorder", func(opts ...registry.Option) (registry.Registry, error) {
		r := &fakeRegistry{Registry: regmem.New(), opts: registry.NewOptions(opts...)}
		recorders.mu.Lock()
		defer recorders.mu.Unlock()
		recorders.built = append(recorders.built, r)
		return r, nil
	})
	broker.Register("fake", func(opts ...broker.Option) (broker.Broker, error) {
		return &fakeBroker{Broker: brokermem.New(opts...), opts: broker.NewOptions(opts...)}, nil
	})
}

// recorders holds the registries built under the name "recorder".
var recorders struct {
	mu    sync.Mutex
	built []*fakeRegistry
}

// lastRecorder returns the registry last built under "recorder".
func lastRecorder(t *testing.T) *fakeRegistry {
	t.Helper()
	recorders.mu.Lock()
	defer recorders.mu.Unlock()
	if len(recorders.built) == 0 {
		t.Fatal("no recorder registry was built")
	}
	return recorders.built[len(recorders.built)-1]
}

type fakeRegistry struct {
	registry.Registry
	opts registry.Options

	mu     sync.Mutex
	closed bool
}

func (r *fakeRegistry) String() string { return "fake" }

func (r *fakeRegistry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *fakeRegistry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

type fakeTransport struct {
	transport.Transport
	opts transport.Options
}

func (t *fakeTransport) String() string { return "fake" }

type fakeBroker struct {
	broker.Broker
	opts broker.Options
}

func (b *fakeBroker) String() string { return "fake" }

// result is what one run of an App with the cmd flags produced.
type result struct {
	comps  cmd.Components
	err    error // from Build, or from parsing when Build never ran
	built  bool  // Build ran
	stdout string
	logs   string
}

// run parses args (args[0] is added) with an App made of cmd.Flags and
// calls Build with have; what Build built is released at cleanup.
func run(t *testing.T, have cmd.Components, args ...string) result {
	t.Helper()
	var out, logs bytes.Buffer
	if have.Logger == nil {
		have.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}
	var r result
	app := &cli.App{
		Name:            "svc",
		Flags:           cmd.Flags(),
		Writer:          &out,
		ErrWriter:       &out,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			r.built = true
			r.comps, r.err = cmd.Build(c, have)
			return nil
		},
	}
	if err := app.Run(append([]string{"svc"}, args...)); err != nil {
		r.err = err
	}
	t.Cleanup(func() {
		if err := r.comps.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	r.stdout = out.String()
	r.logs = logs.String()
	return r
}

// mustRun is run that fails the test on an error.
func mustRun(t *testing.T, have cmd.Components, args ...string) result {
	t.Helper()
	r := run(t, have, args...)
	if r.err != nil {
		t.Fatalf("args %q: %v", args, r.err)
	}
	if !r.built {
		t.Fatalf("args %q: Build did not run; output:\n%s", args, r.stdout)
	}
	return r
}

// writePEM writes a fresh self-signed certificate for 127.0.0.1 and its
// key to PEM files in a temporary directory.
func writePEM(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, _ = testenv.SelfSignedFiles(t)
	return certFile, keyFile
}

// otherKey returns a key file that belongs to another certificate.
func otherKey(t *testing.T) string {
	t.Helper()
	_, key := writePEM(t)
	return key
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
