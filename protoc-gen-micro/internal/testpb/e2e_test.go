package testpb_test

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	httptransport "github.com/openmicro/go-micro/transport/http"
	"github.com/openmicro/protoc-gen-micro/internal/testpb"
)

// echo implements testpb.EchoHandler.
type echo struct{}

var _ testpb.EchoHandler = echo{}

func fail(in *testpb.Request) error { return errors.New("echo", in.GetText(), in.GetCode()) }

func (echo) Call(ctx context.Context, in *testpb.Request, out *testpb.Response) error {
	if in.GetCode() != 0 {
		return fail(in)
	}
	out.Text, out.Count = in.GetText(), in.GetCount()
	return nil
}

// Count sends count responses; with a code it fails after count-1.
func (echo) Count(ctx context.Context, in *testpb.Request, stream testpb.Echo_CountStream) error {
	for i := int32(1); i <= in.GetCount(); i++ {
		if in.GetCode() != 0 && i == in.GetCount() {
			return fail(in)
		}
		if err := stream.Send(&testpb.Response{Text: in.GetText(), Count: i}); err != nil {
			return err
		}
	}
	return nil
}

// Sum answers with the sum of the counts and the texts joined; a request
// with a code fails the call, one with the text "none" ends it without a
// response, one with the text "answer, then fail" answers "answered" and
// then fails (too late for the client to see).
func (echo) Sum(ctx context.Context, stream testpb.Echo_SumStream) error {
	var (
		sum   int32
		texts []string
	)
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.Response{Text: strings.Join(texts, " "), Count: sum})
		}
		if err != nil {
			return err
		}
		switch {
		case in.GetText() == "answer, then fail":
			if err := stream.SendAndClose(&testpb.Response{Text: "answered"}); err != nil {
				return err
			}
			return fail(in)
		case in.GetCode() != 0:
			return fail(in)
		case in.GetText() == "none":
			return nil
		}
		sum += in.GetCount()
		texts = append(texts, in.GetText())
	}
}

// Chat answers each request with its text and count.
func (echo) Chat(ctx context.Context, stream testpb.Echo_ChatStream) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if in.GetCode() != 0 {
			return fail(in)
		}
		if err := stream.Send(&testpb.Response{Text: in.GetText(), Count: in.GetCount()}); err != nil {
			return err
		}
	}
}

func (echo) Close(ctx context.Context, in *testpb.Request, out *testpb.Response) error {
	out.Text = "closed " + in.GetText()
	return nil
}

const serviceName = "micro.test.echo"

// start runs the Echo handler in a server on a loopback port of go-micro's
// http transport, registered in reg.
func start(t *testing.T, reg registry.Registry, opts ...server.HandlerOption) {
	t.Helper()
	startWith(t, reg, nil, opts...)
}

