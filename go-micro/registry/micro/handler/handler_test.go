package handler_test

import (
	"context"
	stderrors "errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

const patience = 30 * time.Second

// env is a registry server over a memory backend and a raw client of it.
type env struct {
	backend registry.Registry
	h       *handler.Registry
	addr    string
	c       client.Client
}

func newEnv(t *testing.T) *env { return newEnvOver(t, memory.New(), nil) }

// newEnvOver serves a handler over backend with hopts, on a server
// transport built with topts.
func newEnvOver(t *testing.T, backend registry.Registry, hopts []handler.Option, topts ...transport.Option) *env {
	t.Helper()
	tr, err := httptransport.NewTransport(topts...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Name(micro.ServiceName), server.Transport(tr),
		server.Registry(memory.New()), server.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	h := handler.New(backend, hopts...)
	if err := srv.Handle(srv.NewHandler(h)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Transport(ctr), client.Retries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = handler.Close(h)
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		_ = tr.Close()
		_ = ctr.Close()
	})
	return &env{backend: backend, h: h, addr: srv.Options().Address, c: c}
}

// call calls endpoint with body (anything the JSON codec encodes).
func (e *env) call(ctx context.Context, endpoint string, body, rsp any) error {
	return e.c.Call(ctx, e.c.NewRequest(micro.ServiceName, endpoint, body), rsp, client.WithAddress(e.addr))
}

// stream opens a Registry.Watch stream that ends, failing a Recv that
// would otherwise wait for ever, after patience.
func (e *env) stream(t *testing.T, ctx context.Context) client.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, patience)
	t.Cleanup(cancel)
	st, err := e.c.Stream(ctx, e.c.NewRequest(micro.ServiceName, "Registry.Watch", nil, client.StreamingRequest()),
		client.WithAddress(e.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Bad requests get a 400 (or a 404 for an unknown service) whose detail
// says what is wrong, and change nothing.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	type obj = map[string]any
	node := obj{"id": "a", "address": "127.0.0.1:1"}
	for _, tc := range []struct {
		name     string
		endpoint string
		body     any
		code     int32
		detail   string
	}{
		{"register nothing", "Registry.Register", obj{}, 400, "register: no service"},
		{"register null service", "Registry.Register", obj{"service": nil}, 400, "register: no service"},
		{"register negative ttl", "Registry.Register", obj{"service": obj{"name": "x", "nodes": []any{node}}, "ttl": -1}, 400, "ttl -1ns is negative"},
		{"register empty name", "Registry.Register", obj{"service": obj{"name": "", "nodes": []any{node}}}, 400, "empty name"},
		{"register no nodes", "Registry.Register", obj{"service": obj{"name": "x"}}, 400, `service "x" has no nodes`},
		{"register null node", "Registry.Register", obj{"service": obj{"name": "x", "nodes": []any{node, nil}}}, 400, "node 1 is nil"},
		{"register empty id", "Registry.Register", obj{"service": obj{"name": "x", "nodes": []any{obj{"id": ""}}}}, 400, "empty id"},
		{"register same id twice", "Registry.Register", obj{"service": obj{"name": "x", "nodes": []any{node, node}}}, 400, `node id "a" given twice`},
		{"register wrong type", "Registry.Register", obj{"service": 5}, 400, "malformed"},
		{"register not an object", "Registry.Register", "hello", 400, "malformed"},
		{"register ttl as text", "Registry.Register", obj{"service": obj{"name": "x", "nodes": []any{node}}, "ttl": "1s"}, 400, "malformed"},
		{"deregister nothing", "Registry.Deregister", obj{}, 400, "deregister: no service"},
		{"deregister no nodes", "Registry.Deregister", obj{"service": obj{"name": "x"}}, 400, "has no nodes"},
		{"get no name", "Registry.GetService", obj{}, 400, "get service: no service name"},
		{"get unknown", "Registry.GetService", obj{"service": "nobody"}, 404, `service "nobody" not found`},
		{"unknown endpoint", "Registry.Nope", obj{}, 404, "no endpoint Registry.Nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.call(ctx, tc.endpoint, tc.body, &map[string]any{})
			me := errors.FromError(err)
			if err == nil || me.Code != tc.code || !strings.Contains(me.Detail, tc.detail) {
				t.Fatalf("err = %v; want %d with %q in the detail", err, tc.code, tc.detail)
			}
		})
	}
	ss, err := e.backend.ListServices(ctx)
	if err != nil || len(ss) != 0 {
		t.Errorf("the backend holds %v (%v) after bad requests; want nothing", ss, err)
	}
}

