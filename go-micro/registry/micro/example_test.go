package micro_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// A registry service (as `micro server` runs it) and a client of it.
func Example() {
	ctx := context.Background()

	// The service side: the handler over a memory registry.
	tr, _ := httptransport.NewTransport()
	defer tr.Close()
	srv, _ := server.New(server.Name(micro.ServiceName), server.Address("127.0.0.1:0"),
		server.Transport(tr), server.Registry(memory.New()),
		server.Logger(slog.New(slog.DiscardHandler)))
	h := handler.New(memory.New())
	_ = srv.Handle(srv.NewHandler(h))
	if err := srv.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop(ctx)
	defer handler.Close(h)

	// The client side: what --registry=micro --registry_address=... build.
	r := micro.NewRegistry(registry.Addrs(srv.Options().Address))
	defer r.(interface{ Close() error }).Close()

	w, err := r.Watch(ctx, registry.WatchService("greeter"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()

	greeter := &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{Id: "greeter-1", Address: "127.0.0.1:9001"}},
	}
	if err := r.Register(ctx, greeter); err != nil {
		fmt.Println(err)
		return
	}
	services, err := r.GetService(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(services[0].Name, services[0].Version, services[0].Nodes[0].Address)

	res, err := w.Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Action, res.Service.Nodes[0].Id)

	// Output:
	// greeter 1.0.0 127.0.0.1:9001
	// create greeter-1
}

// With nothing at the address, every call says what to do.
func ExampleNewRegistry_unreachable() {
	r := micro.NewRegistry(registry.Addrs("127.0.0.1:1"))
	defer r.(interface{ Close() error }).Close()

	_, err := r.ListServices(context.Background())
	fmt.Println(err)

	// Output:
	// registry micro: nothing answers at 127.0.0.1:1: start it with "micro server" or choose another registry with --registry
}
