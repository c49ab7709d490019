// Command api is a service written for the API gateway's "api" handler
// (`micro api --api_handler api`, or `micro server --api_handler api`): it
// handles whole HTTP requests through go-micro RPC and writes whole HTTP
// responses, choosing their status codes and headers.
//
// The gateway resolves /greeter/hello to the service go.micro.api.greeter
// ([Name]) and the endpoint Greeter.Hello, sends the HTTP request as an
// api.Request (github.com/openmicro/go-micro/api) and writes the
// api.Response that [Greeter.Hello] fills in:
//
//	curl -i 'http://127.0.0.1:8080/greeter/hello?name=Ann'
//	HTTP/1.1 200 OK
//	Content-Type: application/json
//	X-Greeter: api example
//
//	{"message":"Hello Ann"}
//
// It takes go-micro's flags (run it with --help); the registry is the one
// micro server hosts unless --registry_address says otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	micro "github.com/openmicro/go-micro"
)

func main() {
	if err := run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "api greeter:", err)
		os.Exit(1)
	}
}

// run builds the service from args and runs it until SIGINT or SIGTERM.
func run(args []string, opts ...micro.Option) error {
	service, err := newService(append([]micro.Option{micro.Args(args)}, opts...)...)
	if errors.Is(err, micro.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return service.Run()
}

// newService builds the service named [Name] with the [Greeter] handler,
// its flags read (opts after the defaults, so they win).
func newService(opts ...micro.Option) (micro.Service, error) {
	service := micro.NewService(append([]micro.Option{micro.Name(Name), micro.Version("1.0.0")}, opts...)...)
	if err := service.Init(); err != nil {
		return nil, err
	}
	srv := service.Server()
	if err := srv.Handle(srv.NewHandler(&Greeter{})); err != nil {
		_ = service.Close(context.WithoutCancel(service.Options().Context))
		return nil, fmt.Errorf("api greeter: %w", err)
	}
	return service, nil
}