// A watch stream must start with its request.
func TestBadWatchRequests(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		send   func(client.Stream) error
		detail string
	}{
		{"no request", func(st client.Stream) error { return st.CloseSend() }, "watch: no request"},
		{"malformed", func(st client.Stream) error { return st.Send("not an object") }, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := e.stream(t, t.Context())
			if err := tc.send(st); err != nil {
				t.Fatal(err)
			}
			var msg micro.WatchResponse
			err := st.Recv(&msg)
			me := errors.FromError(err)
			if me.Code != 400 || !strings.Contains(me.Detail, tc.detail) {
				t.Fatalf("Recv = %v; want a 400 with %q", err, tc.detail)
			}
		})
	}
}

// The backend expires nodes registered with a TTL, and the watchers see it.
func TestTTLExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	st := e.stream(t, ctx)
	if err := st.Send(&micro.WatchRequest{Service: "ephemeral"}); err != nil {
		t.Fatal(err)
	}
	recv := func(want string) micro.WatchResponse {
		t.Helper()
		var msg micro.WatchResponse
		if err := st.Recv(&msg); err != nil {
			t.Fatalf("Recv, waiting for %s: %v", want, err)
		}
		return msg
	}
	if msg := recv("ready"); msg.Type != micro.WatchReady {
		t.Fatalf("first message %+v; want ready (nothing to snapshot)", msg)
	}

	const ttl = 500 * time.Millisecond
	req := &micro.RegisterRequest{
		Service: &registry.Service{Name: "ephemeral", Nodes: []*registry.Node{{Id: "a", Address: "127.0.0.1:1"}}},
		TTL:     ttl,
	}
	if err := e.call(ctx, "Registry.Register", req, new(micro.RegisterResponse)); err != nil {
		t.Fatal(err)
	}
	if msg := recv("create"); msg.Type != micro.WatchEvent || msg.Action != registry.Create {
		t.Fatalf("got %+v; want the create", msg)
	}
	// No renewal: the node expires.
	if msg := recv("delete"); msg.Type != micro.WatchEvent || msg.Action != registry.Delete || msg.Service.Nodes[0].Id != "a" {
		t.Fatalf("got %+v; want the delete of a on expiry", msg)
	}
	err := e.call(ctx, "Registry.GetService", &micro.GetServiceRequest{Service: "ephemeral"}, new(micro.GetServiceResponse))
	if me := errors.FromError(err); me.Code != 404 {
		t.Fatalf("GetService after expiry: %v; want 404", err)
	}
}

