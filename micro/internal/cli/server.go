package cli

import (
	"context"
	stderrors "errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/micro/internal/server"
)

// microRegistryName is the name the registry client of `micro server` is
// registered under.
const microRegistryName = "micro"

// serverCommand is `micro server`.
func serverCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "server",
		Usage: "run the platform on this machine: the registry service, the broker, the API gateway and the sidecar, until Ctrl-C",
		Description: "Hosts the registry service go.micro.registry on --address (127.0.0.1:8000), the\n" +
			"   address every service's default registry (\"micro\") dials, connects the broker, and\n" +
			"   serves the API gateway on --api_address (:8080) and the sidecar on --sidecar_address\n" +
			"   (127.0.0.1:8081), as micro api and micro sidecar do; an empty address leaves one out.\n" +
			"   The registry service stores into the registry the global --registry names: memory\n" +
			"   by default (registrations expire after their TTL), or etcd or consul at\n" +
			"   --registry_address:\n\n" +
			"   micro server\n" +
			"   micro --registry etcd --registry_address 127.0.0.1:2379 server\n\n" +
			"   SIGINT or SIGTERM stops it gracefully: it deregisters, ends the watches and lets the\n" +
			"   calls in progress finish.",
		ArgsUsage: " ",
		Flags: append(append([]ucli.Flag{
			&ucli.StringFlag{
				Name:  "address",
				Usage: "address the registry service listens on, host:port (port 0 picks a free one)",
				Value: server.DefaultAddress,
			},
		}, apiFlags()...), sidecarFlags()...),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usage(c, "unexpected argument %q", c.Args().First())
			}
			if _, _, err := net.SplitHostPort(c.String("address")); err != nil {
				return usage(c, "--address %q: want host:port, such as 127.0.0.1:8000 (%v)", c.String("address"), err)
			}
			e := newEnv(c, o, slog.LevelInfo)
			defer e.close()
			return runServer(e, c.String("address"))
		},
	}
}

func runServer(e *env, addr string) error {
	// The registry service stores into the registry --registry names; the
	// "micro" registry would be itself, so that, and no flag, mean memory.
	backend := strings.TrimSpace(e.c.String(cmd.FlagRegistry))
	if e.have.Registry == nil && (backend == "" || backend == microRegistryName) {
		if err := e.c.Set(cmd.FlagRegistry, "memory"); err != nil {
			return failure("choosing the memory registry: %v", err)
		}
	}
	comps, err := e.components()
	if err != nil {
		return err
	}
	var extra []server.Part
	if e.c.String(flagAPIAddress) != "" {
		a, err := e.newAPI(false)
		if err != nil {
			return err
		}
		extra = append(extra, httpPart("api", "API gateway", a))
	}
	if e.c.String(flagSidecarAddress) != "" {
		sc, err := e.newSidecar(false)
		if err != nil {
			return err
		}
		extra = append(extra, httpPart("sidecar", "sidecar", sc))
	}
	srv, err := server.New(server.Components{
		Registry:      comps.Registry,
		Transport:     comps.Transport,
		Broker:        comps.Broker,
		ServerOptions: comps.ServerOptions,
	}, server.Address(addr), server.Version(Version), server.Logger(e.log), server.Parts(extra...))
	if err != nil {
		return failure("%v", err)
	}
	parts, err := srv.Start(e.ctx())
	if err != nil {
		if isCanceled(e.ctx(), err) {
			return interrupted()
		}
		if stderrors.Is(err, syscall.EADDRINUSE) {
			return failure("%v; is another micro server, or another program, listening there? Stop it, or choose another address with --address", err)
		}
		return failure("%v", err)
	}
	fmt.Fprintf(e.stdout, "micro server %s\n", Version)
	t := newTable(e.stdout, "PART", "SERVES")
	for _, p := range parts {
		t.row(p.Name, p.Serves)
	}
	_ = t.flush()
	fmt.Fprintf(e.stdout, "ready: services and the micro CLI reach it with --registry micro --registry_address %s; stop with Ctrl-C\n", srv.RegistryAddress())

	<-e.ctx().Done()
	fmt.Fprintln(e.stdout, "stopping")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx()), server.DefaultGracePeriod)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		return failure("%v", err)
	}
	fmt.Fprintln(e.stdout, "stopped")
	return nil
}

// httpPart is the API gateway or the sidecar as a part of micro server.
func httpPart(name, what string, srv httpServer) server.Part {
	return server.Part{
		Name: name,
		Start: func(ctx context.Context) (string, error) {
			if err := srv.Start(ctx); err != nil {
				return "", err
			}
			return what + " at http://" + srv.Addr(), nil
		},
		Stop: srv.Stop,
	}
}
