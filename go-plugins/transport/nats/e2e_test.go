package nats

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Msg string `json:"msg"`
}

// Say is the greeter the go-micro tests serve: Say.Hello and Say.Stream.
type Say struct{}

func (Say) Hello(_ context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// Stream echoes every message until the client half-closes.
func (Say) Stream(_ context.Context, stream server.Stream) error {
	for {
		var req HelloRequest
		if err := stream.Recv(&req); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.Send(&HelloResponse{Msg: req.Name}); err != nil {
			return err
		}
	}
}

// startGreeter starts a go-micro server named greeter over tr.
func startGreeter(t testing.TB, reg registry.Registry, tr transport.Transport) server.Server {
	t.Helper()
	srv, err := server.New(server.Name("greeter"), server.Registry(reg), server.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(Say{})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("server Stop: %v", err)
		}
	})
	return srv
}

func newClient(t testing.TB, reg registry.Registry, tr transport.Transport) client.Client {
	t.Helper()
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })
	c, err := client.New(client.Selector(sel), client.Transport(tr), client.RequestTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hello(ctx context.Context, c client.Client, name string) (string, error) {
	var rsp HelloResponse
	err := c.Call(ctx, c.NewRequest("greeter", "Say.Hello", &HelloRequest{Name: name}), &rsp)
	return rsp.Msg, err
}

// echoStream sends n messages on a Say.Stream while it reads the n echoes.
func echoStream(ctx context.Context, c client.Client, n int) error {
	stream, err := c.Stream(ctx, c.NewRequest("greeter", "Say.Stream", nil))
	if err != nil {
		return err
	}
	defer func() { _ = stream.Close() }()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := stream.Send(&HelloRequest{Name: fmt.Sprint(i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- stream.CloseSend()
	}()
	for i := range n {
		var rsp HelloResponse
		if err := stream.Recv(&rsp); err != nil {
			return fmt.Errorf("recv %d: %w", i, err)
		}
		if rsp.Msg != fmt.Sprint(i) {
			return fmt.Errorf("message %d: got %q", i, rsp.Msg)
		}
	}
	if err := stream.Recv(&HelloResponse{}); err != io.EOF {
		return fmt.Errorf("after %d messages: Recv = %v, want io.EOF", n, err)
	}
	return <-sent
}

// TestGoMicro runs a go-micro server and client over the nats transport,
// each with its own connection, against the shared NATS server: unary
// calls, concurrent calls and a bidirectional stream. The server listens
// on its default address, 127.0.0.1:0, and registers a subject instead.
func TestGoMicro(t *testing.T) {
	addr := outsideAddr(t)
	reg := memory.New()
	srv := startGreeter(t, reg, newTestTransport(t, addr))
	c := newClient(t, reg, newTestTransport(t, addr))

	svcs, err := reg.GetService(t.Context(), "greeter")
	if err != nil || len(svcs) != 1 || len(svcs[0].Nodes) != 1 {
		t.Fatalf("registry: %v %v", svcs, err)
	}
	node := svcs[0].Nodes[0]
	if !strings.HasPrefix(node.Address, DefaultSubjectPrefix+".") || node.Metadata["transport"] != "nats" {
		t.Errorf("registered node %s with metadata %v, want a subject under %s and transport nats", node.Address, node.Metadata, DefaultSubjectPrefix)
	}
	if got := srv.Options().Address; got != node.Address {
		t.Errorf("server address %q, registered %q", got, node.Address)
	}

	t.Run("unary", func(t *testing.T) {
		msg, err := hello(t.Context(), c, "John")
		if err != nil || msg != "Hello John" {
			t.Fatalf("Say.Hello = %q, %v", msg, err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		errc := make(chan error, 100)
		for i := range cap(errc) {
			go func() {
				msg, err := hello(t.Context(), c, fmt.Sprint(i))
				if err == nil && msg != "Hello "+fmt.Sprint(i) {
					err = fmt.Errorf("call %d: got %q", i, msg)
				}
				errc <- err
			}()
		}
		for range cap(errc) {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("stream", func(t *testing.T) {
		if err := echoStream(t.Context(), c, 2000); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		var rsp HelloResponse
		err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Nope", &HelloRequest{}), &rsp)
		if err == nil {
			t.Fatal("a call to an unknown endpoint succeeded")
		}
	})
}

// TestOpenByName: a blank import makes --transport=nats work.
func TestOpenByName(t *testing.T) {
	addr := outsideAddr(t)
	tr, err := transport.Open("nats", transport.Addrs(addr), Logger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Close() }()
	if tr.String() != "nats" {
		t.Errorf("String() = %q", tr.String())
	}
	if _, err := transport.Open("nats", transport.Addrs("127.0.0.1:1"), transport.Timeout(time.Second)); err == nil {
		t.Error("a transport to a port where nothing listens was built")
	} else if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q does not name the address", err)
	}
}