// Close ends the open watch streams with a 503 and refuses new ones;
// unary calls go on working.
func TestClose(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	st := e.stream(t, ctx)
	if err := st.Send(&micro.WatchRequest{}); err != nil {
		t.Fatal(err)
	}
	var msg micro.WatchResponse
	if err := st.Recv(&msg); err != nil || msg.Type != micro.WatchReady {
		t.Fatalf("Recv = %+v, %v; want ready", msg, err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Recv(&msg) }()
	if err := handler.Close(e.h); err != nil {
		t.Fatal(err)
	}
	err := testenv.Recv(t, "the watch to end", done)
	if me := errors.FromError(err); me.Code != 503 || !strings.Contains(me.Detail, "shutting down") {
		t.Fatalf("open watch after Close: %v; want a 503 saying the registry is shutting down", err)
	}
	if err := handler.Close(e.h); err != nil {
		t.Errorf("second Close: %v", err)
	}

	st2 := e.stream(t, ctx)
	// The refusal may come before the request is sent: Send then
	// returns io.EOF, and Recv says why.
	_ = st2.Send(&micro.WatchRequest{})
	if err := st2.Recv(&msg); errors.FromError(err).Code != 503 {
		t.Fatalf("new watch after Close: %v; want 503", err)
	}
	req := &micro.RegisterRequest{Service: &registry.Service{Name: "x", Nodes: []*registry.Node{{Id: "a"}}}}
	if err := e.call(ctx, "Registry.Register", req, new(micro.RegisterResponse)); err != nil {
		t.Errorf("Register after Close: %v", err)
	}
}

// A client that leaves ends its watch on the server: the backend's
// watcher is stopped.
func TestClientLeaves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(client.Stream) error
	}{
		{"close", func(st client.Stream) error { return st.Close() }},
		{"close send", func(st client.Stream) error { return st.CloseSend() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := &countingRegistry{Registry: memory.New()}
			e := newEnvOver(t, backend, nil)
			st := e.stream(t, t.Context())
			if err := st.Send(&micro.WatchRequest{}); err != nil {
				t.Fatal(err)
			}
			var msg micro.WatchResponse
			if err := st.Recv(&msg); err != nil {
				t.Fatal(err)
			}
			if n := backend.open.Load(); n != 1 {
				t.Fatalf("%d backend watchers open during the watch, want 1", n)
			}
			if err := tc.leave(st); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "the backend watcher to stop", func() bool { return backend.open.Load() == 0 })
		})
	}
}

// countingRegistry counts the watchers open on the registry it wraps.
type countingRegistry struct {
	registry.Registry
	open atomic.Int32
}

func (c *countingRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	w, err := c.Registry.Watch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedWatcher{Watcher: w, stop: sync.OnceFunc(func() { c.open.Add(-1) })}, nil
}

type countedWatcher struct {
	registry.Watcher
	stop func()
}

func (w *countedWatcher) Stop() {
	w.Watcher.Stop()
	w.stop()
}

// openWatch opens a watch of every service and reads up to the ready
// message.
func (e *env) openWatch(t *testing.T) client.Stream {
	t.Helper()
	st := e.stream(t, t.Context())
	if err := st.Send(&micro.WatchRequest{}); err != nil {
		t.Fatal(err)
	}
	var msg micro.WatchResponse
	if err := st.Recv(&msg); err != nil || msg.Type != micro.WatchReady {
		t.Fatalf("Recv = %+v, %v; want ready", msg, err)
	}
	return st
}

