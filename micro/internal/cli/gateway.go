package cli

import (
	"context"
	"crypto/tls"
	stderrors "errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/micro/internal/api"
	"github.com/openmicro/micro/internal/sidecar"
)

// Flags of `micro api` and `micro sidecar`, shared with `micro server`,
// which runs both.
const (
	flagAPIAddress      = "api_address"
	flagAPIHandler      = "api_handler"
	flagAPINamespace    = "api_namespace"
	flagAPICORS         = "api_cors"
	flagAPIMaxBody      = "api_max_body"
	flagAPITimeout      = "api_timeout"
	flagSidecarAddress  = "sidecar_address"
	flagSidecarCORS     = "sidecar_cors"
	flagHealthcheckURL  = "healthcheck_url"
	flagHealthcheckEach = "healthcheck_interval"
	flagHealthcheckBad  = "healthcheck_threshold"
	flagAppName         = "server_name"
	flagAppAddress      = "server_address"
	flagGatewayTLS      = "enable_tls"
	flagGatewayCert     = "tls_cert_file"
	flagGatewayKey      = "tls_key_file"
)

// Defaults of the gateway flags.
const (
	defaultAPIAddress     = api.DefaultAddress
	defaultSidecarAddress = sidecar.DefaultAddress
	defaultAPIHandler     = api.DefaultHandler
	defaultAPINamespace   = api.DefaultNamespace
	defaultAPIMaxBody     = api.DefaultMaxBodySize
	defaultAPITimeout     = api.DefaultRequestTimeout
	defaultHealthInterval = sidecar.DefaultHealthCheckInterval
)

// apiFlags are the flags that configure the API gateway; address is the
// name of the flag giving its address, with alias as another name for it.
func apiFlags(alias ...string) []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{
			Name:    flagAPIAddress,
			Aliases: alias,
			Usage:   "address the API gateway listens on, host:port (port 0 picks a free one)",
			Value:   defaultAPIAddress,
			EnvVars: []string{envName(flagAPIAddress)},
		},
		&ucli.StringFlag{
			Name:    flagAPIHandler,
			Usage:   "what serves the paths other than /rpc and /event/: " + strings.Join(api.Handlers, ", ") + "; rpc calls /[service]/[method] with the JSON body, api sends the whole request as an api.Request, proxy reverse-proxies to the service's HTTP server, event publishes POST /[topic]",
			Value:   defaultAPIHandler,
			EnvVars: []string{envName(flagAPIHandler)},
		},
		&ucli.StringFlag{
			Name:    flagAPINamespace,
			Usage:   "namespace of the services the paths resolve to: /foo/bar calls NAMESPACE.foo, Foo.Bar",
			Value:   defaultAPINamespace,
			EnvVars: []string{envName(flagAPINamespace)},
		},
		&ucli.StringSliceFlag{
			Name:    flagAPICORS,
			Usage:   "origins browsers may call the gateway from, such as https://app.example.com (repeat the flag, or separate by commas; * allows any); none by default",
			EnvVars: []string{envName(flagAPICORS)},
		},
		&ucli.Int64Flag{
			Name:    flagAPIMaxBody,
			Usage:   "largest request body in bytes; a larger one is refused with 413",
			Value:   defaultAPIMaxBody,
			EnvVars: []string{envName(flagAPIMaxBody)},
		},
		&ucli.DurationFlag{
			Name:    flagAPITimeout,
			Usage:   "bound on a request to a service; past it the gateway answers 504",
			Value:   defaultAPITimeout,
			EnvVars: []string{envName(flagAPITimeout)},
		},
	}
}

// tlsFlags serve the API gateway over TLS.
func tlsFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{
			Name:    flagGatewayTLS,
			Usage:   "serve HTTPS; needs --" + flagGatewayCert + " and --" + flagGatewayKey,
			EnvVars: []string{envName("api_" + flagGatewayTLS)},
		},
		&ucli.StringFlag{
			Name:      flagGatewayCert,
			Usage:     "PEM file with the certificate (and its chain) to serve",
			TakesFile: true,
			EnvVars:   []string{envName("api_" + flagGatewayCert)},
		},
		&ucli.StringFlag{
			Name:      flagGatewayKey,
			Usage:     "PEM file with the certificate's private key",
			TakesFile: true,
			EnvVars:   []string{envName("api_" + flagGatewayKey)},
		},
	}
}

