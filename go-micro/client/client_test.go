package client_test

import (
	"context"
	"encoding/hex"
	stderrors "errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/registry"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestNew(t *testing.T) {
	if _, err := client.New(); !stderrors.Is(err, client.ErrNoTransport) {
		t.Fatalf("New without transport: %v, want ErrNoTransport", err)
	}
	tr := newMemory(t)
	c := newClient(t, client.Transport(tr), client.Retries(3))
	if c.String() != "rpc" {
		t.Errorf("String() = %q, want rpc", c.String())
	}
	o := c.Options()
	if o.Transport != tr || o.Retries != 3 || o.RequestTimeout != client.DefaultRequestTimeout {
		t.Errorf("Options() = %+v", o)
	}
}

func TestNewRequestContentType(t *testing.T) {
	tr := newMemory(t)
	tests := []struct {
		name     string
		clientCT string
		body     any
		opts     []client.RequestOption
		want     string
	}{
		{"json default", "", &helloRequest{}, nil, client.ContentTypeJSON},
		{"proto default", "", wrapperspb.String("x"), nil, client.ContentTypeProto},
		{"client default", "application/json-rpc", wrapperspb.String("x"), nil, "application/json-rpc"},
		{"request wins", "application/json-rpc", &helloRequest{}, []client.RequestOption{client.WithContentType("application/octet-stream")}, "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, client.Transport(tr), client.ContentType(tt.clientCT))
			req := c.NewRequest("greeter", "Say.Hello", tt.body, tt.opts...)
			if req.ContentType() != tt.want {
				t.Errorf("request content type %q, want %q", req.ContentType(), tt.want)
			}
			if req.Service() != "greeter" || req.Endpoint() != "Say.Hello" || req.Body() != tt.body || req.Stream() {
				t.Errorf("request %+v", req)
			}
			msg := c.NewMessage("events", tt.body)
			want := tt.clientCT
			if want == "" {
				want = client.DefaultContentType(tt.body)
			}
			if msg.ContentType() != want || msg.Topic() != "events" || msg.Payload() != tt.body {
				t.Errorf("message content type %q topic %q, want %q", msg.ContentType(), msg.Topic(), want)
			}
		})
	}
}

