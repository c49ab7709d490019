package micro

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	brokermem "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/registry"
	regmem "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/transport"
	trmem "github.com/openmicro/go-micro/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func init() {
	// "closecheck" is a memory transport whose Close the tests can see.
	transport.Register("closecheck", func(opts ...transport.Option) (transport.Transport, error) {
		t, err := trmem.NewTransport(opts...)
		if err != nil {
			return nil, err
		}
		ct := &closeCheckTransport{Transport: t}
		closeChecks.mu.Lock()
		defer closeChecks.mu.Unlock()
		closeChecks.built = append(closeChecks.built, ct)
		return ct, nil
	})
}

var closeChecks struct {
	mu    sync.Mutex
	built []*closeCheckTransport
}

type closeCheckTransport struct {
	transport.Transport
	mu     sync.Mutex
	closed bool
}

func (t *closeCheckTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return t.Transport.Close()
}

func (t *closeCheckTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func lastCloseCheck(t *testing.T) *closeCheckTransport {
	t.Helper()
	closeChecks.mu.Lock()
	defer closeChecks.mu.Unlock()
	if len(closeChecks.built) == 0 {
		t.Fatal("no closecheck transport was built")
	}
	return closeChecks.built[len(closeChecks.built)-1]
}

// events is an ordered log of what happened, shared by the recorders.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, ev)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

func (e *events) has(ev string) bool { return slices.Contains(e.list(), ev) }

// index returns the position of ev's first occurrence, or -1.
func (e *events) index(ev string) int { return slices.Index(e.list(), ev) }

func (e *events) hook(name string) func() error {
	return func() error { e.add(name); return nil }
}

// recRegistry records Register and Deregister of the service named name.
type recRegistry struct {
	registry.Registry
	ev   *events
	name string
}

func (r *recRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	err := r.Registry.Register(ctx, s, opts...)
	if s.Name == r.name {
		r.ev.add("register")
	}
	return err
}

func (r *recRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if s.Name == r.name {
		r.ev.add("deregister")
	}
	return r.Registry.Deregister(ctx, s, opts...)
}

// recBroker records Connect and Disconnect.
type recBroker struct {
	broker.Broker
	ev *events
}

func (b *recBroker) Connect(ctx context.Context) error {
	b.ev.add("connect")
	return b.Broker.Connect(ctx)
}

func (b *recBroker) Disconnect(ctx context.Context) error {
	b.ev.add("disconnect")
	return b.Broker.Disconnect(ctx)
}

// recTransport records the Shutdown and Close of its listeners.
type recTransport struct {
	transport.Transport
	ev *events
}

func (t *recTransport) Listen(ctx context.Context, addr string, opts ...transport.ListenOption) (transport.Listener, error) {
	l, err := t.Transport.Listen(ctx, addr, opts...)
	if err != nil {
		return nil, err
	}
	return &recListener{Listener: l, ev: t.ev}, nil
}

type recListener struct {
	transport.Listener
	ev *events
}

func (l *recListener) Shutdown(ctx context.Context) error {
	l.ev.add("listener shutdown")
	return l.Listener.Shutdown(ctx)
}

func (l *recListener) Close() error {
	l.ev.add("listener close")
	return l.Listener.Close()
}

// env is a set of in-memory components with recorders.
type env struct {
	ev  *events
	reg *recRegistry
	br  *recBroker
	tr  *recTransport
}

func newEnv(t *testing.T, name string) *env {
	t.Helper()
	ev := &events{}
	tr, err := trmem.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return &env{
		ev:  ev,
		reg: &recRegistry{Registry: regmem.New(), ev: ev, name: name},
		br:  &recBroker{Broker: brokermem.New(), ev: ev},
		tr:  &recTransport{Transport: tr, ev: ev},
	}
}

// options are the options that put a service on e.
func (e *env) options() []Option {
	return []Option{Registry(e.reg), Broker(e.br), Transport(e.tr)}
}

// testService is a service whose output goes to buffers and whose logs go
// to logs; what Init built is released at cleanup when Run did not.
type testService struct {
	*service
	stdout, stderr *bytes.Buffer
	logs           *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestService(t *testing.T, opts ...Option) *testService {
	t.Helper()
	ts := &testService{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, logs: &syncBuffer{}}
	opts = append([]Option{Logger(slog.New(slog.NewTextHandler(ts.logs, nil)))}, opts...)
	ts.service = NewService(opts...).(*service)
	ts.service.stdout, ts.service.stderr = ts.stdout, ts.stderr
	t.Cleanup(func() {
		ts.mu.Lock()
		comps := ts.comps
		ts.mu.Unlock()
		_ = comps.Close(context.Background())
	})
	return ts
}
