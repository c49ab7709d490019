// Command micro runs, observes and operates microservices: `micro server`
// hosts the platform on one machine, and the other commands list, show,
// call and check the services registered there. Run `micro --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/openmicro/micro/internal/cli"

	// The plugins micro can use by name besides go-micro's own:
	// --registry consul, etcd or kubernetes; --broker nats, rabbitmq or
	// mqtt; --transport nats or rabbitmq.
	_ "github.com/openmicro/go-plugins/broker/mqtt"
	_ "github.com/openmicro/go-plugins/broker/nats"
	_ "github.com/openmicro/go-plugins/broker/rabbitmq"
	_ "github.com/openmicro/go-plugins/registry/consul"
	_ "github.com/openmicro/go-plugins/registry/etcd"
	_ "github.com/openmicro/go-plugins/registry/kubernetes"
	_ "github.com/openmicro/go-plugins/transport/nats"
	_ "github.com/openmicro/go-plugins/transport/rabbitmq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal a second one has its default effect, so
		// that a stop that hangs can still be interrupted.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
