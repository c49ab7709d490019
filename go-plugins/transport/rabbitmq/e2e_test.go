package rabbitmq_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"

	"github.com/openmicro/go-plugins/transport/rabbitmq"
)

type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Msg string `json:"msg"`
}

// Greeter is the service the tests run over RabbitMQ.
type Greeter struct{}

func (Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// Stream echoes every message until the client half-closes.
func (Greeter) Stream(ctx context.Context, stream server.Stream) error {
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

func brokerAddrs(t *testing.T) transport.Option {
	return transport.Addrs("amqp://guest:guest@" + testenv.Addr(t, "rabbitmq", "127.0.0.1:5672") + "/")
}

func newRabbit(t *testing.T, name string) transport.Transport {
	t.Helper()
	tr, err := rabbitmq.NewTransport(brokerAddrs(t), rabbitmq.ConnectionName("micro-transport-test-"+name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// startGreeter runs the greeter on its own RabbitMQ transport with the
// server's default address, and returns a client on another transport.
func startGreeter(t *testing.T) client.Client {
	t.Helper()
	return startGreeterOn(t, newRabbit(t, "server"))
}

func startGreeterOn(t *testing.T, tr transport.Transport) client.Client {
	t.Helper()
	reg := memory.New()
	srv, err := server.New(
		server.Name("greeter"),
		server.Registry(reg),
		server.Transport(tr),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(Greeter{})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	svcs, err := reg.GetService(t.Context(), "greeter")
	if err != nil || len(svcs) != 1 || len(svcs[0].Nodes) != 1 {
		t.Fatalf("registry: %v %v", svcs, err)
	}
	node := svcs[0].Nodes[0]
	if node.Address != srv.Options().Address || node.Metadata["transport"] != "rabbitmq" {
		t.Fatalf("registered node %+v, server address %q", node, srv.Options().Address)
	}
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })
	c, err := client.New(client.Selector(sel), client.Transport(newRabbit(t, "client")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMicroCall(t *testing.T) {
	c := startGreeter(t)
	for i := range 20 {
		var rsp HelloResponse
		name := fmt.Sprint("John ", i)
		if err := c.Call(t.Context(), c.NewRequest("greeter", "Greeter.Hello", &HelloRequest{Name: name}), &rsp); err != nil {
			t.Fatal(err)
		}
		if rsp.Msg != "Hello "+name {
			t.Fatalf("rsp %q", rsp.Msg)
		}
	}
}

func TestMicroStream(t *testing.T) {
	c := startGreeter(t)
	const n = 1000
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := c.Stream(ctx, c.NewRequest("greeter", "Greeter.Stream", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
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
			t.Fatalf("recv %d: %v", i, err)
		}
		if rsp.Msg != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, rsp.Msg)
		}
	}
	if err := testenv.Recv(t, "the sender", sent); err != nil {
		t.Fatal(err)
	}
	var rsp HelloResponse
	if err := stream.Recv(&rsp); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

// TestMicroDeadNode: a call to a node whose process died (the registry
// still lists it) fails as unavailable, not as a timeout.
func TestMicroDeadNode(t *testing.T) {
	tr, kill := rabbitmq.KillableTransport(t, "dead-node")
	c := startGreeterOn(t, tr)
	var rsp HelloResponse
	req := c.NewRequest("greeter", "Greeter.Hello", &HelloRequest{Name: "John"})
	if err := c.Call(t.Context(), req, &rsp); err != nil {
		t.Fatal(err)
	}
	kill()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := c.Call(ctx, req, &rsp, client.WithRequestTimeout(time.Minute))
	if e := merrors.FromError(err); e == nil || e.Code != 503 {
		t.Fatalf("call to a dead node = %v, want a 503", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the call to a dead node waited for its deadline: %v", err)
	}
}

// TestByName: the blank import registers the transport, so
// --transport=rabbitmq works.
func TestByName(t *testing.T) {
	found := false
	for _, n := range transport.Names() {
		found = found || n == "rabbitmq"
	}
	if !found {
		t.Fatalf("transport names %v lack rabbitmq", transport.Names())
	}
	var got string
	app := &cli.App{
		Name:  "svc",
		Flags: cmd.Flags(),
		Action: func(c *cli.Context) error {
			comps, err := cmd.Build(c, cmd.Components{Registry: registry.Registry(memory.New())})
			if err != nil {
				return err
			}
			defer comps.Close(context.Background())
			got = comps.Transport.String()
			return nil
		},
	}
	if err := app.Run([]string{"svc", "--transport=rabbitmq", "--transport_address=amqp://guest:guest@127.0.0.1:5672/"}); err != nil {
		t.Fatal(err)
	}
	if got != "rabbitmq" {
		t.Fatalf("--transport=rabbitmq built %q", got)
	}
}
