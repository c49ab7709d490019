package client_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// streamEcho is a stream handler: it checks the opening message, reports
// its headers on opened (when not nil) and sends back every message it
// receives until the client half-closes; then it ends the stream cleanly.
func streamEcho(opened chan<- map[string]string) func(context.Context, transport.Socket) {
	return func(ctx context.Context, s transport.Socket) {
		var open transport.Message
		if err := s.Recv(ctx, &open); err != nil {
			return
		}
		if opened != nil {
			opened <- open.Header
		}
		if open.Header[rpcwire.Stream] != "1" || len(open.Body) != 0 {
			_ = s.Send(ctx, errorReply(&open, errors.BadRequest("echo", "not a stream opening")))
			return
		}
		for {
			var m transport.Message
			if err := s.Recv(ctx, &m); err != nil {
				return // io.EOF: the client is done; return closes the stream
			}
			if err := s.Send(ctx, &transport.Message{Body: m.Body}); err != nil {
				return
			}
		}
	}
}

func TestStreamEcho(t *testing.T) {
	const n = 10000
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			tr := newTransport(t, tp.new)
			opened := make(chan map[string]string, 1)
			addr := serve(t, tr, streamEcho(opened))
			c := newClient(t, client.Transport(tr), client.Selector(newFakeSelector(addr)))
			req := c.NewRequest("echo", "Echo.Stream", &helloRequest{}, client.StreamingRequest())
			s, err := c.Stream(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Request() != req {
				t.Error("Request() is not the request that opened the stream")
			}
			h := testenv.Recv(t, "the opening message", opened)
			if h[rpcwire.Service] != "echo" || h[rpcwire.Endpoint] != "Echo.Stream" || h[rpcwire.Stream] != "1" || h[rpcwire.ContentType] != client.ContentTypeJSON {
				t.Errorf("opening headers %v", h)
			}
			if _, ok := h[rpcwire.Timeout]; ok {
				t.Errorf("opening headers %v: a Timeout without a ctx deadline (RequestTimeout does not bound streams)", h)
			}

			sendErr := make(chan error, 1)
			go func() {
				for i := range n {
					if err := s.Send(&helloRequest{Name: fmt.Sprint(i)}); err != nil {
						sendErr <- err
						return
					}
				}
				sendErr <- s.CloseSend()
			}()
			for i := range n {
				var m helloRequest
				if err := s.Recv(&m); err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
				if m.Name != fmt.Sprint(i) {
					t.Fatalf("Recv %d: got %q", i, m.Name)
				}
			}
			if err := testenv.Recv(t, "the sender", sendErr); err != nil {
				t.Fatalf("sending: %v", err)
			}
			for range 2 {
				if err := s.Recv(&helloRequest{}); err != io.EOF {
					t.Fatalf("Recv after the end: %v, want io.EOF", err)
				}
			}
			testenv.Wait(t, "the stream's context to end", s.Context().Done())
			if err := s.Send(&helloRequest{}); err != io.EOF {
				t.Errorf("Send after the server's end: %v, want io.EOF", err)
			}
		})
	}
}

