package server_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// gateRegistry holds Register until release is closed, reporting each
// call on entered.
type gateRegistry struct {
	registry.Registry
	entered chan struct{}
	release chan struct{}
}

func (g *gateRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Registry.Register(ctx, s, opts...)
}

// doneSpy is a context that reports when Done is first asked for: the sign
// that a caller is waiting on it.
type doneSpy struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (d *doneSpy) Done() <-chan struct{} {
	d.once.Do(func() { close(d.asked) })
	return d.Context.Done()
}

// TestStopDuringStart checks that a Stop arriving while Start runs waits
// for the Start and then stops the server, instead of returning
// ErrNotStarted and leaving it running and registered.
func TestStopDuringStart(t *testing.T) {
	gr := &gateRegistry{Registry: newHookRegistry().Registry, entered: make(chan struct{}, 1), release: make(chan struct{})}
	f := newFixture(t, server.Registry(gr))
	started := make(chan error, 1)
	go func() { started <- f.srv.Start(context.Background()) }()
	testenv.Recv(t, "Start to register", gr.entered)

	ctx := &doneSpy{Context: context.Background(), asked: make(chan struct{})}
	stopped := make(chan error, 1)
	go func() { stopped <- f.srv.Stop(ctx) }()
	select {
	case <-ctx.asked: // Stop waits
	case err := <-stopped:
		close(gr.release)
		_ = testenv.Recv(t, "Start", started)
		_ = f.srv.Stop(context.Background())
		t.Fatalf("Stop during Start returned %v at once", err)
	}
	close(gr.release)
	if err := testenv.Recv(t, "Start", started); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := testenv.Recv(t, "Stop", stopped); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := gr.GetService(t.Context(), testService); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("still registered after Stop: %v", err)
	}
	if err := f.srv.Stop(t.Context()); !errors.Is(err, server.ErrNotStarted) {
		t.Errorf("Stop after Stop: %v, want ErrNotStarted", err)
	}
}

// TestStopDuringStartGivesUp checks that Stop waiting for a Start is
// bounded by its ctx.
func TestStopDuringStartGivesUp(t *testing.T) {
	gr := &gateRegistry{Registry: newHookRegistry().Registry, entered: make(chan struct{}, 1), release: make(chan struct{})}
	f := newFixture(t, server.Registry(gr))
	started := make(chan error, 1)
	go func() { started <- f.srv.Start(context.Background()) }()
	testenv.Recv(t, "Start to register", gr.entered)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.srv.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop with an ended ctx during Start: %v, want context.Canceled", err)
	}
	close(gr.release)
	if err := testenv.Recv(t, "Start", started); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := f.srv.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// Stuck is a handler that ignores its ctx until the test ends.
type Stuck struct {
	entered chan struct{}
	release chan struct{}
	running sync.WaitGroup
}

func (s *Stuck) Wait(context.Context, *Request, *Response) error {
	s.running.Add(1)
	defer s.running.Done()
	s.entered <- struct{}{}
	<-s.release
	return nil
}

// TestStopBoundedWhenHandlerIgnoresCtx checks that Stop returns when its
// ctx ends even though a handler never returns.
func TestStopBoundedWhenHandlerIgnoresCtx(t *testing.T) {
	f := newFixture(t)
	st := &Stuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	if err := f.srv.Handle(f.srv.NewHandler(st)); err != nil {
		t.Fatal(err)
	}
	f.start()
	c := f.client()
	answered := make(chan error, 1)
	go func() { answered <- callErr(c, "Stuck.Wait", &Request{}, &Response{}) }()
	t.Cleanup(func() {
		close(st.release)
		st.running.Wait()
	})
	testenv.Recv(t, "the stuck call", st.entered)

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- f.srv.Stop(ctx) }()
	cancel()
	if err := testenv.Recv(t, "Stop", stopped); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v, want context.Canceled", err)
	}
	if err := testenv.Recv(t, "the stuck caller", answered); err == nil {
		t.Error("the caller of the stuck handler got an answer after Stop gave up")
	}
	// The server starts again while the stuck handler still runs.
	f.start()
	var rsp Response
	if err := f.client().jsonCall("Greeter.Hello", &Request{Name: "again"}, &rsp); err != nil || rsp.Msg != "Hello again" {
		t.Fatalf("after restart: %v %+v", err, rsp)
	}
}