// churn registers n changes of about 10 KiB each (distinct metadata, so
// that no two share memory) straight into the backend.
func churn(t *testing.T, backend registry.Registry, n int) {
	t.Helper()
	for i := range n {
		s := &registry.Service{
			Name:     "churn",
			Metadata: map[string]string{"pad": fmt.Sprint(i) + strings.Repeat("x", 10<<10)},
			Nodes:    []*registry.Node{{Id: fmt.Sprint(i), Address: "127.0.0.1:1"}},
		}
		if err := backend.Register(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// drain reads st until it ends and returns how it ended and how many
// events came before.
func drain(t *testing.T, st client.Stream) (int, error) {
	t.Helper()
	type end struct {
		n   int
		err error
	}
	done := make(chan end, 1)
	go func() {
		n := 0
		for {
			var msg micro.WatchResponse
			if err := st.Recv(&msg); err != nil {
				done <- end{n, err}
				return
			}
			n++
		}
	}()
	e := testenv.Recv(t, "the watch stream to end", done)
	return e.n, e.err
}

// A client that reads slower than the registry changes costs the server
// a bounded backlog: once it is full the backend watcher is stopped, while
// the client still reads nothing, and the client then reads what was on
// its way and a 503 telling it to reconnect.
func TestSlowClientBounded(t *testing.T) {
	backend := &countingRegistry{Registry: memory.New()}
	e := newEnvOver(t, backend, []handler.Option{handler.MaxBacklog(64 << 10)})
	st := e.openWatch(t)
	// 4 MiB of changes: past the transport's 1 MiB window and the backlog.
	const n = 400
	churn(t, backend, n)
	testenv.WaitFor(t, "the watch of a client that does not read to let go of its backend watcher", func() bool {
		return backend.open.Load() == 0
	})
	got, err := drain(t, st)
	if me := errors.FromError(err); me.Code != 503 || !strings.Contains(me.Detail, "fell more than 65536 bytes of changes behind; reconnect") {
		t.Fatalf("the watch ended with %v; want a 503 saying the client fell behind", err)
	}
	if got >= n {
		t.Errorf("the client read %d events of %d before the end; the backlog did not bound them", got, n)
	}
}

// Close stops the backend watcher of a watch whose client reads nothing,
// and the client, reading at last, gets the 503.
func TestCloseWithSlowClient(t *testing.T) {
	backend := &countingRegistry{Registry: memory.New()}
	e := newEnvOver(t, backend, nil)
	st := e.openWatch(t)
	churn(t, backend, 200) // 2 MiB: past the window, within the backlog
	if err := handler.Close(e.h); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "Close to stop the backend watcher of a watch whose client reads nothing", func() bool {
		return backend.open.Load() == 0
	})
	if _, err := drain(t, st); errors.FromError(err).Code != 503 || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("the watch ended with %v; want a 503 saying the registry is shutting down", err)
	}
}

// Close ends a watch whose client opened the stream and never sent its
// request.
func TestCloseBeforeRequest(t *testing.T) {
	e := newEnv(t)
	st := e.stream(t, t.Context())
	if err := handler.Close(e.h); err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, st); errors.FromError(err).Code != 503 {
		t.Fatalf("a watch without its request, after Close: %v; want a 503", err)
	}
}

// A watch the backend ends on its own ends with a 503 naming the backend.
func TestBackendEndsWatch(t *testing.T) {
	backend := &endingRegistry{Registry: memory.New(), end: make(chan struct{})}
	e := newEnvOver(t, backend, nil)
	st := e.openWatch(t)
	close(backend.end)
	if _, err := drain(t, st); errors.FromError(err).Code != 503 || !strings.Contains(err.Error(), "the memory registry ended the watch: backend broke") {
		t.Fatalf("the watch ended with %v; want a 503 naming the backend", err)
	}
}

// endingRegistry's watchers fail once end is closed.
type endingRegistry struct {
	registry.Registry
	end chan struct{}
}

func (r *endingRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	w, err := r.Registry.Watch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	go func() { // wakes a pending Next at end; ends with the watch's ctx
		select {
		case <-r.end:
			w.Stop()
		case <-ctx.Done():
		}
	}()
	return &endingWatcher{Watcher: w, end: r.end}, nil
}

type endingWatcher struct {
	registry.Watcher
	end chan struct{}
}

func (w *endingWatcher) Next() (*registry.Result, error) {
	res, err := w.Watcher.Next()
	select {
	case <-w.end:
		return nil, stderrors.New("backend broke")
	default:
	}
	return res, err
}

// A service version too large for one message makes the watch fail with
// an error that names it.
func TestSnapshotTooLarge(t *testing.T) {
	e := newEnvOver(t, memory.New(), nil, transport.MaxMessageSize(64<<10))
	big := &registry.Service{Name: "big", Version: "1"}
	for i := range 2000 {
		big.Nodes = append(big.Nodes, &registry.Node{Id: fmt.Sprint("node-", i), Address: "127.0.0.1:12345"})
	}
	if err := e.backend.Register(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	st := e.stream(t, t.Context())
	if err := st.Send(&micro.WatchRequest{}); err != nil {
		t.Fatal(err)
	}
	var msg micro.WatchResponse
	err := st.Recv(&msg)
	if me := errors.FromError(err); me.Code != 500 || !strings.Contains(me.Detail, `service "big" version "1" (2000 nodes) is over the transport's message size limit`) {
		t.Fatalf("Recv = %v; want a 500 naming the service too large to send", err)
	}
}
