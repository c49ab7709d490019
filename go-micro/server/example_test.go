package server_test

import (
	"context"
	"fmt"
	"log/slog"

	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
	trmemory "github.com/openmicro/go-micro/transport/memory"
)

// Say is an example handler.
type Say struct{}

// SayRequest is the request of Say.Hello.
type SayRequest struct {
	Name string `json:"name"`
}

// SayResponse is the response of Say.Hello.
type SayResponse struct {
	Msg string `json:"msg"`
}

// Hello is the endpoint "Say.Hello".
func (Say) Hello(_ context.Context, req *SayRequest, rsp *SayResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// Example starts a server on the memory transport and registry and calls
// it the way the rpc client does: one request message with the protocol's
// headers, one response message back.
func Example() {
	ctx := context.Background()
	tr, _ := trmemory.NewTransport()
	defer tr.Close()
	reg := regmemory.New()

	srv, err := server.New(
		server.Name("greeter"),
		server.Transport(tr),
		server.Registry(reg),
		server.Logger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Handle(srv.NewHandler(Say{})); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop(ctx)

	// The service is registered with its endpoints.
	svc, _ := reg.GetService(ctx, "greeter")
	for _, ep := range svc[0].Endpoints {
		fmt.Println(ep.Name)
	}

	// A call over a raw socket.
	sock, err := tr.Dial(ctx, svc[0].Nodes[0].Address)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sock.Close()
	_ = sock.Send(ctx, &transport.Message{
		Header: map[string]string{
			"Content-Type":   "application/json",
			"Micro-Service":  "greeter",
			"Micro-Endpoint": "Say.Hello",
			"Micro-Id":       "1",
		},
		Body: []byte(`{"name":"John"}`),
	})
	_ = sock.CloseSend()
	var rsp transport.Message
	if err := sock.Recv(ctx, &rsp); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s", rsp.Header["Micro-Id"], rsp.Body)
	// Output:
	// Debug.Health
	// Debug.Stats
	// Say.Hello
	// 1 {"msg":"Hello John"}
}

// ExampleNewHandler shows the error for a method of the wrong shape.
func ExampleNewHandler() {
	h := server.NewHandler(BadSay{})
	fmt.Println(h.Err())
	// Output:
	// server: invalid handler: BadSay.Hello: the second argument must be a pointer, not string
}

// BadSay has an endpoint whose request is not a pointer.
type BadSay struct{}

// Hello takes its request by value, which NewHandler refuses.
func (BadSay) Hello(context.Context, string, *SayResponse) error { return nil }