// sidecarFlags are the flags that configure the sidecar.
func sidecarFlags(alias ...string) []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{
			Name:    flagSidecarAddress,
			Aliases: alias,
			Usage:   "address the sidecar listens on, host:port (port 0 picks a free one)",
			Value:   defaultSidecarAddress,
			EnvVars: []string{envName(flagSidecarAddress)},
		},
		&ucli.StringSliceFlag{
			Name:    flagSidecarCORS,
			Usage:   "origins browsers may call the sidecar from (repeat the flag, or separate by commas; * allows any); none by default",
			EnvVars: []string{envName(flagSidecarCORS)},
		},
	}
}

// appFlags register the app the sidecar sits beside.
func appFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{
			Name:  flagAppName,
			Usage: "register the app beside the sidecar under this name (with --" + flagAppAddress + ") and keep it registered",
		},
		&ucli.StringFlag{
			Name:  flagAppAddress,
			Usage: "where the app serves, host:port, as registered",
		},
		&ucli.StringFlag{
			Name:  flagHealthcheckURL,
			Usage: "poll the app at this URL and keep it registered only while it answers 2xx, such as http://127.0.0.1:9090/health",
		},
		&ucli.DurationFlag{
			Name:  flagHealthcheckEach,
			Usage: "how often --" + flagHealthcheckURL + " is polled",
			Value: defaultHealthInterval,
		},
		&ucli.IntFlag{
			Name:  flagHealthcheckBad,
			Usage: "how many failed checks in a row deregister the app",
			Value: sidecar.DefaultHealthThreshold,
		},
	}
}

// envName is the MICRO_ variable of a flag of micro's own.
func envName(flag string) string { return "MICRO_" + strings.ToUpper(flag) }

// apiCommand is `micro api`.
func apiCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "api",
		Usage: "run the API gateway: HTTP into the services, until Ctrl-C",
		Description: "Serves HTTP on --address (:8080) and calls the services registered in the registry\n" +
			"   the global flags name (micro server's, by default):\n\n" +
			"   POST /rpc              {\"service\": ..., \"endpoint\": ..., \"request\": {...}}\n" +
			"   /foo/bar               go.micro.api.foo, Foo.Bar, the JSON body as request\n" +
			"   /v1/foo/bar            go.micro.api.v1.foo, Foo.Bar\n" +
			"   POST /event/TOPIC      publishes the body on the broker\n\n" +
			"   --api_handler api, proxy or event changes what serves the paths other than /rpc.\n" +
			"   Errors are JSON with the HTTP status of the service's error code; see docs/api.md.",
		ArgsUsage: " ",
		Flags:     append(apiFlags("address"), tlsFlags()...),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usage(c, "unexpected argument %q", c.Args().First())
			}
			e := newEnv(c, o, slog.LevelInfo)
			defer e.close()
			srv, err := e.newAPI(true)
			if err != nil {
				return err
			}
			if err := e.connectBroker(); err != nil {
				return err
			}
			return e.runHTTP("api", srv)
		},
	}
}

// sidecarCommand is `micro sidecar`.
func sidecarCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "sidecar",
		Usage: "run the sidecar: the HTTP face of go-micro for apps in any language, until Ctrl-C",
		Description: "Serves HTTP on --address (:8081) for the app beside it:\n\n" +
			"   GET /registry?service=NAME    the service's nodes; POST and DELETE register and deregister\n" +
			"   POST /rpc, /[service]/[method] calls, as micro api\n" +
			"   /broker?topic=T[&queue=G]     websocket: frames sent are published, events received are sent\n\n" +
			"   With --server_name and --server_address it registers the app and keeps it registered;\n" +
			"   with --healthcheck_url, only while the app answers it. See docs/sidecar.md.",
		ArgsUsage: " ",
		Flags:     append(append(sidecarFlags("address"), appFlags()...), apiNamespaceFlag()),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usage(c, "unexpected argument %q", c.Args().First())
			}
			e := newEnv(c, o, slog.LevelInfo)
			defer e.close()
			srv, err := e.newSidecar(true)
			if err != nil {
				return err
			}
			if err := e.connectBroker(); err != nil {
				return err
			}
			return e.runHTTP("sidecar", srv)
		},
	}
}

