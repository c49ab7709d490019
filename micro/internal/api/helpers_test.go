package api

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	brokermemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/client"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"

	microapi "github.com/openmicro/go-micro/api"
)

// The greeter the tests call: service go.micro.api.greeter.

type HelloRequest struct {
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
}

type HelloResponse struct {
	Msg  string   `json:"msg"`
	Tags []string `json:"tags,omitempty"`
	// Header is the X-Test metadata the call carried.
	Header string `json:"header,omitempty"`
}

type FailRequest struct {
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
}

type Empty struct{}

// MetaResponse is the metadata a call carried.
type MetaResponse struct {
	MD map[string]string `json:"md"`
}

type Greeter struct {
	// hold blocks Hang until closed.
	hold chan struct{}
	// hanging counts the Hang calls in progress.
	hanging atomic.Int32
}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	rsp.Tags = req.Tags
	rsp.Header, _ = metadata.Get(ctx, "X-Test")
	return nil
}

func (g *Greeter) Call(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Call " + req.Name
	return nil
}

func (g *Greeter) Fail(ctx context.Context, req *FailRequest, rsp *Empty) error {
	return merrors.New("greeter", req.Detail, req.Code)
}

// Meta answers with the call's metadata.
func (g *Greeter) Meta(ctx context.Context, req *Empty, rsp *MetaResponse) error {
	rsp.MD, _ = metadata.FromContext(ctx)
	return nil
}

// Sleep returns when its deadline passes, with the ctx's error.
func (g *Greeter) Sleep(ctx context.Context, req *Empty, rsp *Empty) error {
	<-ctx.Done()
	return ctx.Err()
}

// Hang ignores its deadline: it returns when the test ends.
func (g *Greeter) Hang(ctx context.Context, req *Empty, rsp *Empty) error {
	g.hanging.Add(1)
	defer g.hanging.Add(-1)
	<-g.hold
	return nil
}

// Page is an "api" handler endpoint: it answers with the request it got.
type Page struct{}

func (p *Page) Show(ctx context.Context, req *microapi.Request, rsp *microapi.Response) error {
	rsp.StatusCode = http.StatusCreated
	rsp.Header = map[string]*microapi.Pair{
		"Content-Type":   {Key: "Content-Type", Values: []string{"text/plain"}},
		"X-Method":       {Key: "X-Method", Values: []string{req.Method}},
		"Bad Name":       {Key: "Bad Name", Values: []string{"x"}},
		"X-Bad-Value":    {Key: "X-Bad-Value", Values: []string{"a\r\nb"}},
		"Content-Length": {Key: "Content-Length", Values: []string{"1"}},
	}
	var b strings.Builder
	b.WriteString("path=" + req.Path + " url=" + req.Url)
	b.WriteString(" q=" + microapi.Get(req.Get, "q"))
	b.WriteString(" form=" + microapi.Get(req.Post, "f"))
	b.WriteString(" header=" + microapi.Get(req.Header, "X-Test"))
	b.WriteString(" body=" + string(req.Body))
	rsp.Body = []byte(b.String())
	return nil
}

// Forwarded answers with the X-Forwarded-For and X-Hop headers it got.
func (p *Page) Forwarded(ctx context.Context, req *microapi.Request, rsp *microapi.Response) error {
	rsp.Body = []byte("xff=" + microapi.Get(req.Header, "X-Forwarded-For") + " hop=" + microapi.Get(req.Header, "X-Hop"))
	return nil
}

// Status answers with the status code given in the query.
func (p *Page) Status(ctx context.Context, req *microapi.Request, rsp *microapi.Response) error {
	var code int32
	for _, c := range microapi.Get(req.Get, "code") {
		code = code*10 + int32(c-'0')
	}
	rsp.StatusCode = code
	return nil
}

// env is what a test's gateway talks to: a memory registry, a client over
// the http transport and a memory broker.
type env struct {
	reg    registry.Registry
	client client.Client
	bus    *brokermemory.Bus
	broker broker.Broker
	logs   *syncBuffer
	logger *slog.Logger
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{reg: memory.New(), bus: brokermemory.NewBus(), logs: new(syncBuffer)}
	e.broker = e.bus.NewBroker()
	if err := e.broker.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.broker.Disconnect(context.Background()) })
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	sel, err := selector.New(selector.Registry(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	e.client, err = client.New(client.Selector(sel), client.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	e.logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return e
}

// opts are the options of a gateway over e.
func (e *env) opts(more ...Option) []Option {
	return append([]Option{Client(e.client), Registry(e.reg), Broker(e.broker), Logger(e.logger)}, more...)
}

// gateway builds a Server over e.
func (e *env) gateway(t testing.TB, more ...Option) *Server {
	t.Helper()
	s, err := New(e.opts(more...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// startService runs a go-micro server named name with the handlers given.
func (e *env) startService(t testing.TB, name string, handlers ...any) server.Server {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv, err := server.New(server.Name(name), server.Address("127.0.0.1:0"), server.Registry(e.reg),
		server.Transport(tr), server.Broker(e.bus.NewBroker()), server.Logger(e.logger))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range handlers {
		if err := srv.Handle(srv.NewHandler(h)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, srv)
	return srv
}

func start(t testing.TB, srv server.Server) {
	t.Helper()
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", srv.Options().Name, err)
		}
	})
}

// startGreeter runs go.micro.api.greeter; its Hang returns at the end of
// the test.
func (e *env) startGreeter(t testing.TB) *Greeter {
	t.Helper()
	g := &Greeter{hold: make(chan struct{})}
	e.startService(t, "go.micro.api.greeter", g)
	t.Cleanup(func() { close(g.hold) }) // runs before the server's Stop
	return g
}

// deadService registers name with a node nothing listens on.
func (e *env) deadService(t *testing.T, name string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = e.reg.Register(t.Context(), &registry.Service{Name: name, Version: "1",
		Nodes: []*registry.Node{{Id: name + "-dead", Address: addr}}})
	if err != nil {
		t.Fatal(err)
	}
}

// do serves one request through h and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target, contentType, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, r)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// wantError checks that w is an error response with the status code and a
// go-micro errors.Error JSON body of the same code.
func wantError(t *testing.T, w *httptest.ResponseRecorder, code int) *merrors.Error {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d; body %s", w.Code, code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e merrors.Error
	dec := stdjson.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if int(e.Code) != code || e.Status != http.StatusText(code) && code != 499 || e.Detail == "" || e.Id == "" {
		t.Errorf("error body %+v, want code %d with its status, a detail and an id", e, code)
	}
	return &e
}

// wantJSON checks a 200 JSON answer and decodes it into v.
func wantJSON(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := stdjson.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// accessLines returns the access log lines logged so far.
func (b *syncBuffer) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := stdjson.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "api: request" {
			out = append(out, m)
		}
	}
	return out
}

// poll calls f until done says its result will do, or fails the test after
// ten seconds.
func poll[T any](t *testing.T, f func() T, done func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := f()
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not done after 10s: %v", v)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}
