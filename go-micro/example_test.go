package micro_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	micro "github.com/openmicro/go-micro"
	brokermem "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/registry"
	regmem "github.com/openmicro/go-micro/registry/memory"
	trmem "github.com/openmicro/go-micro/transport/memory"
)

type HelloRequest struct{ Name string }
type HelloResponse struct{ Greeting string }

type Greeter struct{}

func (g *Greeter) Hello(_ context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Greeting = "Hello, " + req.Name
	return nil
}

// A service on in-memory components: it starts, registers, answers a call
// made by its own client, and stops when its Context is cancelled.
func ExampleNewService() {
	reg := regmem.New()
	tr, _ := trmem.NewTransport()
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var service micro.Service
	service = micro.NewService(
		micro.Name("greeter"),
		micro.Registry(reg),
		micro.Transport(tr),
		micro.Broker(brokermem.New()),
		micro.Args([]string{"greeter", "--server_version=1.0.0"}), // default: os.Args
		micro.Context(ctx),
		micro.Logger(slog.New(slog.DiscardHandler)),
		micro.AfterStart(func() error {
			services, err := reg.GetService(ctx, "greeter")
			if err != nil {
				return err
			}
			fmt.Println("registered:", services[0].Name, services[0].Version)

			cl := service.Client()
			var rsp HelloResponse
			req := cl.NewRequest("greeter", "Greeter.Hello", &HelloRequest{Name: "John"})
			if err := cl.Call(ctx, req, &rsp); err != nil {
				return err
			}
			fmt.Println(rsp.Greeting)
			cancel() // stop, as SIGTERM would
			return nil
		}),
	)
	if err := service.Init(); err != nil {
		if errors.Is(err, micro.ErrHelp) {
			return // --help was printed
		}
		fmt.Println(err)
		return
	}
	srv := service.Server()
	if err := srv.Handle(srv.NewHandler(new(Greeter))); err != nil {
		fmt.Println(err)
		return
	}
	if err := service.Run(); err != nil {
		fmt.Println(err)
	}
	_, err := reg.GetService(context.Background(), "greeter")
	fmt.Println("still registered:", !errors.Is(err, registry.ErrNotFound))
	// Output:
	// registered: greeter 1.0.0
	// Hello, John
	// still registered: false
}