// apiNamespaceFlag is --api_namespace alone, for the sidecar's
// /[service]/[method].
func apiNamespaceFlag() ucli.Flag {
	for _, f := range apiFlags() {
		if sf, ok := f.(*ucli.StringFlag); ok && sf.Name == flagAPINamespace {
			return sf
		}
	}
	panic("cli: no --" + flagAPINamespace)
}

// httpServer is what runHTTP runs: the API gateway or the sidecar.
type httpServer interface {
	Start(ctx context.Context) error
	Addr() string
	Stop(ctx context.Context) error
}

// checkAddress makes a bad host:port a usage error.
func checkAddress(c *ucli.Context, flag string) error {
	if _, _, err := net.SplitHostPort(c.String(flag)); err != nil {
		return usage(c, "--%s %q: want host:port, such as 127.0.0.1:8080 (%v)", flag, c.String(flag), err)
	}
	return nil
}

// newAPI builds the API gateway the flags describe; tlsFlags tells whether
// the command has the TLS flags.
func (e *env) newAPI(withTLS bool) (*api.Server, error) {
	c := e.c
	if err := checkAddress(c, flagAPIAddress); err != nil {
		return nil, err
	}
	if c.Int64(flagAPIMaxBody) <= 0 {
		return nil, usage(c, "--%s %d: want a positive number of bytes", flagAPIMaxBody, c.Int64(flagAPIMaxBody))
	}
	if c.Duration(flagAPITimeout) <= 0 {
		return nil, usage(c, "--%s %v: want a positive duration, such as 30s", flagAPITimeout, c.Duration(flagAPITimeout))
	}
	origins, err := corsOrigins(c, flagAPICORS)
	if err != nil {
		return nil, err
	}
	opts := []api.Option{
		api.Address(c.String(flagAPIAddress)),
		api.Handler(c.String(flagAPIHandler)),
		api.Namespace(c.String(flagAPINamespace)),
		api.MaxBodySize(c.Int64(flagAPIMaxBody)),
		api.RequestTimeout(c.Duration(flagAPITimeout)),
		api.CORSOrigins(origins...),
		api.Logger(e.log),
	}
	if withTLS {
		cfg, err := gatewayTLS(c)
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			opts = append(opts, api.TLS(cfg))
		}
	}
	parts, err := e.gatewayParts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, api.Client(parts.client), api.Registry(parts.comps.Registry), api.Broker(parts.comps.Broker))
	srv, err := api.New(opts...)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return srv, nil
}

// newSidecar builds the sidecar the flags describe; withApp tells whether
// the command has the flags of the app to register.
func (e *env) newSidecar(withApp bool) (*sidecar.Server, error) {
	c := e.c
	if err := checkAddress(c, flagSidecarAddress); err != nil {
		return nil, err
	}
	origins, err := corsOrigins(c, flagSidecarCORS)
	if err != nil {
		return nil, err
	}
	opts := []sidecar.Option{
		sidecar.Address(c.String(flagSidecarAddress)),
		sidecar.Namespace(c.String(flagAPINamespace)),
		sidecar.CORSOrigins(origins...),
		sidecar.Logger(e.log),
	}
	if withApp {
		name, addr := strings.TrimSpace(c.String(flagAppName)), strings.TrimSpace(c.String(flagAppAddress))
		switch {
		case name != "" && addr == "":
			return nil, usage(c, "--%s needs --%s: where the app serves, host:port", flagAppName, flagAppAddress)
		case name == "" && addr != "":
			return nil, usage(c, "--%s needs --%s: the name to register the app under", flagAppAddress, flagAppName)
		case name != "":
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, usage(c, "--%s %q: want host:port (%v)", flagAppAddress, addr, err)
			}
			opts = append(opts, sidecar.App(name, addr))
		}
		if hc := strings.TrimSpace(c.String(flagHealthcheckURL)); hc != "" {
			if name == "" {
				return nil, usage(c, "--%s needs --%s and --%s: the app to check", flagHealthcheckURL, flagAppName, flagAppAddress)
			}
			u, err := url.Parse(hc)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, usage(c, "--%s %q: want an http:// or https:// URL", flagHealthcheckURL, hc)
			}
			if c.Duration(flagHealthcheckEach) <= 0 {
				return nil, usage(c, "--%s %v: want a positive duration, such as 10s", flagHealthcheckEach, c.Duration(flagHealthcheckEach))
			}
			if c.Int(flagHealthcheckBad) <= 0 {
				return nil, usage(c, "--%s %d: want 1 or more", flagHealthcheckBad, c.Int(flagHealthcheckBad))
			}
			opts = append(opts, sidecar.HealthCheck(hc, c.Duration(flagHealthcheckEach)),
				sidecar.HealthThreshold(c.Int(flagHealthcheckBad)))
		}
	}
	parts, err := e.gatewayParts()
	if err != nil {
		return nil, err
	}
	if withApp {
		// The app is kept registered as a go-micro server would be:
		// the global --register_ttl and --register_interval, which
		// cmd.Build has checked, apply.
		for flag, opt := range map[string]func(time.Duration) sidecar.Option{
			cmd.FlagRegisterTTL:      sidecar.RegisterTTL,
			cmd.FlagRegisterInterval: sidecar.RegisterInterval,
		} {
			if v := strings.TrimSpace(c.String(flag)); v != "" {
				d, err := cmd.ParseDuration(v)
				if err != nil {
					return nil, usage(c, "--%s %q: %v", flag, v, err)
				}
				opts = append(opts, opt(d))
			}
		}
	}
	opts = append(opts, sidecar.Client(parts.client), sidecar.Registry(parts.comps.Registry), sidecar.Broker(parts.comps.Broker))
	srv, err := sidecar.New(opts...)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return srv, nil
}

