// Package rpcbench runs go-micro and grpc-go side by side on the same
// service (proto/bench.proto): the servers, the clients, a closed-loop load
// generator with latency percentiles, a bidirectional stream pump and the
// in-process allocation count per call.
package rpcbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	benchpb "github.com/openmicro/benchmarks/proto"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Systems are the names Serve and Dial take, in table order.
var Systems = []string{"go-micro", "grpc-go"}

// Name and Msg fill the messages so that a request is 16 bytes and a reply
// 32 bytes on the wire, as the benchmark asks.
const (
	Name = "benchmark-0001"                 // 14 bytes + 2 of framing
	Msg  = "hello benchmark-0001 from srv!" // 30 bytes + 2 of framing
)

// Server is a running benchmark server.
type Server interface {
	Addr() string
	Stop(ctx context.Context) error
}

// Conn is one shared client connection to a benchmark server: Echo is a
// unary call, Chat opens a bidirectional stream.
type Conn interface {
	Echo(ctx context.Context) error
	Chat(ctx context.Context) (Chat, error)
	Close() error
}

// Chat is one open bidirectional stream.
type Chat interface {
	Send() error
	Recv() error
	CloseSend() error
	Close() error
}

// Serve starts the server of system on addr (host:port, port 0 for a free
// one).
func Serve(ctx context.Context, system, addr string) (Server, error) {
	switch system {
	case "go-micro":
		return serveMicro(ctx, addr)
	case "grpc-go":
		return serveGRPC(addr)
	}
	return nil, fmt.Errorf("rpcbench: unknown system %q (want one of %v)", system, Systems)
}

// Dial opens the shared client of system to a server at addr.
func Dial(system, addr string) (Conn, error) {
	switch system {
	case "go-micro":
		return dialMicro(addr)
	case "grpc-go":
		return dialGRPC(addr)
	}
	return nil, fmt.Errorf("rpcbench: unknown system %q (want one of %v)", system, Systems)
}

// check reports a reply that is not the expected one, so that a broken
// system cannot pass as a fast one.
func check(r *benchpb.Reply) error {
	if r.GetMsg() != Msg {
		return fmt.Errorf("rpcbench: reply %q, want %q", r.GetMsg(), Msg)
	}
	return nil
}

// ---- go-micro ----

// Bench is the go-micro handler, registered through the generated
// RegisterBenchHandler: endpoints Bench.Echo and Bench.Chat.
type Bench struct{}

// Echo answers one request.
func (Bench) Echo(_ context.Context, req *benchpb.Request, rsp *benchpb.Reply) error {
	if req.GetName() == "" {
		return errors.New("empty name")
	}
	rsp.Msg = Msg
	return nil
}

// Chat answers every request with one reply until the client half-closes.
func (Bench) Chat(_ context.Context, s benchpb.Bench_ChatStream) error {
	rsp := &benchpb.Reply{Msg: Msg}
	for {
		if _, err := s.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := s.Send(rsp); err != nil {
			return err
		}
	}
}

type microServer struct {
	srv server.Server
	tr  transport.Transport
}

func serveMicro(ctx context.Context, addr string) (Server, error) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		return nil, err
	}
	srv, err := server.New(
		server.Name("bench"),
		server.Address(addr),
		server.Registry(memory.New()),
		server.Transport(tr),
	)
	if err != nil {
		return nil, err
	}
	if err := benchpb.RegisterBenchHandler(srv, Bench{}); err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return &microServer{srv: srv, tr: tr}, nil
}

func (s *microServer) Addr() string { return s.srv.Options().Address }

func (s *microServer) Stop(ctx context.Context) error {
	err := s.srv.Stop(ctx)
	return errors.Join(err, s.tr.Close())
}

type microConn struct {
	c    benchpb.BenchService
	tr   transport.Transport
	req  *benchpb.Request
	addr client.CallOption
}

func dialMicro(addr string) (Conn, error) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		return nil, err
	}
	c, err := client.New(client.Transport(tr))
	if err != nil {
		return nil, err
	}
	return &microConn{
		c:    benchpb.NewBenchService("bench", c),
		tr:   tr,
		req:  &benchpb.Request{Name: Name},
		addr: client.WithAddress(addr),
	}, nil
}

func (m *microConn) Echo(ctx context.Context) error {
	rsp, err := m.c.Echo(ctx, m.req, m.addr)
	if err != nil {
		return err
	}
	return check(rsp)
}

func (m *microConn) Chat(ctx context.Context) (Chat, error) {
	s, err := m.c.Chat(ctx, m.addr)
	if err != nil {
		return nil, err
	}
	return &microChat{s: s, req: m.req}, nil
}

func (m *microConn) Close() error { return m.tr.Close() }

type microChat struct {
	s   benchpb.Bench_ChatService
	req *benchpb.Request
}

func (c *microChat) Send() error { return c.s.Send(c.req) }
func (c *microChat) Recv() error {
	rsp, err := c.s.Recv()
	if err != nil {
		return err
	}
	return check(rsp)
}
func (c *microChat) CloseSend() error { return c.s.CloseSend() }
func (c *microChat) Close() error     { return c.s.Close() }

// ---- grpc-go ----

type grpcBench struct {
	benchpb.UnimplementedBenchServer
}

func (grpcBench) Echo(_ context.Context, req *benchpb.Request) (*benchpb.Reply, error) {
	if req.GetName() == "" {
		return nil, errors.New("empty name")
	}
	return &benchpb.Reply{Msg: Msg}, nil
}

func (grpcBench) Chat(s grpc.BidiStreamingServer[benchpb.Request, benchpb.Reply]) error {
	rsp := &benchpb.Reply{Msg: Msg}
	for {
		if _, err := s.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := s.Send(rsp); err != nil {
			return err
		}
	}
}

type grpcServer struct {
	srv *grpc.Server
	lis net.Listener
}

func serveGRPC(addr string) (Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	benchpb.RegisterBenchServer(srv, grpcBench{})
	go func() { _ = srv.Serve(lis) }()
	return &grpcServer{srv: srv, lis: lis}, nil
}

func (s *grpcServer) Addr() string { return s.lis.Addr().String() }

func (s *grpcServer) Stop(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.srv.Stop()
		<-done
		return ctx.Err()
	}
}

type grpcConn struct {
	cc  *grpc.ClientConn
	c   benchpb.BenchClient
	req *benchpb.Request
}

func dialGRPC(addr string) (Conn, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &grpcConn{cc: cc, c: benchpb.NewBenchClient(cc), req: &benchpb.Request{Name: Name}}, nil
}

func (g *grpcConn) Echo(ctx context.Context) error {
	rsp, err := g.c.Echo(ctx, g.req)
	if err != nil {
		return err
	}
	return check(rsp)
}

func (g *grpcConn) Chat(ctx context.Context) (Chat, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := g.c.Chat(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &grpcChat{s: s, cancel: cancel, req: g.req}, nil
}

func (g *grpcConn) Close() error { return g.cc.Close() }

type grpcChat struct {
	s      grpc.BidiStreamingClient[benchpb.Request, benchpb.Reply]
	cancel context.CancelFunc
	req    *benchpb.Request
}

func (c *grpcChat) Send() error { return c.s.Send(c.req) }
func (c *grpcChat) Recv() error {
	rsp, err := c.s.Recv()
	if err != nil {
		return err
	}
	return check(rsp)
}
func (c *grpcChat) CloseSend() error { return c.s.CloseSend() }
func (c *grpcChat) Close() error     { c.cancel(); return nil }

// Timeout bounds one call of the load generator, so that a stuck system
// fails the run instead of hanging it.
const Timeout = 10 * time.Second