func TestCallUnary(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			tr := newTransport(t, tp.new)
			greeter := serve(t, tr, unary(greet))
			echoer := serve(t, tr, unary(echo))
			c := newClient(t, client.Transport(tr), client.Selector(newFakeSelector(greeter)))

			t.Run("json", func(t *testing.T) {
				var rsp helloResponse
				if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "John"}), &rsp); err != nil {
					t.Fatal(err)
				}
				if rsp.Msg != "hello John" {
					t.Errorf("got %q", rsp.Msg)
				}
			})
			for _, ct := range []string{"application/protobuf", "application/proto-rpc"} {
				t.Run(ct, func(t *testing.T) {
					req := c.NewRequest("greeter", "Say.Hello", wrapperspb.String("Jane"), client.WithContentType(ct))
					rsp := new(wrapperspb.StringValue)
					if err := c.Call(t.Context(), req, rsp); err != nil {
						t.Fatal(err)
					}
					if rsp.GetValue() != "hello Jane" {
						t.Errorf("got %q", rsp.GetValue())
					}
				})
			}
			for _, ct := range []string{"application/json-rpc", "application/json; charset=utf-8"} {
				t.Run(ct, func(t *testing.T) {
					var rsp helloResponse
					req := c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "Jim"}, client.WithContentType(ct))
					if err := c.Call(t.Context(), req, &rsp); err != nil {
						t.Fatal(err)
					}
					if rsp.Msg != "hello Jim" {
						t.Errorf("got %q", rsp.Msg)
					}
				})
			}
			t.Run("structpb echo", func(t *testing.T) {
				in, err := structpb.NewStruct(map[string]any{"name": "x", "n": 3.0, "tags": []any{"a", "b"}})
				if err != nil {
					t.Fatal(err)
				}
				for _, ct := range []string{client.ContentTypeProto, client.ContentTypeJSON} {
					out := new(structpb.Struct)
					err := c.Call(t.Context(), client.NewRequest("echo", "Echo.Call", in, client.WithContentType(ct)), out, client.WithAddress(echoer))
					if err != nil {
						t.Fatal(ct, err)
					}
					if !proto.Equal(in, out) {
						t.Errorf("%s: echo gave %v, want %v", ct, out, in)
					}
				}
			})
			t.Run("nil rsp discards", func(t *testing.T) {
				if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestCallHeaders(t *testing.T) {
	tr := newMemory(t)
	headers := make(chan map[string]string, 2)
	addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
		headers <- req.Header
		return greet(req)
	}))
	c := newClient(t, client.Transport(tr), client.Selector(newFakeSelector(addr)))

	const timeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	ctx = metadata.NewContext(ctx, metadata.Metadata{"x-user-id": "42", "Trace-ID": "abc"})
	ctx = metadata.Set(ctx, "micro-service", "evil") // reserved: must not override
	ctx = metadata.Set(ctx, "timeout", "1h")
	var rsp helloResponse
	for range 2 {
		if err := c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "x"}), &rsp); err != nil {
			t.Fatal(err)
		}
	}
	h := testenv.Recv(t, "request headers", headers)
	h2 := testenv.Recv(t, "request headers", headers)

	want := map[string]string{
		"Content-Type":   "application/json",
		"Micro-Service":  "greeter",
		"Micro-Endpoint": "Say.Hello",
		"X-User-Id":      "42",
		"Trace-Id":       "abc",
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %s = %q, want %q (headers %v)", k, h[k], v, h)
		}
	}
	for k := range h {
		if k != metadata.CanonicalKey(k) {
			t.Errorf("header key %q is not canonical", k)
		}
	}
	if len(h) != len(want)+2 { // + Micro-Id and Timeout
		t.Errorf("headers %v: want exactly %v plus Micro-Id and Timeout", h, want)
	}
	d, err := time.ParseDuration(h["Timeout"])
	if err != nil {
		t.Fatalf("Timeout %q: %v", h["Timeout"], err)
	}
	if d <= 0 || d > timeout || d%time.Millisecond != 0 {
		t.Errorf("Timeout %v: want a whole number of ms in (0, %v]", d, timeout)
	}
	id := h["Micro-Id"]
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		t.Errorf("Micro-Id %q: want 32 hex digits", id)
	}
	if h2["Micro-Id"] == id {
		t.Errorf("two calls share the id %q", id)
	}
}

func TestCallTimeoutHeaderFromRequestTimeout(t *testing.T) {
	tr := newMemory(t)
	headers := make(chan map[string]string, 1)
	addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
		headers <- req.Header
		return greet(req)
	}))
	const rt = 2 * time.Second
	c := newClient(t, client.Transport(tr), client.RequestTimeout(time.Hour))
	// The call's own option beats the client's, and ctx has no deadline.
	if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil,
		client.WithAddress(addr), client.WithRequestTimeout(rt)); err != nil {
		t.Fatal(err)
	}
	h := testenv.Recv(t, "request headers", headers)
	d, err := time.ParseDuration(h["Timeout"])
	if err != nil || d <= 0 || d > rt {
		t.Errorf("Timeout %q (%v): want a duration in (0, %v]", h["Timeout"], err, rt)
	}
}

func TestCallErrorKeepsCode(t *testing.T) {
	tests := []*errors.Error{
		errors.BadRequest("greeter", "bad name"),
		errors.Unauthorized("greeter", "who are you"),
		errors.NotFound("greeter", "no such user"),
		errors.Conflict("greeter", "taken"),
		errors.InternalServerError("greeter", "boom"),
		errors.ServiceUnavailable("greeter", "overloaded"),
		errors.New("greeter", "custom", 599),
	}
	tr := newMemory(t)
	for _, ct := range []string{client.ContentTypeJSON, client.ContentTypeProto, "application/json-rpc"} {
		for _, want := range tests {
			t.Run(ct+"/"+want.Detail, func(t *testing.T) {
				addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
					return errorReply(req, want)
				}))
				c := newClient(t, client.Transport(tr), client.Retries(0))
				err := c.Call(t.Context(), client.NewRequest("greeter", "Say.Hello", wrapperspb.String("x"), client.WithContentType(ct)), nil, client.WithAddress(addr))
				e, ok := err.(*errors.Error)
				if !ok || *e != *want {
					t.Fatalf("got %v (%T), want %v", err, err, want)
				}
			})
		}
	}
}

