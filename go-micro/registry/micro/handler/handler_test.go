package handler_test

import (
	"context"
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

func newEnv(t *testing.T) *env { return newEnvOver(t, memory.New()) }

func newEnvOver(t *testing.T, backend registry.Registry) *env {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Name(micro.ServiceName), server.Transport(tr),
		server.Registry(memory.New()), server.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	h := handler.New(backend)
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

func (e *env) stream(t *testing.T, ctx context.Context) client.Stream {
	t.Helper()
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
	if err := st2.Send(&micro.WatchRequest{}); err != nil {
		t.Fatal(err)
	}
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
			e := newEnvOver(t, backend)
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
