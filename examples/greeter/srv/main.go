// Command srv runs the greeter service: Say.Hello, the server stream
// Say.Stream and a subscriber to greeter.events. It takes go-micro's flags
// (run it with --help).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/openmicro/examples/greeter"
	micro "github.com/openmicro/go-micro"
)

func main() {
	if err := run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(1)
	}
}

// run builds, starts and runs the service until SIGINT or SIGTERM.
func run(args []string, opts ...micro.Option) error {
	service := micro.NewService(append([]micro.Option{
		micro.Name(greeter.Name),
		micro.Version("1.0.0"),
		micro.Args(args),
	}, opts...)...)
	if err := service.Init(); err != nil {
		if errors.Is(err, micro.ErrHelp) {
			return nil
		}
		return err
	}
	srv := service.Server()
	if err := srv.Handle(srv.NewHandler(&greeter.Say{})); err != nil {
		return err
	}
	sub := srv.NewSubscriber(greeter.Topic, greeter.Subscriber(service.Options().Logger))
	if err := srv.Subscribe(sub); err != nil {
		return err
	}
	return service.Run()
}