func TestCallEnvelopeError(t *testing.T) {
	// The rpc codecs can carry an error in their envelope instead of the
	// Micro-Error header.
	tr := newMemory(t)
	want := errors.Forbidden("greeter", "not you")
	for _, ct := range []string{"application/json-rpc", "application/proto-rpc"} {
		t.Run(ct, func(t *testing.T) {
			addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
				cdc, err := rpcwire.NewCodec(ct)
				if err != nil {
					return errorReply(req, errors.InternalServerError("greeter", "%v", err))
				}
				body, err := cdc.Encode(&codec.Message{Id: req.Header[rpcwire.Id], Type: codec.Error, Error: want.Error()}, nil)
				if err != nil {
					return errorReply(req, errors.InternalServerError("greeter", "%v", err))
				}
				return &transport.Message{Header: map[string]string{rpcwire.ContentType: ct}, Body: body}
			}))
			c := newClient(t, client.Transport(tr))
			rsp := wrapperspb.String("unchanged")
			err := c.Call(t.Context(), client.NewRequest("greeter", "Say.Hello", wrapperspb.String("x"), client.WithContentType(ct)), rsp, client.WithAddress(addr))
			if e, ok := err.(*errors.Error); !ok || *e != *want {
				t.Fatalf("got %v, want %v", err, want)
			}
		})
	}
}

func TestCallRetriesOverNodes(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			tr := newTransport(t, tp.new)
			alive := serve(t, tr, unary(greet))
			dead := deadAddr(t) // connection refused
			sel := newFakeSelector(dead, alive)
			c := newClient(t, client.Transport(tr), client.Selector(sel), client.Retries(1),
				client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }))
			var rsp helloResponse
			if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "x"}), &rsp); err != nil {
				t.Fatal(err)
			}
			if rsp.Msg != "hello x" {
				t.Errorf("got %q", rsp.Msg)
			}
			marks := sel.getMarks()
			if len(marks) != 2 {
				t.Fatalf("marks %v, want 2", marks)
			}
			if m := marks[0]; m.service != "greeter" || m.addr != dead || errors.Code(m.err) != 503 ||
				!strings.Contains(errors.FromError(m.err).Detail, dead) {
				t.Errorf("first mark %+v: want the dead node with a 503 naming it", m)
			}
			if m := marks[1]; m.addr != alive || m.err != nil {
				t.Errorf("second mark %+v: want the live node with nil", m)
			}
		})
	}
}

func TestCallAttempts(t *testing.T) {
	noWait := client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 })
	tests := []struct {
		name         string
		code         int32
		clientOpts   []client.Option
		callOpts     []client.CallOption
		wantAttempts int32
	}{
		{"4xx not retried", 400, []client.Option{client.Retries(3)}, nil, 1},
		{"404 not retried", 404, []client.Option{client.Retries(3)}, nil, 1},
		{"501 not retried", 501, []client.Option{client.Retries(3)}, nil, 1},
		{"500 retried", 500, []client.Option{client.Retries(3)}, nil, 4},
		{"503 retried", 503, []client.Option{client.Retries(2)}, nil, 3},
		{"default retries", 502, nil, nil, client.DefaultRetries + 1},
		{"Retries(0)", 503, []client.Option{client.Retries(0)}, nil, 1},
		{"negative retries", 503, []client.Option{client.Retries(-5)}, nil, 1},
		{"call option wins", 503, []client.Option{client.Retries(0)}, []client.CallOption{client.WithRetries(2)}, 3},
		{"custom retry", 400, []client.Option{client.Retries(2)}, []client.CallOption{client.WithRetry(
			func(context.Context, client.Request, int, error) bool { return true })}, 3},
	}
	tr := newMemory(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int32
			addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
				attempts.Add(1)
				return errorReply(req, errors.New("greeter", "failing", tt.code))
			}))
			c := newClient(t, append([]client.Option{client.Transport(tr), noWait}, tt.clientOpts...)...)
			err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil,
				append([]client.CallOption{client.WithAddress(addr)}, tt.callOpts...)...)
			if code(t, err) != tt.code {
				t.Errorf("error %v, want code %d", err, tt.code)
			}
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}
}

