package handler_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// Serve a memory registry as the registry service, and call it as any
// go-micro service is called.
func Example() {
	ctx := context.Background()
	tr, _ := httptransport.NewTransport()
	defer tr.Close()
	srv, _ := server.New(server.Name(micro.ServiceName), server.Address("127.0.0.1:0"),
		server.Transport(tr), server.Registry(memory.New()),
		server.Logger(slog.New(slog.DiscardHandler)))
	h := handler.New(memory.New())
	if err := srv.Handle(srv.NewHandler(h)); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop(ctx)
	defer handler.Close(h) // before Stop: ends the watch streams

	c, _ := client.New(client.Transport(tr))
	call := func(endpoint string, req, rsp any) error {
		return c.Call(ctx, c.NewRequest(micro.ServiceName, endpoint, req), rsp,
			client.WithAddress(srv.Options().Address))
	}

	err := call("Registry.Register", &micro.RegisterRequest{Service: &registry.Service{
		Name:  "greeter",
		Nodes: []*registry.Node{{Id: "greeter-1", Address: "127.0.0.1:9001"}},
	}}, new(micro.RegisterResponse))
	fmt.Println("register:", err)

	rsp := new(micro.GetServiceResponse)
	err = call("Registry.GetService", &micro.GetServiceRequest{Service: "greeter"}, rsp)
	fmt.Println("get:", rsp.Services[0].Nodes[0].Address, err)

	err = call("Registry.GetService", &micro.GetServiceRequest{Service: "nobody"}, rsp)
	fmt.Println("get unknown:", err)

	err = call("Registry.Register", &micro.RegisterRequest{}, new(micro.RegisterResponse))
	fmt.Println("bad register:", err)

	// Output:
	// register: <nil>
	// get: 127.0.0.1:9001 <nil>
	// get unknown: {"id":"go.micro.registry","code":404,"detail":"service \"nobody\" not found","status":"Not Found"}
	// bad register: {"id":"go.micro.registry","code":400,"detail":"register: no service: send {\"service\": {\"name\": ..., \"nodes\": [{\"id\": ..., \"address\": ...}]}}","status":"Bad Request"}
}
