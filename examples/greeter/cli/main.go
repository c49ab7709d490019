// Command cli calls the greeter: Say.Hello, then Say.Stream, printing what
// comes back. It takes go-micro's flags plus its own:
//
//	--name       the name to greet (default "John")
//	--count      greetings to ask Say.Stream for (default 3)
//	--greeter_address  call this address directly instead of asking the registry
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/openmicro/examples/greeter"
	micro "github.com/openmicro/go-micro"
	"github.com/openmicro/go-micro/client"
	"github.com/urfave/cli/v2"
)

func main() {
	if err := run(os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cli:", err)
		os.Exit(1)
	}
}

// run parses args and makes the calls, writing the answers to out.
func run(args []string, out io.Writer, opts ...micro.Option) error {
	var (
		name    string
		count   int
		address string
	)
	service := micro.NewService(append([]micro.Option{
		micro.Name("greeter.cli"),
		micro.Args(args),
		micro.Flags(
			&cli.StringFlag{Name: "name", Value: "John", Usage: "the name to greet", Destination: &name},
			&cli.IntFlag{Name: "count", Value: 3, Usage: "greetings to ask Say.Stream for", Destination: &count},
			&cli.StringFlag{Name: "greeter_address", EnvVars: []string{"GREETER_ADDRESS"},
				Usage: "call the greeter at this host:port instead of asking the registry", Destination: &address},
		),
	}, opts...)...)
	if err := service.Init(); err != nil {
		if errors.Is(err, micro.ErrHelp) {
			return nil
		}
		return err
	}
	defer service.Close(context.Background())
	return call(context.Background(), service.Client(), out, name, count, address)
}

// call makes the two calls through c, at address when it is set.
func call(ctx context.Context, c client.Client, out io.Writer, name string, count int, address string) error {
	var opts []client.CallOption
	if address != "" {
		opts = append(opts, client.WithAddress(address))
	}
	return greeter.Greet(ctx, c, out, name, count, opts...)
}