func TestCallRetryArguments(t *testing.T) {
	tr := newMemory(t)
	addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
		return errorReply(req, errors.InternalServerError("greeter", "boom"))
	}))
	var mu sync.Mutex
	var backoffs, retries []int
	c := newClient(t, client.Transport(tr), client.Retries(2),
		client.Backoff(func(_ context.Context, _ client.Request, attempt int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			backoffs = append(backoffs, attempt)
			return 0
		}),
		client.Retry(func(ctx context.Context, req client.Request, attempt int, err error) bool {
			mu.Lock()
			defer mu.Unlock()
			retries = append(retries, attempt)
			return client.RetryOnError(ctx, req, attempt, err)
		}))
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr))
	if code(t, err) != 500 {
		t.Fatalf("got %v, want 500", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 2}; !equal(backoffs, want) || !equal(retries, want) {
		t.Errorf("backoff attempts %v, retry attempts %v; want %v for both", backoffs, retries, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCallNodesExhausted(t *testing.T) {
	// Retries beyond the selector's nodes return the last failure, not the
	// selector's "no node available".
	tr := newMemory(t)
	dead := deadAddr(t)
	sel := newFakeSelector(dead)
	c := newClient(t, client.Transport(tr), client.Selector(sel), client.Retries(3),
		client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }))
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil)
	if code(t, err) != 503 || !strings.Contains(err.(*errors.Error).Detail, dead) {
		t.Errorf("got %v, want a 503 naming %s", err, dead)
	}
	if n := len(sel.getMarks()); n != 1 {
		t.Errorf("%d marks, want 1", n)
	}
}

func TestCallBackoffRespectsContext(t *testing.T) {
	tr := newMemory(t)
	addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
		return errorReply(req, errors.InternalServerError("greeter", "boom"))
	}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := newClient(t, client.Transport(tr), client.Retries(5),
		client.Backoff(func(context.Context, client.Request, int) time.Duration {
			cancel() // the caller gives up while the client would wait an hour
			return time.Hour
		}))
	done := make(chan error, 1)
	go func() {
		done <- c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr))
	}()
	err := testenv.Recv(t, "the call to end", done)
	if code(t, err) != errors.StatusClientClosedRequest {
		t.Fatalf("got %v, want 499", err)
	}
	if !strings.Contains(err.(*errors.Error).Detail, "boom") {
		t.Errorf("detail %q does not mention the failure before the wait", err.(*errors.Error).Detail)
	}
}

func TestCallWithAddress(t *testing.T) {
	tr := newMemory(t)
	alive := serve(t, tr, unary(greet))
	dead := deadAddr(t)
	sel := newFakeSelector(alive)
	c := newClient(t, client.Transport(tr), client.Selector(sel), client.Retries(1),
		client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }))
	var rsp helloResponse
	if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "a"}), &rsp, client.WithAddress(dead, alive)); err != nil {
		t.Fatal(err)
	}
	if rsp.Msg != "hello a" {
		t.Errorf("got %q", rsp.Msg)
	}
	if n := sel.selects.Load(); n != 0 {
		t.Errorf("selector asked %d times despite WithAddress", n)
	}
	if m := sel.getMarks(); len(m) != 0 {
		t.Errorf("marks %v with WithAddress", m)
	}

	// Without retries the first address alone is tried.
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(dead, alive), client.WithRetries(0))
	if code(t, err) != 503 {
		t.Errorf("got %v, want 503 from the first address", err)
	}
	// No selector at all: WithAddress still works.
	c2 := newClient(t, client.Transport(tr))
	if err := c2.Call(t.Context(), c2.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(alive)); err != nil {
		t.Fatal(err)
	}
}

func TestCallNoSelector(t *testing.T) {
	c := newClient(t, client.Transport(newMemory(t)))
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil)
	if code(t, err) != 500 || !strings.Contains(err.(*errors.Error).Detail, "no selector") {
		t.Errorf("got %v, want a 500 saying there is no selector", err)
	}
}

func TestCallSelectorErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int32
		detail string
	}{
		{"not found", selector.ErrNotFound, 404, `service "greeter" not found`},
		{"none available", selector.ErrNoneAvailable, 503, `service "greeter"`},
		{"wrapped not found", stderrors.Join(stderrors.New("registry down"), selector.ErrNotFound), 404, `service "greeter" not found`},
		{"other", stderrors.New("registry down"), 503, "registry down"},
	}
	tr := newMemory(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel := newFakeSelector()
			sel.err = tt.err
			c := newClient(t, client.Transport(tr), client.Selector(sel))
			err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil)
			e, ok := err.(*errors.Error)
			if !ok || e.Code != tt.code || e.Id != "go.micro.client" || !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("got %v, want code %d from go.micro.client with detail containing %q", err, tt.code, tt.detail)
			}
		})
	}
	t.Run("registry selector", func(t *testing.T) {
		sel, err := selector.New(selector.Registry(regmemory.New()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sel.Close() })
		c := newClient(t, client.Transport(tr), client.Selector(sel))
		err = c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil)
		if e, ok := err.(*errors.Error); !ok || e.Code != 404 || !strings.Contains(e.Detail, `service "greeter" not found`) {
			t.Errorf("got %v, want 404 naming the service", err)
		}
	})
	t.Run("registry selector, empty service", func(t *testing.T) {
		reg := regmemory.New()
		if err := reg.Register(t.Context(), &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{{Id: "n1", Address: deadAddr(t)}}}); err != nil {
			t.Fatal(err)
		}
		sel, err := selector.New(selector.Registry(reg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sel.Close() })
		c := newClient(t, client.Transport(tr), client.Selector(sel))
		err = c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil,
			client.WithSelectOption(selector.WithFilter(selector.FilterVersion("2"))))
		if e, ok := err.(*errors.Error); !ok || e.Code != 503 || !strings.Contains(e.Detail, `service "greeter"`) {
			t.Errorf("got %v, want 503 naming the service", err)
		}
	})
}

func TestCallDeadline(t *testing.T) {
	tr := newMemory(t)
	addr := serve(t, tr, unary(func(*transport.Message) *transport.Message {
		return nil // never answers
	}))
	c := newClient(t, client.Transport(tr), client.Retries(0))
	check := func(t *testing.T, err error) {
		t.Helper()
		e, ok := err.(*errors.Error)
		if !ok || e.Code != 408 || !strings.Contains(e.Detail, `"greeter"`) || !strings.Contains(e.Detail, `"Say.Hello"`) {
			t.Errorf("got %v, want 408 naming service and endpoint", err)
		}
	}
	t.Run("ctx deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		check(t, c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr)))
	})
	t.Run("request timeout", func(t *testing.T) {
		check(t, c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil,
			client.WithAddress(addr), client.WithRequestTimeout(50*time.Millisecond)))
	})
	t.Run("retries share the deadline", func(t *testing.T) {
		// With retries on, a timed-out attempt is not retried: the
		// deadline covers the whole call.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		var attempts atomic.Int32
		count := client.WithCallWrapper(func(next client.CallFunc) client.CallFunc {
			return func(ctx context.Context, node *registry.Node, req client.Request, rsp any, opts client.CallOptions) error {
				attempts.Add(1)
				return next(ctx, node, req, rsp, opts)
			}
		})
		check(t, c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr), client.WithRetries(5), count))
		if n := attempts.Load(); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("expired before the call", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), -time.Second)
		defer cancel()
		check(t, c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr)))
	})
}

func TestCallCanceled(t *testing.T) {
	tr := newMemory(t)
	received := make(chan struct{})
	addr := serve(t, tr, unary(func(*transport.Message) *transport.Message {
		close(received)
		return nil
	}))
	c := newClient(t, client.Transport(tr))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr))
	}()
	testenv.Wait(t, "the request", received)
	cancel()
	err := testenv.Recv(t, "the call to end", done)
	if code(t, err) != errors.StatusClientClosedRequest {
		t.Errorf("got %v, want 499", err)
	}
	if got := errors.FromError(context.Canceled).Code; got != errors.StatusClientClosedRequest {
		t.Errorf("errors.FromError(context.Canceled) = %d: the client's code disagrees", got)
	}
}