// startWith is start with more server options.
func startWith(t *testing.T, reg registry.Registry, srvOpts []server.Option, opts ...server.HandlerOption) {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv, err := server.New(append([]server.Option{server.Name(serviceName), server.Address("127.0.0.1:0"),
		server.Registry(reg), server.Transport(tr)}, srvOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := testpb.RegisterEchoHandler(srv, echo{}, opts...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// newClient returns the Echo client over its own http transport, finding
// the server through a selector over reg.
func newClient(t *testing.T, reg registry.Registry, opts ...client.Option) testpb.EchoService {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	c, err := client.New(append([]client.Option{client.Selector(sel), client.Transport(tr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return testpb.NewEchoService(serviceName, c)
}

// contentTypes are the codecs every test runs over.
var contentTypes = []string{client.ContentTypeProto, client.ContentTypeJSON}

// run runs f once per content type against a fresh server.
func run(t *testing.T, f func(t *testing.T, ctx context.Context, echo testpb.EchoService)) {
	for _, ct := range contentTypes {
		t.Run(ct, func(t *testing.T) {
			reg := memory.New()
			start(t, reg)
			ctx, cancel := context.WithTimeout(t.Context(), 3*testenv.Patience)
			defer cancel()
			f(t, ctx, newClient(t, reg, client.ContentType(ct)))
		})
	}
}

func TestUnary(t *testing.T) {
	run(t, func(t *testing.T, ctx context.Context, echo testpb.EchoService) {
		cases := []struct {
			name     string
			call     func(context.Context, *testpb.Request, ...client.CallOption) (*testpb.Response, error)
			in       *testpb.Request
			want     string
			wantCode int32
		}{
			{"call", echo.Call, &testpb.Request{Text: "hello", Count: 3}, "hello", 0},
			{"close", echo.Close, &testpb.Request{Text: "door"}, "closed door", 0},
			{"error", echo.Call, &testpb.Request{Text: "taken", Code: 409}, "", 409},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rsp, err := tc.call(ctx, tc.in)
				if tc.wantCode != 0 {
					e := errors.FromError(err)
					if rsp != nil || e.Code != tc.wantCode || e.Detail != tc.in.GetText() {
						t.Fatalf("got %v, %v; want a %d error saying %q", rsp, err, tc.wantCode, tc.in.GetText())
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if rsp.GetText() != tc.want {
					t.Fatalf("got %q, want %q", rsp.GetText(), tc.want)
				}
			})
		}
	})
}

func TestServerStream(t *testing.T) {
	run(t, func(t *testing.T, ctx context.Context, echo testpb.EchoService) {
		cases := []struct {
			name     string
			in       *testpb.Request
			want     int32 // responses before the end
			wantCode int32 // of the end; 0 is io.EOF
		}{
			{"five", &testpb.Request{Text: "n", Count: 5}, 5, 0},
			{"none", &testpb.Request{Text: "n"}, 0, 0},
			{"fails after two", &testpb.Request{Text: "broken", Count: 3, Code: 503}, 2, 503},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				stream, err := echo.Count(ctx, tc.in)
				if err != nil {
					t.Fatal(err)
				}
				defer stream.Close()
				var got int32
				for {
					rsp, err := stream.Recv()
					if err != nil {
						if tc.wantCode == 0 && err != io.EOF || tc.wantCode != 0 && errors.Code(err) != tc.wantCode {
							t.Fatalf("after %d responses: %v, want code %d (0: io.EOF)", got, err, tc.wantCode)
						}
						break
					}
					got++
					if rsp.GetCount() != got || rsp.GetText() != tc.in.GetText() {
						t.Fatalf("response %d: %v", got, rsp)
					}
				}
				if got != tc.want {
					t.Fatalf("got %d responses, want %d", got, tc.want)
				}
				if err := stream.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			})
		}
	})
}

// TestServerStreamWithoutRequest opens Echo.Count with the plain client
// and sends nothing: the generated handler answers 400.
func TestServerStreamWithoutRequest(t *testing.T) {
	reg := memory.New()
	start(t, reg)
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	c, err := client.New(client.Selector(sel), client.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Stream(t.Context(), c.NewRequest(serviceName, "Echo.Count", new(testpb.Request)))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	err = stream.Recv(new(testpb.Response))
	if errors.Code(err) != 400 || !strings.Contains(err.Error(), "carried no request") {
		t.Fatalf("got %v, want a 400 saying the stream carried no request", err)
	}
}

func TestClientStream(t *testing.T) {
	run(t, func(t *testing.T, ctx context.Context, echo testpb.EchoService) {
		cases := []struct {
			name      string
			send      []*testpb.Request
			want      *testpb.Response
			wantCode  int32
			wantEOF   bool
			sendFails bool // a Send may meet the end of the stream
		}{
			{"sum", []*testpb.Request{{Text: "a", Count: 1}, {Text: "b", Count: 2}, {Text: "c", Count: 3}, {Text: "d", Count: 4}},
				&testpb.Response{Text: "a b c d", Count: 10}, 0, false, false},
			{"empty", nil, &testpb.Response{}, 0, false, false},
			{"error", []*testpb.Request{{Text: "a", Count: 1}, {Text: "refused", Code: 403}}, nil, 403, false, true},
			{"no response", []*testpb.Request{{Text: "none"}}, nil, 0, true, true},
			{"error after the response", []*testpb.Request{{Text: "answer, then fail", Code: 500}}, &testpb.Response{Text: "answered"}, 0, false, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				stream, err := echo.Sum(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer stream.Close()
				for _, in := range tc.send {
					if err := stream.Send(in); err != nil && !(tc.sendFails && err == io.EOF) {
						t.Fatalf("send %v: %v", in, err)
					}
				}
				rsp, err := stream.CloseAndRecv()
				switch {
				case tc.wantEOF:
					if err != io.EOF {
						t.Fatalf("got %v, %v; want io.EOF", rsp, err)
					}
				case tc.wantCode != 0:
					if errors.Code(err) != tc.wantCode {
						t.Fatalf("got %v, %v; want code %d", rsp, err, tc.wantCode)
					}
				case err != nil:
					t.Fatal(err)
				case rsp.GetText() != tc.want.GetText() || rsp.GetCount() != tc.want.GetCount():
					t.Fatalf("got %v, want %v", rsp, tc.want)
				}
				// CloseAndRecv closed the stream.
				if err := stream.Send(&testpb.Request{}); !stderrors.Is(err, client.ErrClosed) {
					t.Fatalf("send after CloseAndRecv: %v, want client.ErrClosed", err)
				}
			})
		}
	})
}

func TestBidirectional(t *testing.T) {
	run(t, func(t *testing.T, ctx context.Context, echo testpb.EchoService) {
		t.Run("in turn", func(t *testing.T) {
			stream, err := echo.Chat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			for i := range int32(5) {
				text := fmt.Sprint("m", i)
				if err := stream.Send(&testpb.Request{Text: text, Count: i}); err != nil {
					t.Fatal(err)
				}
				rsp, err := stream.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if rsp.GetText() != text || rsp.GetCount() != i {
					t.Fatalf("got %v, want %s %d", rsp, text, i)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("after CloseSend: %v, want io.EOF", err)
			}
		})
		t.Run("send and receive at once", func(t *testing.T) {
			stream, err := echo.Chat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			const n = 200
			sent := make(chan error, 1)
			go func() {
				for i := range int32(n) {
					if err := stream.Send(&testpb.Request{Count: i}); err != nil {
						sent <- err
						return
					}
				}
				sent <- stream.CloseSend()
			}()
			var got []int32
			for {
				rsp, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rsp.GetCount())
			}
			if err := testenv.Recv(t, "the sender", sent); err != nil {
				t.Fatal(err)
			}
			if len(got) != n || !slices.IsSorted(got) || got[n-1] != n-1 {
				t.Fatalf("got %d responses in order %v, want 0..%d", len(got), slices.IsSorted(got), n-1)
			}
		})
		t.Run("error", func(t *testing.T) {
			stream, err := echo.Chat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if err := stream.Send(&testpb.Request{Text: "no", Code: 429}); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); errors.Code(err) != 429 {
				t.Fatalf("got %v, want code 429", err)
			}
		})
	})
}

// TestStreamContext ends a stream by cancelling its context: Recv returns
// and the stream's Context is done.
func TestStreamContext(t *testing.T) {
	run(t, func(t *testing.T, ctx context.Context, echo testpb.EchoService) {
		ctx, cancel := context.WithCancel(ctx)
		stream, err := echo.Chat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		received := make(chan error, 1)
		go func() {
			_, err := stream.Recv()
			received <- err
		}()
		cancel()
		if err := testenv.Recv(t, "Recv after cancel", received); errors.Code(err) != 499 {
			t.Fatalf("Recv after cancel: %v, want the client's 499", err)
		}
		testenv.Wait(t, "the stream's context", stream.Context().Done())
	})
}

// TestRegistry checks what the server publishes: every endpoint with its
// request and response shapes, and the kind of each stream, as
// EchoEndpoints says.
func TestRegistry(t *testing.T) {
	reg := memory.New()
	start(t, reg, server.EndpointMetadata("Echo.Call", map[string]string{"owner": "tests"}),
		server.HandlerName("Ignored"))
	ss, err := reg.GetService(t.Context(), serviceName)
	if err != nil || len(ss) != 1 {
		t.Fatalf("GetService: %v, %v", ss, err)
	}
	want := map[string]string{ // endpoint: stream metadata
		"Echo.Call":  "",
		"Echo.Chat":  "bidirectional",
		"Echo.Close": "",
		"Echo.Count": "server",
		"Echo.Sum":   "client",
	}
	// The server adds its Debug endpoints.
	eps := slices.DeleteFunc(slices.Clone(ss[0].Endpoints), func(e *registry.Endpoint) bool {
		return strings.HasPrefix(e.Name, "Debug.")
	})
	if len(eps) != len(want) {
		t.Fatalf("%d endpoints, want %d: %v", len(eps), len(want), eps)
	}
	for _, ep := range eps {
		kind, ok := want[ep.Name]
		if !ok {
			t.Errorf("unexpected endpoint %s", ep.Name)
			continue
		}
		if ep.Metadata["stream"] != kind {
			t.Errorf("%s: stream %q, want %q", ep.Name, ep.Metadata["stream"], kind)
		}
		if ep.Request == nil || ep.Request.Type != "micro.test.Request" || ep.Response == nil || ep.Response.Type != "micro.test.Response" {
			t.Errorf("%s: request %v, response %v; want micro.test.Request and micro.test.Response", ep.Name, ep.Request, ep.Response)
		}
	}
	if ep := eps[slices.IndexFunc(eps, func(e *registry.Endpoint) bool { return e.Name == "Echo.Call" })]; ep.Metadata["owner"] != "tests" {
		t.Errorf("Echo.Call metadata %v, want the EndpointMetadata given", ep.Metadata)
	}

	// EchoEndpoints describes the same endpoints, without the metadata
	// given at registration.
	listed := testpb.EchoEndpoints()
	if len(listed) != len(eps) {
		t.Fatalf("EchoEndpoints lists %d endpoints, the registry %d", len(listed), len(eps))
	}
	for i, ep := range listed {
		if ep.Name != eps[i].Name || ep.Metadata["stream"] != eps[i].Metadata["stream"] ||
			ep.Request.Type != eps[i].Request.Type || ep.Response.Type != eps[i].Response.Type {
			t.Errorf("EchoEndpoints[%d] = %+v, the registry has %+v", i, ep, eps[i])
		}
	}
}

func TestRegisterNil(t *testing.T) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srv, err := server.New(server.Registry(memory.New()), server.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	if err := testpb.RegisterEchoHandler(srv, nil); !stderrors.Is(err, server.ErrInvalidHandler) {
		t.Fatalf("RegisterEchoHandler(nil) = %v, want server.ErrInvalidHandler", err)
	}
}

// TestUnknownService calls a service nobody serves: the client's 404.
func TestUnknownService(t *testing.T) {
	reg := memory.New()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	c, err := client.New(client.Selector(sel), client.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	echo := testpb.NewEchoService("nobody", c)
	if _, err := echo.Call(ctx, &testpb.Request{}); errors.Code(err) != 404 {
		t.Fatalf("Call: %v, want 404", err)
	}
	if _, err := echo.Count(ctx, &testpb.Request{}); errors.Code(err) != 404 {
		t.Fatalf("Count: %v, want 404", err)
	}
	if _, err := echo.Chat(ctx); errors.Code(err) != 404 {
		t.Fatalf("Chat: %v, want 404", err)
	}
}

// TestDefaultContentType calls every kind of RPC with a client that
// chooses no content type: each reaches the server as protobuf, streams
// included (their opening request carries the RPC's request type).
func TestDefaultContentType(t *testing.T) {
	var (
		mu   sync.Mutex
		seen = make(map[string]string) // endpoint: content type
	)
	record := func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp any) error {
			mu.Lock()
			seen[req.Endpoint()] = req.ContentType()
			mu.Unlock()
			return next(ctx, req, rsp)
		}
	}
	reg := memory.New()
	startWith(t, reg, []server.Option{server.WrapHandler(record)})
	echo := newClient(t, reg)
	ctx := t.Context()

	if _, err := echo.Call(ctx, &testpb.Request{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	count, err := echo.Count(ctx, &testpb.Request{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer count.Close()
	if _, err := count.Recv(); err != nil {
		t.Fatal(err)
	}
	sum, err := echo.Sum(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	if _, err := sum.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	chat, err := echo.Chat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	if err := chat.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := chat.Recv(); err != io.EOF {
		t.Fatalf("chat: %v, want io.EOF", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, ep := range []string{"Echo.Call", "Echo.Count", "Echo.Sum", "Echo.Chat"} {
		if got := seen[ep]; got != client.ContentTypeProto {
			t.Errorf("%s reached the server as %q, want %q", ep, got, client.ContentTypeProto)
		}
	}
}