// TestTimeoutHeaderEdges checks Timeout values at the edges: what
// time.ParseDuration refuses is a 400 naming the header, what is not
// positive a 408, and the largest duration works.
func TestTimeoutHeaderEdges(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()
	tests := []struct {
		timeout string
		code    int32 // 0: the call works
	}{
		{"2562047h47m16.854775807s", 0}, // the largest time.Duration
		{"+1h", 0},
		{"1.5s", 0},
		{"2562048h", 400}, // overflows
		{"99999999999999999999s", 400},
		{"1e3s", 400},
		{" 1s", 400},
		{"1s\x00", 400},
		{strings.Repeat("9", 10000), 400},
		{"0", 408},
		{"0s", 408},
		{"-1ns", 408},
		{"-2562047h", 408},
	}
	for _, tt := range tests {
		name := tt.timeout
		if len(name) > 20 {
			name = name[:20] + "..."
		}
		t.Run(name, func(t *testing.T) {
			in := c.roundTrip(map[string]string{
				rpcwire.ContentType: "application/json",
				rpcwire.Endpoint:    "Greeter.Hello",
				rpcwire.Timeout:     tt.timeout,
			}, []byte(`{"name":"t"}`))
			text, failed := in.Header[rpcwire.Error]
			switch {
			case tt.code == 0 && failed:
				t.Fatalf("failed: %s", text)
			case tt.code == 0:
				if string(in.Body) != "{\"msg\":\"Hello t\"}\n" {
					t.Fatalf("body %q", in.Body)
				}
			case !failed:
				t.Fatalf("succeeded, want %d", tt.code)
			default:
				e := merrors.Parse(text)
				if e.Code != tt.code || !strings.Contains(e.Detail, "Timeout") {
					t.Fatalf("got %s, want %d naming the Timeout header", text, tt.code)
				}
			}
		})
	}
}

// Picky has endpoints whose Go types application/protobuf can take only
// in part.
type Picky struct{}

// Half takes a proto message but answers with a plain struct.
func (Picky) Half(_ context.Context, req *wrapperspb.StringValue, rsp *Response) error {
	rsp.Msg = req.GetValue()
	return nil
}

// Chat receives plain structs, passing Recv's error up.
func (Picky) Chat(_ context.Context, stream server.Stream) error {
	var c Counter
	return stream.Recv(&c)
}

// Tell sends a plain struct, passing Send's error up.
func (Picky) Tell(_ context.Context, stream server.Stream) error {
	return stream.Send(&Counter{N: 1})
}

// TestCodecCannotTakeTypes checks that a content type whose codec cannot
// take the endpoint's Go types is a 415 whichever way it shows: decoding
// the request, encoding the response, or in a stream's Recv or Send.
func TestCodecCannotTakeTypes(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.Handle(f.srv.NewHandler(Picky{})); err != nil {
		t.Fatal(err)
	}
	f.start()
	c := f.client()
	body, err := proto.Marshal(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("response", func(t *testing.T) {
		in := c.roundTrip(map[string]string{rpcwire.ContentType: "application/protobuf", rpcwire.Endpoint: "Picky.Half"}, body)
		if e := merrors.Parse(in.Header[rpcwire.Error]); e.Code != 415 || !strings.Contains(e.Detail, "Picky.Half") {
			t.Fatalf("got %v %q, want a 415 naming the endpoint", in.Header, in.Body)
		}
	})
	for _, ep := range []string{"Picky.Chat", "Picky.Tell"} {
		t.Run(ep, func(t *testing.T) {
			ctx := patient(t, 1)
			sock := c.stream(ctx, "application/protobuf", ep)
			// Tell answers without reading, and may have ended the stream
			// before a message could be sent: only Chat needs one.
			if ep == "Picky.Chat" {
				if err := sock.Send(ctx, &transport.Message{Body: body}); err != nil {
					t.Fatal(err)
				}
			}
			var m transport.Message
			if err := sock.Recv(ctx, &m); err != nil {
				t.Fatal(err)
			}
			if e := merrors.Parse(m.Header[rpcwire.Error]); e.Code != 415 || !strings.Contains(e.Detail, ep) {
				t.Fatalf("got %v %q, want a 415 naming the endpoint", m.Header, m.Body)
			}
		})
	}
}
