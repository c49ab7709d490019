package greeter_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/openmicro/examples/greeter"
	micro "github.com/openmicro/go-micro"
)

// The greeter service, run until its context ends, called through its
// own client, which finds it in the in-process memory registry.
func ExampleNewService() {
	ctx, stop := context.WithCancel(context.Background())
	started := make(chan struct{})
	service, err := greeter.NewService(
		micro.Args([]string{"greeter", "--registry=memory", "--server_address=127.0.0.1:0"}),
		micro.Context(ctx),
		micro.Logger(slog.New(slog.DiscardHandler)),
		micro.AfterStart(func() error { close(started); return nil }),
	)
	if err != nil {
		fmt.Println(err)
		stop()
		return
	}
	ran := make(chan error, 1)
	go func() { ran <- service.Run() }()
	select {
	case <-started:
	case err := <-ran:
		fmt.Println("the service did not start:", err)
		stop()
		return
	}

	if err := greeter.Greet(ctx, service.Client(), os.Stdout, "Ann", 2); err != nil {
		fmt.Println(err)
	}
	stop()
	if err := <-ran; err != nil {
		fmt.Println(err)
	}
	// Output:
	// Hello Ann
	// Hello Ann (1 of 2)
	// Hello Ann (2 of 2)
}