func TestCallTooLarge(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			tr := newTransport(t, tp.new, transport.MaxMessageSize(1024))
			addr := serve(t, tr, unary(greet))
			var attempts atomic.Int32
			c := newClient(t, client.Transport(tr), client.Retries(3), client.WrapCall(func(next client.CallFunc) client.CallFunc {
				return func(ctx context.Context, node *registry.Node, req client.Request, rsp any, opts client.CallOptions) error {
					attempts.Add(1)
					return next(ctx, node, req, rsp, opts)
				}
			}))
			big := &helloRequest{Name: strings.Repeat("x", 4096)}
			err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", big), nil, client.WithAddress(addr))
			if code(t, err) != 413 {
				t.Fatalf("got %v, want 413", err)
			}
			if n := attempts.Load(); n != 1 {
				t.Errorf("%d attempts, want 1: a 413 is not retried", n)
			}
			var rsp helloResponse
			if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "small"}), &rsp, client.WithAddress(addr)); err != nil {
				t.Fatalf("the next call failed: %v", err)
			}
			if rsp.Msg != "hello small" {
				t.Errorf("got %q", rsp.Msg)
			}
		})
	}
}

func TestCallTooLargeForServer(t *testing.T) {
	// The server's limit is lower than the client's: the http transport
	// resets the stream with an error matching both ErrMessageTooLarge and
	// ErrClosed, which must still be a 413, not a retried 503.
	srv := newTransport(t, httptransport.NewTransport, transport.MaxMessageSize(1024))
	addr := serve(t, srv, unary(greet))
	tr := newTransport(t, httptransport.NewTransport)
	var attempts atomic.Int32
	c := newClient(t, client.Transport(tr), client.Retries(3), client.WrapCall(func(next client.CallFunc) client.CallFunc {
		return func(ctx context.Context, node *registry.Node, req client.Request, rsp any, opts client.CallOptions) error {
			attempts.Add(1)
			return next(ctx, node, req, rsp, opts)
		}
	}))
	big := &helloRequest{Name: strings.Repeat("x", 4096)}
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", big), nil, client.WithAddress(addr))
	if code(t, err) != 413 {
		t.Fatalf("got %v, want 413", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	var rsp helloResponse
	if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "small"}), &rsp, client.WithAddress(addr)); err != nil || rsp.Msg != "hello small" {
		t.Fatalf("the next call: %v, %+v", err, rsp)
	}
}

func TestCallCallerMistakes(t *testing.T) {
	tr := newMemory(t)
	var requests atomic.Int32
	addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
		requests.Add(1)
		return greet(req)
	}))
	sel := newFakeSelector(addr)
	c := newClient(t, client.Transport(tr), client.Selector(sel), client.Retries(3))
	tests := []struct {
		name string
		req  client.Request
		code int32
	}{
		{"unknown content type", client.NewRequest("greeter", "Say.Hello", &helloRequest{}, client.WithContentType("application/x-nope")), 415},
		{"body the codec cannot encode", client.NewRequest("greeter", "Say.Hello", &helloRequest{}, client.WithContentType(client.ContentTypeProto)), 400},
		{"body json cannot encode", client.NewRequest("greeter", "Say.Hello", make(chan int)), 400},
		{"nil request", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(t, c.Call(t.Context(), tt.req, nil)); got != tt.code {
				t.Errorf("code %d, want %d", got, tt.code)
			}
		})
	}
	if s, err := c.Stream(t.Context(), nil); err == nil || code(t, err) != 400 {
		t.Errorf("Stream(nil) = %v, %v; want a 400", s, err)
	}
	if err := c.Publish(t.Context(), nil); err == nil {
		t.Error("Publish(nil) succeeded")
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the server saw %d requests", n)
	}
	for _, m := range sel.getMarks() {
		if errors.Code(m.err) == 415 {
			t.Errorf("a node was marked for an unknown content type: %+v", m)
		}
	}
}

