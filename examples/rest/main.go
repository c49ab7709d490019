// Command rest is a plain net/http service, with no go-micro server in it,
// that joins the platform through the registry alone: it registers its
// HTTP listener as a node of go.micro.api.rest ([Name]) in the registry
// micro server hosts, and the API gateway's proxy handler (`micro api
// --api_handler proxy`) forwards /rest/... to it, websockets included.
//
// It serves a small in-memory notes resource and a websocket echo
// ([Notes]); [Register] keeps it registered with a TTL and deregisters it
// when it stops (SIGINT or SIGTERM).
//
//	go run ./rest --registry_address 127.0.0.1:8000
//	curl -s -H 'Content-Type: application/json' -d '{"text":"buy milk"}' http://127.0.0.1:8080/rest/notes
//
// Flags:
//
//	--server_address     where the HTTP server listens (default 127.0.0.1:0, a free port)
//	--server_advertise   the address to register instead of the listener's
//	--registry_address   the registry service (default $MICRO_REGISTRY_ADDRESS, else 127.0.0.1:8000)
//	--register_ttl       TTL of the registration (default 90s)
//	--register_interval  how often it is renewed (default 30s)
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openmicro/go-micro/registry"
	microregistry "github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/server"
)

// Name is the service the HTTP server registers as: the gateway's
// namespace (go.micro.api) and "rest", the first element of the paths the
// proxy handler sends to it.
const Name = "go.micro.api.rest"

// Prefix is the path the service serves under: the proxy handler passes
// the path on as received, /rest/notes included.
const Prefix = "/rest"

// Version is the version registered.
const Version = "1.0.0"

// gracePeriod bounds the stop: deregistering, and the requests in flight.
const gracePeriod = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "rest:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	address, advertise, registryAddress string
	ttl, interval                       time.Duration
}

// parseFlags reads args; usage and errors go to stderr.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("rest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.address, "server_address", "127.0.0.1:0", "where the HTTP server listens, host:port (port 0 picks a free one)")
	fs.StringVar(&c.advertise, "server_advertise", "", "the address to register instead of the listener's, host:port")
	fs.StringVar(&c.registryAddress, "registry_address", os.Getenv("MICRO_REGISTRY_ADDRESS"),
		"the registry service micro server hosts, host:port (default "+microregistry.DefaultAddress+")")
	fs.DurationVar(&c.ttl, "register_ttl", server.DefaultRegisterTTL, "TTL of the registration")
	fs.DurationVar(&c.interval, "register_interval", server.DefaultRegisterInterval, "how often the registration is renewed")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.advertise != "" {
		if _, _, err := net.SplitHostPort(c.advertise); err != nil {
			return c, fmt.Errorf("--server_advertise %q: want host:port: %w", c.advertise, err)
		}
	}
	return c, nil
}

// run serves and stays registered until ctx ends, then deregisters and
// stops gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ln, err := net.Listen("tcp", c.address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.address, err)
	}
	notes := NewNotes(log)
	srv := &http.Server{
		Handler:           notes,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("rest: listening", "address", ln.Addr().String())
	stopHTTP := func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		notes.Close()
		if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
			err = serveErr
		}
		return err
	}

	var ropts []registry.Option
	if c.registryAddress != "" {
		ropts = append(ropts, registry.Addrs(c.registryAddress))
	}
	reg := microregistry.NewRegistry(append(ropts, microregistry.Logger(log))...)
	defer func() { _ = reg.(io.Closer).Close() }()
	svc := &registry.Service{
		Name:    Name,
		Version: Version,
		Nodes: []*registry.Node{{
			Id:       Name + "-" + rand.Text(),
			Address:  advertised(ln.Addr(), c.advertise),
			Metadata: map[string]string{"server": "http"},
		}},
	}
	r, err := Register(ctx, reg, svc, c.ttl, c.interval, log)
	if err != nil {
		_ = stopHTTP(context.Background())
		return err
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		served <- err // for stopHTTP
		log.Error("rest: serving stopped", "error", err)
	}
	log.Info("rest: stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), gracePeriod)
	defer cancel()
	// Deregister first, so that the gateway sends nothing new, then let the
	// requests in flight finish.
	errReg := r.Stop(stopCtx)
	errHTTP := stopHTTP(stopCtx)
	if err := errors.Join(errReg, errHTTP); err != nil {
		return err
	}
	log.Info("rest: stopped")
	return nil
}

// advertised is the address to register: the one given, else the
// listener's, with a loopback host when it listens on every interface.
func advertised(addr net.Addr, advertise string) string {
	if advertise != "" {
		return advertise
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(ta.Port))
	}
	return ta.String()
}