func TestStreamServerError(t *testing.T) {
	want := errors.Forbidden("echo", "enough")
	tr := newMemory(t)
	addr := serve(t, tr, func(ctx context.Context, s transport.Socket) {
		var open transport.Message
		if err := s.Recv(ctx, &open); err != nil {
			return
		}
		cdc, _ := rpcwire.NewCodec(open.Header[rpcwire.ContentType])
		for i := range 2 {
			body, _ := cdc.Encode(&codec.Message{}, wrapperspb.Int32(int32(i)))
			if s.Send(ctx, &transport.Message{Body: body}) != nil {
				return
			}
		}
		_ = s.Send(ctx, &transport.Message{Header: map[string]string{rpcwire.Error: want.Error()}})
	})
	c := newClient(t, client.Transport(tr))
	s, err := c.Stream(t.Context(), c.NewRequest("echo", "Echo.Stream", wrapperspb.Int32(0)), client.WithAddress(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2 {
		m := new(wrapperspb.Int32Value)
		if err := s.Recv(m); err != nil || m.GetValue() != int32(i) {
			t.Fatalf("Recv %d: %v, %v", i, m, err)
		}
	}
	for range 3 {
		err := s.Recv(new(wrapperspb.Int32Value))
		if e, ok := err.(*errors.Error); !ok || *e != *want {
			t.Fatalf("Recv: %v, want %v", err, want)
		}
	}
	testenv.Wait(t, "the stream's context to end", s.Context().Done())
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Recv(new(wrapperspb.Int32Value)); err != client.ErrClosed {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
}

func TestStreamClose(t *testing.T) {
	tr := newMemory(t)
	addr := serve(t, tr, streamEcho(nil))
	c := newClient(t, client.Transport(tr))
	s, err := c.Stream(t.Context(), c.NewRequest("echo", "Echo.Stream", &helloRequest{}), client.WithAddress(addr))
	if err != nil {
		t.Fatal(err)
	}
	// A Recv blocked when Close comes returns ErrClosed.
	recvErr := make(chan error, 1)
	go func() { recvErr <- s.Recv(&helloRequest{}) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Recv(t, "the blocked Recv", recvErr); err != client.ErrClosed {
		t.Errorf("blocked Recv: %v, want ErrClosed", err)
	}
	testenv.Wait(t, "the stream's context to end", s.Context().Done())
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Send(&helloRequest{}); err != client.ErrClosed {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if err := s.Recv(&helloRequest{}); err != client.ErrClosed {
		t.Errorf("Recv after Close: %v, want ErrClosed", err)
	}
	if err := s.CloseSend(); err != client.ErrClosed {
		t.Errorf("CloseSend after Close: %v, want ErrClosed", err)
	}
}

func TestStreamContext(t *testing.T) {
	tr := newMemory(t)
	opened := make(chan map[string]string, 2)
	addr := serve(t, tr, streamEcho(opened))
	c := newClient(t, client.Transport(tr))

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s, err := c.Stream(ctx, c.NewRequest("echo", "Echo.Stream", &helloRequest{}), client.WithAddress(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		testenv.Recv(t, "the opening", opened)
		recvErr := make(chan error, 1)
		go func() { recvErr <- s.Recv(&helloRequest{}) }()
		cancel()
		if err := testenv.Recv(t, "the blocked Recv", recvErr); code(t, err) != errors.StatusClientClosedRequest {
			t.Errorf("Recv: %v, want 499", err)
		}
		testenv.Wait(t, "the stream's context to end", s.Context().Done())
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		s, err := c.Stream(ctx, c.NewRequest("echo", "Echo.Stream", &helloRequest{}), client.WithAddress(addr))
		if err != nil {
			// Opening may already be too late on a slow machine.
			if code(t, err) != 408 {
				t.Fatalf("Stream: %v, want success or 408", err)
			}
			return
		}
		defer s.Close()
		h := testenv.Recv(t, "the opening", opened)
		if d, err := time.ParseDuration(h[rpcwire.Timeout]); err != nil || d <= 0 || d > 50*time.Millisecond {
			t.Errorf("Timeout header %q: want a duration in (0, 50ms]", h[rpcwire.Timeout])
		}
		err = s.Recv(&helloRequest{}) // the echo never sends first
		if e, ok := err.(*errors.Error); !ok || e.Code != 408 || !strings.Contains(e.Detail, `"Echo.Stream"`) {
			t.Errorf("Recv: %v, want 408 naming the endpoint", err)
		}
	})
}

func TestStreamTooLarge(t *testing.T) {
	for _, tp := range transports {
		t.Run(tp.name, func(t *testing.T) {
			tr := newTransport(t, tp.new, transport.MaxMessageSize(1024))
			addr := serve(t, tr, streamEcho(nil))
			c := newClient(t, client.Transport(tr))
			s, err := c.Stream(t.Context(), c.NewRequest("echo", "Echo.Stream", &helloRequest{}), client.WithAddress(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Send(&helloRequest{Name: strings.Repeat("x", 4096)}); code(t, err) != 413 {
				t.Fatalf("oversized Send: %v, want 413", err)
			}
			if err := s.Send(make(chan int)); code(t, err) != 400 {
				t.Fatalf("Send of a value json cannot encode: %v, want 400", err)
			}
			if err := s.Send(&helloRequest{Name: "small"}); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			var m helloRequest
			if err := s.Recv(&m); err != nil || m.Name != "small" {
				t.Fatalf("Recv: %+v, %v", m, err)
			}
		})
	}
}

func TestStreamOpening(t *testing.T) {
	tr := newMemory(t)
	alive := serve(t, tr, streamEcho(nil))
	dead := deadAddr(t)

	t.Run("retries the dial", func(t *testing.T) {
		sel := newFakeSelector(dead, alive)
		c := newClient(t, client.Transport(tr), client.Selector(sel),
			client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }))
		s, err := c.Stream(t.Context(), c.NewRequest("echo", "Echo.Stream", &helloRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Send(&helloRequest{Name: "a"}); err != nil {
			t.Fatal(err)
		}
		var m helloRequest
		if err := s.Recv(&m); err != nil || m.Name != "a" {
			t.Fatalf("Recv: %+v, %v", m, err)
		}
		marks := sel.getMarks()
		if len(marks) != 2 || marks[0].addr != dead || errors.Code(marks[0].err) != 503 || marks[1].addr != alive || marks[1].err != nil {
			t.Errorf("marks %+v", marks)
		}
	})
	tests := []struct {
		name string
		c    func(t *testing.T) client.Client
		req  client.Request
		opts []client.CallOption
		code int32
	}{
		{"dead node", func(t *testing.T) client.Client { return newClient(t, client.Transport(tr), client.Retries(0)) },
			client.NewRequest("echo", "Echo.Stream", &helloRequest{}), []client.CallOption{client.WithAddress(dead)}, 503},
		{"unknown content type", func(t *testing.T) client.Client { return newClient(t, client.Transport(tr)) },
			client.NewRequest("echo", "Echo.Stream", &helloRequest{}, client.WithContentType("x/y")), []client.CallOption{client.WithAddress(alive)}, 415},
		{"no selector", func(t *testing.T) client.Client { return newClient(t, client.Transport(tr)) },
			client.NewRequest("echo", "Echo.Stream", &helloRequest{}), nil, 500},
		{"not found", func(t *testing.T) client.Client {
			sel := newFakeSelector()
			sel.err = fmt.Errorf("lookup: %w", selector.ErrNotFound)
			return newClient(t, client.Transport(tr), client.Selector(sel))
		}, client.NewRequest("echo", "Echo.Stream", &helloRequest{}), nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.c(t).Stream(t.Context(), tt.req, tt.opts...)
			if err == nil {
				_ = s.Close()
				t.Fatal("Stream succeeded")
			}
			if got := code(t, err); got != tt.code {
				t.Errorf("Stream: %v, want %d", err, tt.code)
			}
		})
	}
}
