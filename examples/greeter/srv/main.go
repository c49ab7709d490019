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

// run builds the service from args and runs it until SIGINT or SIGTERM.
func run(args []string, opts ...micro.Option) error {
	service, err := greeter.NewService(append([]micro.Option{micro.Args(args)}, opts...)...)
	if errors.Is(err, micro.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return service.Run()
}