// gatewayDeps is what the API gateway and the sidecar call through.
type gatewayDeps struct {
	comps  *cmd.Components
	client client.Client
}

// gatewayParts builds the components and the client.
func (e *env) gatewayParts() (gatewayDeps, error) {
	comps, err := e.components()
	if err != nil {
		return gatewayDeps{}, err
	}
	cl, err := e.newClient()
	if err != nil {
		return gatewayDeps{}, err
	}
	return gatewayDeps{comps: comps, client: cl}, nil
}

// connectBroker connects the broker, which the event handler and /broker
// publish and subscribe through; the components' Close disconnects it.
func (e *env) connectBroker() error {
	comps, err := e.components()
	if err != nil {
		return err
	}
	if err := comps.Broker.Connect(e.ctx()); err != nil {
		if isCanceled(e.ctx(), err) {
			return interrupted()
		}
		return failure("connecting the %s broker: %v", comps.Broker.String(), err)
	}
	return nil
}

// corsOrigins reads an allow-list of origins, repeated or comma-separated;
// each is * or scheme://host[:port] (api.CheckOrigin).
func corsOrigins(c *ucli.Context, flag string) ([]string, error) {
	var out []string
	for _, v := range c.StringSlice(flag) {
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			if api.CheckOrigin(o) != nil {
				return nil, usage(c, "--%s %q: want an origin such as https://app.example.com, or *", flag, o)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// gatewayTLS loads the certificate --enable_tls asks for; nil without it.
func gatewayTLS(c *ucli.Context) (*tls.Config, error) {
	cert, key := c.String(flagGatewayCert), c.String(flagGatewayKey)
	if !c.Bool(flagGatewayTLS) {
		if cert != "" || key != "" {
			return nil, usage(c, "--%s and --%s need --%s", flagGatewayCert, flagGatewayKey, flagGatewayTLS)
		}
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, usage(c, "--%s needs --%s and --%s", flagGatewayTLS, flagGatewayCert, flagGatewayKey)
	}
	cfg, err := api.LoadTLS(cert, key)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return cfg, nil
}

// runHTTP starts srv, says where it listens, and serves until the
// command's context ends.
func (e *env) runHTTP(what string, srv httpServer) error {
	if err := srv.Start(e.ctx()); err != nil {
		if isCanceled(e.ctx(), err) {
			return interrupted()
		}
		if stderrors.Is(err, syscall.EADDRINUSE) {
			return failure("micro %s: %v; is another program listening there? Choose another address with --address", what, err)
		}
		return failure("micro %s: %v", what, err)
	}
	fmt.Fprintf(e.stdout, "micro %s listening on %s; stop with Ctrl-C\n", what, srv.Addr())
	<-e.ctx().Done()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx()), closeTimeout)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		return failure("micro %s: stopping: %v", what, err)
	}
	return nil
}
