package greeter

import (
	"context"
	"fmt"

	pb "github.com/openmicro/examples/greeter/proto"
	micro "github.com/openmicro/go-micro"
)

// Version is the version the greeter registers.
const Version = "1.0.0"

// NewService builds the greeter service, ready to Run: micro.NewService
// with the greeter's [Name] and [Version] and then opts (so opts win, and
// micro.Args gives the command line to parse), its Init (go-micro's flags
// and environment variables: --registry, --server_address, ...), and the
// [Say] handler (through the generated pb.RegisterSayHandler) and the
// [Topic] subscriber (logging with the service's logger) added to its
// server.
//
// Init's errors are returned as they are, [micro.ErrHelp] included (the
// help was printed; the program exits 0). On any error nothing stays
// built and the service is nil.
func NewService(opts ...micro.Option) (micro.Service, error) {
	service := micro.NewService(append([]micro.Option{
		micro.Name(Name),
		micro.Version(Version),
	}, opts...)...)
	if err := service.Init(); err != nil {
		return nil, err
	}
	srv := service.Server()
	err := pb.RegisterSayHandler(srv, &Say{})
	if err == nil {
		err = srv.Subscribe(srv.NewSubscriber(Topic, Subscriber(service.Options().Logger)))
	}
	if err != nil {
		_ = service.Close(context.WithoutCancel(service.Options().Context))
		return nil, fmt.Errorf("greeter: %w", err)
	}
	return service, nil
}
