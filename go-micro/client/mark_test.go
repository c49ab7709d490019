package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/transport"
)

// TestCallMarks checks the rule of the selector's Mark: only a 503 the
// client made (the node could not be reached, or went away) marks the node
// failed; a node that answered, even with an error, is marked a success;
// nothing is marked when the caller's ctx ended first.
func TestCallMarks(t *testing.T) {
	const (
		answers = iota // the node's address
		dead           // an address where nothing listens
	)
	relayed := errors.ServiceUnavailable("go.micro.client", `service "downstream": no node available`)
	tests := []struct {
		name    string
		node    int
		handler func(ctx context.Context, s transport.Socket)
		callCtx func(t *testing.T) context.Context
		// cancelAtNode: the node cancels the call's ctx once it has the
		// request, and never answers.
		cancelAtNode bool
		want         []int32 // one entry per Mark: 0 for nil, else the code
	}{
		{name: "success", handler: unary(greet), want: []int32{0}},
		{name: "handler error", handler: unary(func(req *transport.Message) *transport.Message {
			return errorReply(req, errors.InternalServerError("greeter", "boom"))
		}), want: []int32{0}},
		{name: "handler not found", handler: unary(func(req *transport.Message) *transport.Message {
			return errorReply(req, errors.NotFound("greeter", "no such thing"))
		}), want: []int32{0}},
		{
			// The node answered with the 503 its own client got from a
			// service further down: the node is fine.
			name: "node relays a client's 503",
			handler: unary(func(req *transport.Message) *transport.Message {
				return errorReply(req, relayed)
			}), want: []int32{0},
		},
		{name: "answer that does not decode", handler: unary(func(req *transport.Message) *transport.Message {
			return &transport.Message{Header: map[string]string{rpcwire.ContentType: "application/json"}, Body: []byte("{nope")}
		}), want: []int32{0}},
		{name: "dead node", node: dead, want: []int32{503}},
		{name: "node hangs up", handler: func(ctx context.Context, s transport.Socket) {
			var req transport.Message
			_ = s.Recv(ctx, &req)
		}, want: []int32{503}},
		{
			name:    "ctx deadline",
			handler: unary(func(*transport.Message) *transport.Message { return nil }),
			callCtx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			want: nil,
		},
		{name: "ctx canceled while the node works", cancelAtNode: true, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newMemory(t)
			ctx := t.Context()
			if tt.callCtx != nil {
				ctx = tt.callCtx(t)
			}
			handler := tt.handler
			if tt.cancelAtNode {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				t.Cleanup(cancel)
				handler = unary(func(*transport.Message) *transport.Message {
					cancel()
					return nil
				})
			}
			addr := deadAddr(t)
			if tt.node == answers {
				addr = serve(t, tr, handler)
			}
			sel := newFakeSelector(addr)
			c := newClient(t, client.Transport(tr), client.Selector(sel), client.Retries(0))
			err := c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "x"}), new(helloResponse))
			var got []int32
			for _, m := range sel.getMarks() {
				if m.service != "greeter" || m.addr != addr {
					t.Errorf("mark %+v: want service greeter, node %s", m, addr)
				}
				got = append(got, errors.Code(m.err))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("marks %v (call error %v), want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("mark %d: code %d, want %d (0 is nil; call error %v)", i, got[i], tt.want[i], err)
				}
			}
		})
	}
}

// TestCallMarksStream checks Mark for the opening of a stream: a failure
// for a node that cannot be dialled, nil once the stream is open.
func TestCallMarksStream(t *testing.T) {
	tr := newMemory(t)
	alive := serve(t, tr, streamEcho(nil))
	dead := deadAddr(t)
	sel := newFakeSelector(dead, alive)
	c := newClient(t, client.Transport(tr), client.Selector(sel), client.Retries(1),
		client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }))
	s, err := c.Stream(t.Context(), c.NewRequest("greeter", "Say.Chat", nil, client.StreamingRequest()))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	marks := sel.getMarks()
	if len(marks) != 2 || marks[0].addr != dead || errors.Code(marks[0].err) != 503 ||
		marks[1].addr != alive || marks[1].err != nil {
		t.Errorf("marks %+v: want the dead node with a 503, then the live one with nil", marks)
	}
}

// TestCallUndecodableAnswerNotRetried checks that an answer the client
// cannot decode is not retried: the node did the work, and a retry would
// run a handler that already succeeded a second time.
func TestCallUndecodableAnswerNotRetried(t *testing.T) {
	tr := newMemory(t)
	var requests atomic.Int32
	addr := serve(t, tr, unary(func(req *transport.Message) *transport.Message {
		requests.Add(1)
		return &transport.Message{Header: map[string]string{rpcwire.ContentType: "application/json"}, Body: []byte("{nope")}
	}))
	var attempts atomic.Int32
	c := newClient(t, client.Transport(tr), client.Retries(3),
		client.Backoff(func(context.Context, client.Request, int) time.Duration { return 0 }),
		client.WrapCall(func(next client.CallFunc) client.CallFunc {
			return func(ctx context.Context, node *registry.Node, req client.Request, rsp any, opts client.CallOptions) error {
				attempts.Add(1)
				return next(ctx, node, req, rsp, opts)
			}
		}))
	err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{}), new(helloResponse), client.WithAddress(addr))
	if code(t, err) != 500 {
		t.Errorf("got %v, want 500", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts (%d requests served), want 1", n, requests.Load())
	}
}
