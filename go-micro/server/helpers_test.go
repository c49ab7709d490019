package server_test

import (
	"context"
	stderrors "errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/registry"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	trmemory "github.com/openmicro/go-micro/transport/memory"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const testService = "test"

// Request and Response are the JSON messages of the test handler.
type Request struct {
	Name string `json:"name"`
}

type Response struct {
	Msg string `json:"msg"`
}

// Counter is the message of the stream tests.
type Counter struct {
	N int `json:"n"`
}

// Greeter is the test handler. Its channels, when set, let a test hold a
// call in Hold.
type Greeter struct {
	entered chan struct{}
	release chan struct{}
}

func (g *Greeter) Hello(_ context.Context, req *Request, rsp *Response) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

func (g *Greeter) Proto(_ context.Context, req *wrapperspb.StringValue, rsp *wrapperspb.StringValue) error {
	rsp.Value = "Hello " + req.GetValue()
	return nil
}

func (g *Greeter) Bytes(_ context.Context, req *[]byte, rsp *[]byte) error {
	*rsp = append([]byte("got:"), *req...)
	return nil
}

func (g *Greeter) Meta(ctx context.Context, _ *Request, rsp *map[string]string) error {
	md, _ := metadata.FromContext(ctx)
	*rsp = md
	return nil
}

func (g *Greeter) Block(ctx context.Context, _ *Request, _ *Response) error {
	<-ctx.Done()
	return ctx.Err()
}

func (g *Greeter) Hold(ctx context.Context, req *Request, rsp *Response) error {
	select {
	case g.entered <- struct{}{}:
	default: // nobody is counting (the fuzz test)
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	rsp.Msg = "held " + req.Name
	return nil
}

func (g *Greeter) Panic(context.Context, *Request, *Response) error {
	panic("boom")
}

func (g *Greeter) Fail(context.Context, *Request, *Response) error {
	return errors.Conflict("elsewhere", "name taken")
}

func (g *Greeter) Echo(_ context.Context, stream server.Stream) error {
	for {
		var c Counter
		if err := stream.Recv(&c); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.Send(&c); err != nil {
			return err
		}
	}
}

// Count sends req.N counters, then fails when req.N is odd.
func (g *Greeter) Count(_ context.Context, stream server.Stream) error {
	var c Counter
	if err := stream.Recv(&c); err != nil {
		return err
	}
	for i := range c.N {
		if err := stream.Send(&Counter{N: i}); err != nil {
			return err
		}
	}
	if c.N%2 == 1 {
		return errors.BadRequest("count", "odd")
	}
	return nil
}

// fixture is a server on the memory transport and registry.
type fixture struct {
	t   testing.TB
	tr  transport.Transport
	reg registry.Registry
	srv server.Server
	g   *Greeter
	log *logRecorder
}

// newFixture builds a server named testService with the Greeter handler;
// opts come after the defaults.
func newFixture(t testing.TB, opts ...server.Option) *fixture {
	t.Helper()
	tr, err := trmemory.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	f := &fixture{t: t, tr: tr, reg: regmemory.New(), log: &logRecorder{}, g: &Greeter{
		entered: make(chan struct{}, 16), release: make(chan struct{}),
	}}
	all := append([]server.Option{
		server.Name(testService),
		server.Transport(tr),
		server.Registry(f.reg),
		server.Logger(slog.New(f.log)),
	}, opts...)
	f.srv, err = server.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Handle(f.srv.NewHandler(f.g)); err != nil {
		t.Fatal(err)
	}
	return f
}

// start starts the server and stops it at the end of the test.
func (f *fixture) start() string {
	f.t.Helper()
	if err := f.srv.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
		defer cancel()
		if err := f.srv.Stop(ctx); err != nil && !stderrors.Is(err, server.ErrNotStarted) {
			f.t.Errorf("Stop: %v", err)
		}
	})
	return f.srv.Options().Address
}

func (f *fixture) client() *rawClient {
	return &rawClient{t: f.t, tr: f.tr, addr: f.srv.Options().Address}
}

