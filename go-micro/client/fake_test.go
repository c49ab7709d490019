package client_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
	"github.com/openmicro/go-micro/transport/memory"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// transports are the transports the tests run over.
var transports = []struct {
	name string
	new  func(opts ...transport.Option) (transport.Transport, error)
}{
	{"memory", memory.NewTransport},
	{"http", httptransport.NewTransport},
}

// newTransport returns a transport closed at the end of the test.
func newTransport(t testing.TB, nt func(...transport.Option) (transport.Transport, error), opts ...transport.Option) transport.Transport {
	t.Helper()
	tr, err := nt(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// newMemory returns a memory transport closed at the end of the test.
func newMemory(t testing.TB, opts ...transport.Option) transport.Transport {
	t.Helper()
	return newTransport(t, memory.NewTransport, opts...)
}

// newClient builds a client, failing the test on error.
func newClient(t testing.TB, opts ...client.Option) client.Client {
	t.Helper()
	c, err := client.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serve runs h for each stream accepted at a new listener of tr, a fake
// server speaking the protocol of internal/rpcwire, and returns its
// address. The listener closes and the handlers are waited for at the end
// of the test; ctx given to h ends then.
func serve(t testing.TB, tr transport.Transport, h func(ctx context.Context, s transport.Socket)) string {
	t.Helper()
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var g testenv.Group
	done := make(chan error, 1)
	go func() {
		done <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			if !g.Enter() {
				return
			}
			defer g.Leave()
			h(ctx, s)
		})
	}()
	t.Cleanup(func() {
		cancel()
		_ = l.Close()
		if err := <-done; err != nil {
			t.Errorf("accept: %v", err)
		}
		g.Wait()
	})
	return l.Addr()
}

// unary is a handler that reads one request and sends what answer returns;
// when answer returns nil it never answers and waits for the end of the
// test.
func unary(answer func(req *transport.Message) *transport.Message) func(context.Context, transport.Socket) {
	return func(ctx context.Context, s transport.Socket) {
		var req transport.Message
		if err := s.Recv(ctx, &req); err != nil {
			return
		}
		rsp := answer(&req)
		if rsp == nil {
			<-ctx.Done()
			return
		}
		_ = s.Send(ctx, rsp)
	}
}

// errorReply is a response carrying err in Micro-Error.
func errorReply(req *transport.Message, err *errors.Error) *transport.Message {
	return &transport.Message{Header: map[string]string{
		rpcwire.ContentType: req.Header[rpcwire.ContentType],
		rpcwire.Id:          req.Header[rpcwire.Id],
		rpcwire.Error:       err.Error(),
	}}
}

// reply encodes out as the response to req, in req's content type.
func reply(req *transport.Message, out any) *transport.Message {
	ct := req.Header[rpcwire.ContentType]
	cdc, err := rpcwire.NewCodec(ct)
	if err != nil {
		return errorReply(req, errors.UnsupportedMediaType("greeter", "%v", err))
	}
	body, err := cdc.Encode(&codec.Message{Id: req.Header[rpcwire.Id], Type: codec.Response}, out)
	if err != nil {
		return errorReply(req, errors.InternalServerError("greeter", "encoding: %v", err))
	}
	return &transport.Message{
		Header: map[string]string{rpcwire.ContentType: ct, rpcwire.Id: req.Header[rpcwire.Id]},
		Body:   body,
	}
}

// helloRequest and helloResponse are the JSON messages of greet.
type helloRequest struct {
	Name string `json:"name"`
}

type helloResponse struct {
	Msg string `json:"msg"`
}

// greet answers "Say.Hello": a wrapperspb.StringValue for proto content
// types, a helloResponse otherwise, saying hello to the name in the
// request.
func greet(req *transport.Message) *transport.Message {
	ct := req.Header[rpcwire.ContentType]
	cdc, err := rpcwire.NewCodec(ct)
	if err != nil {
		return errorReply(req, errors.UnsupportedMediaType("greeter", "%v", err))
	}
	if req.Header[rpcwire.Endpoint] != "Say.Hello" {
		return errorReply(req, errors.NotFound("greeter", "unknown endpoint %q", req.Header[rpcwire.Endpoint]))
	}
	var m codec.Message
	switch codec.MediaType(ct) {
	case "application/protobuf", "application/proto-rpc":
		var in wrapperspb.StringValue
		if err := cdc.Decode(req.Body, &m, codec.Request, &in); err != nil {
			return errorReply(req, errors.BadRequest("greeter", "%v", err))
		}
		return reply(req, wrapperspb.String("hello "+in.GetValue()))
	default:
		var in helloRequest
		if err := cdc.Decode(req.Body, &m, codec.Request, &in); err != nil {
			return errorReply(req, errors.BadRequest("greeter", "%v", err))
		}
		return reply(req, &helloResponse{Msg: "hello " + in.Name})
	}
}

// echo answers with the request's body and content type.
func echo(req *transport.Message) *transport.Message {
	return &transport.Message{
		Header: map[string]string{rpcwire.ContentType: req.Header[rpcwire.ContentType], rpcwire.Id: req.Header[rpcwire.Id]},
		Body:   req.Body,
	}
}

// deadAddr returns a loopback address where nothing listens: dialling it
// over TCP is refused, and the memory transport has no listener there.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// fakeSelector hands out its nodes in order and records Mark.
type fakeSelector struct {
	nodes []*registry.Node
	err   error // returned by Select when set

	selects atomic.Int32
	mu      sync.Mutex
	marks   []markCall
}

type markCall struct {
	service, addr string
	err           error
}

func newFakeSelector(addrs ...string) *fakeSelector {
	s := &fakeSelector{}
	for _, a := range addrs {
		s.nodes = append(s.nodes, &registry.Node{Id: a, Address: a})
	}
	return s
}

func (s *fakeSelector) Select(_ context.Context, _ string, _ ...selector.SelectOption) (selector.Next, error) {
	s.selects.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	nodes := slices.Clone(s.nodes)
	return func() (*registry.Node, error) {
		if len(nodes) == 0 {
			return nil, selector.ErrNoneAvailable
		}
		n := nodes[0]
		nodes = nodes[1:]
		return n, nil
	}, nil
}

func (s *fakeSelector) Mark(service string, node *registry.Node, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, markCall{service, node.Address, err})
}

func (s *fakeSelector) getMarks() []markCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.marks)
}

func (s *fakeSelector) Reset(string)   {}
func (s *fakeSelector) Close() error   { return nil }
func (s *fakeSelector) String() string { return "fake" }

var _ selector.Selector = (*fakeSelector)(nil)

// code returns the code of err, failing the test when err is not an
// *errors.Error.
func code(t testing.TB, err error) int32 {
	t.Helper()
	e, ok := err.(*errors.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not an *errors.Error", err, err)
	}
	return e.Code
}