func TestCallBadResponses(t *testing.T) {
	tests := []struct {
		name   string
		answer func(req *transport.Message) *transport.Message
		code   int32
	}{
		{"body that does not decode", func(req *transport.Message) *transport.Message {
			return &transport.Message{Header: map[string]string{rpcwire.ContentType: "application/json"}, Body: []byte("{not json")}
		}, 500},
		{"unknown response content type", func(req *transport.Message) *transport.Message {
			return &transport.Message{Header: map[string]string{rpcwire.ContentType: "application/x-nope"}, Body: []byte("?")}
		}, 500},
		{"garbage error header", func(req *transport.Message) *transport.Message {
			return &transport.Message{Header: map[string]string{rpcwire.Error: "not json"}}
		}, 500},
	}
	tr := newMemory(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, tr, unary(tt.answer))
			c := newClient(t, client.Transport(tr), client.Retries(0))
			var rsp helloResponse
			if got := code(t, c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), &rsp, client.WithAddress(addr))); got != tt.code {
				t.Errorf("code %d, want %d", got, tt.code)
			}
		})
	}
	t.Run("response in another content type", func(t *testing.T) {
		addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
			return &transport.Message{Header: map[string]string{rpcwire.ContentType: "application/json-rpc"},
				Body: []byte(`{"id":"1","result":{"msg":"hi"},"error":null}` + "\n")}
		}))
		c := newClient(t, client.Transport(tr))
		var rsp helloResponse
		if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), &rsp, client.WithAddress(addr)); err != nil || rsp.Msg != "hi" {
			t.Errorf("got %v, %+v", err, rsp)
		}
	})
}

func TestCallServerGone(t *testing.T) {
	// A node that closes the stream without answering is unavailable, and
	// the call is retried.
	tr := newMemory(t)
	var attempts atomic.Int32
	addr := serve(t, tr, func(ctx context.Context, s transport.Socket) {
		var req transport.Message
		_ = s.Recv(ctx, &req)
		attempts.Add(1)
	})
	c := newClient(t, client.Transport(tr), client.Retries(1),
		client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }))
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr))
	if code(t, err) != 503 {
		t.Errorf("got %v, want 503", err)
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestWrappersOrder(t *testing.T) {
	tr := newMemory(t)
	addr := serve(t, tr, unary(greet))
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	wrapper := func(name string) client.Wrapper {
		return func(next client.Client) client.Client {
			return &recordingClient{Client: next, name: name, record: record}
		}
	}
	callWrapper := func(name string) client.CallWrapper {
		return func(next client.CallFunc) client.CallFunc {
			return func(ctx context.Context, node *registry.Node, req client.Request, rsp any, opts client.CallOptions) error {
				record(name)
				return next(ctx, node, req, rsp, opts)
			}
		}
	}
	c := newClient(t, client.Transport(tr),
		client.Wrap(wrapper("w1"), wrapper("w2")), client.Wrap(wrapper("w3")),
		client.WrapCall(callWrapper("c1"), callWrapper("c2")))
	if c.String() != "w1(w2(w3(rpc)))" {
		t.Errorf("String() = %q", c.String())
	}
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil,
		client.WithAddress(addr), client.WithCallWrapper(callWrapper("o1"), callWrapper("o2")))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(order, " ")
	order = nil
	mu.Unlock()
	if want := "w1 w2 w3 c1 c2 o1 o2"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}

	// The client's call wrappers alone, on a call without its own.
	if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), nil, client.WithAddress(addr)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got = strings.Join(order, " ")
	mu.Unlock()
	if want := "w1 w2 w3 c1 c2"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

type recordingClient struct {
	client.Client
	name   string
	record func(string)
}

func (c *recordingClient) Call(ctx context.Context, req client.Request, rsp any, opts ...client.CallOption) error {
	c.record(c.name)
	return c.Client.Call(ctx, req, rsp, opts...)
}

func (c *recordingClient) String() string { return c.name + "(" + c.Client.String() + ")" }

func TestCallConcurrent(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			tr := newTransport(t, tp.new)
			addr := serve(t, tr, unary(greet))
			c := newClient(t, client.Transport(tr), client.Selector(newFakeSelector(addr)))
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := range 64 {
				wg.Go(func() {
					name := strings.Repeat("n", i)
					for range 20 {
						var rsp helloResponse
						if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: name}), &rsp); err != nil {
							errs <- err
							return
						}
						if rsp.Msg != "hello "+name {
							errs <- stderrors.New("wrong answer " + rsp.Msg)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