// rawClient speaks rpcwire over a transport, as the rpc client does.
type rawClient struct {
	t    testing.TB
	tr   transport.Transport
	addr string
}

// exchange sends one message, half-closes and returns every message the
// server sent before the end of the stream.
func (c *rawClient) exchange(ctx context.Context, m *transport.Message) ([]transport.Message, error) {
	sock, err := c.tr.Dial(ctx, c.addr)
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	if err := sock.Send(ctx, m); err != nil {
		return nil, err
	}
	if err := sock.CloseSend(); err != nil {
		return nil, err
	}
	var out []transport.Message
	for {
		var in transport.Message
		err := sock.Recv(ctx, &in)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, in)
	}
}

// roundTrip sends one message and expects exactly one back.
func (c *rawClient) roundTrip(hdr map[string]string, body []byte) transport.Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
	defer cancel()
	out, err := c.exchange(ctx, &transport.Message{Header: hdr, Body: body})
	if err != nil {
		c.t.Fatalf("exchange: %v", err)
	}
	if len(out) != 1 {
		c.t.Fatalf("got %d messages, want 1: %v", len(out), out)
	}
	return out[0]
}

// call makes a unary call with the content type's codec, filling the
// envelope as the rpc client does. extra headers are added.
func (c *rawClient) call(ct, endpoint string, req, rsp any, extra map[string]string) error {
	c.t.Helper()
	cd, err := rpcwire.NewCodec(ct)
	if err != nil {
		c.t.Fatal(err)
	}
	body, err := cd.Encode(&codec.Message{Id: "7", Type: codec.Request, Service: testService, Endpoint: endpoint}, req)
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	hdr := map[string]string{
		rpcwire.ContentType: ct,
		rpcwire.Service:     testService,
		rpcwire.Endpoint:    endpoint,
		rpcwire.Id:          "7",
	}
	maps.Copy(hdr, extra)
	in := c.roundTrip(hdr, body)
	if got := in.Header[rpcwire.ContentType]; got != ct {
		c.t.Errorf("response Content-Type %q, want %q", got, ct)
	}
	if got := in.Header[rpcwire.Id]; got != "7" {
		c.t.Errorf("response Micro-Id %q, want 7", got)
	}
	if e := in.Header[rpcwire.Error]; e != "" {
		return errors.Parse(e)
	}
	var env codec.Message
	if err := cd.Decode(in.Body, &env, codec.Response, rsp); err != nil {
		c.t.Fatalf("decode response %q: %v", in.Body, err)
	}
	return nil
}

// jsonCall is call with application/json and no extra headers.
func (c *rawClient) jsonCall(endpoint string, req, rsp any) error {
	c.t.Helper()
	return c.call("application/json", endpoint, req, rsp, nil)
}

// stream opens a stream and returns the socket after the opening message.
func (c *rawClient) stream(ctx context.Context, ct, endpoint string) transport.Socket {
	c.t.Helper()
	sock, err := c.tr.Dial(ctx, c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = sock.Close() })
	err = sock.Send(ctx, &transport.Message{Header: map[string]string{
		rpcwire.ContentType: ct,
		rpcwire.Service:     testService,
		rpcwire.Endpoint:    endpoint,
		rpcwire.Id:          "s1",
		rpcwire.Stream:      "1",
	}})
	if err != nil {
		c.t.Fatal(err)
	}
	return sock
}

// errCode returns the code of err as the caller sees it.
func errCode(err error) int32 {
	if err == nil {
		return 0
	}
	return errors.FromError(err).Code
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// records returns the records at level whose message holds substr.
func (l *logRecorder) records(level slog.Level, substr string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.recs {
		if r.Level == level && strings.Contains(r.Message, substr) {
			out = append(out, r)
		}
	}
	return out
}

// attrs returns a record's attributes as text.
func attrs(r slog.Record) map[string]string {
	m := make(map[string]string)
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// patient returns a context that ends with the test or after n times
// testenv.Patience, so that a broken stream fails the test instead of
// hanging it.
func patient(t *testing.T, n int) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(n)*testenv.Patience)
	t.Cleanup(cancel)
	return ctx
}
