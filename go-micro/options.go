package micro

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// DefaultGracePeriod is how long Run lets the server drain the calls in
// progress, and then the broker its handlers, when the service stops.
const DefaultGracePeriod = 10 * time.Second

// Option configures a Service when it is built by [NewService].
type Option func(*Options)

// Options are a Service's settings. [Service.Options] returns them; after
// Init, the component fields hold the implementations in use and Name and
// Version those the server registers.
type Options struct {
	// Name is the service name (see [Name]).
	Name string
	// Version is the service version (see [Version]).
	Version string
	// Metadata is registered with the service's node (see [Metadata]).
	Metadata map[string]string
	// Address is the server's listen address (see [Address]).
	Address string

	// Registry, Broker, Transport and Selector are instances given in
	// code; nil ones are built by Init from the flags.
	Registry  registry.Registry
	Broker    broker.Broker
	Transport transport.Transport
	Selector  selector.Selector
	// Client and Server are instances given in code; nil ones are built
	// by Init.
	Client client.Client
	Server server.Server

	// RegisterTTL and RegisterInterval are the server's registration TTL
	// and renewal interval; 0 leaves the server's defaults.
	RegisterTTL      time.Duration
	RegisterInterval time.Duration

	// ClientWrappers, CallWrappers, HandlerWrappers and SubscriberWrappers
	// are middleware, the first of each outermost.
	ClientWrappers     []client.Wrapper
	CallWrappers       []client.CallWrapper
	HandlerWrappers    []server.HandlerWrapper
	SubscriberWrappers []server.SubscriberWrapper

	// BeforeStart, AfterStart, BeforeStop and AfterStop are the hooks Run
	// calls, in the order given.
	BeforeStart []func() error
	AfterStart  []func() error
	BeforeStop  []func() error
	AfterStop   []func() error

	// Flags are the program's own flags, parsed by Init beside go-micro's.
	Flags []cli.Flag
	// Action is called by Init once the flags are parsed and the client
	// and server are built.
	Action func(*cli.Context) error

	// Context ends Run when it is done; it is also the parent of the
	// contexts Run gives the broker and the server.
	Context context.Context
	// Args are the command line Init parses, program name first.
	Args []string
	// GracePeriod bounds the drain when the service stops.
	GracePeriod time.Duration
	// Logger receives the logs of the service and of what Init builds.
	Logger *slog.Logger
}

// newOptions applies opts over the defaults.
func newOptions(opts ...Option) Options {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Name sets the service name, registered by the server and called by
// clients. --server_name overrides it. Default: server.DefaultName
// ("go.micro.server").
func Name(n string) Option { return func(o *Options) { o.Name = n } }

// Version sets the service version registered. --server_version
// overrides it. Default: none.
func Version(v string) Option { return func(o *Options) { o.Version = v } }

// Metadata sets the metadata registered with the service's node; pairs
// given with --server_metadata are added to it, winning on equal keys.
// The map is copied. Default: none.
func Metadata(md map[string]string) Option {
	return func(o *Options) { o.Metadata = maps.Clone(md) }
}

// Address sets the server's listen address, host:port. --server_address
// overrides it. Default: server.DefaultAddress ("127.0.0.1:0", a free
// loopback port).
func Address(addr string) Option { return func(o *Options) { o.Address = addr } }

// Registry sets the registry. An instance given here beats --registry.
// Default: the one --registry names (see package cmd).
func Registry(r registry.Registry) Option { return func(o *Options) { o.Registry = r } }

// Broker sets the broker. An instance given here beats --broker. Default:
// the one --broker names, "http" unless set.
func Broker(b broker.Broker) Option { return func(o *Options) { o.Broker = b } }

// Transport sets the transport. An instance given here beats
// --transport. Default: the one --transport names, "http" unless set.
func Transport(t transport.Transport) Option { return func(o *Options) { o.Transport = t } }

// Selector sets the selector. An instance given here beats --selector.
// Default: the one --selector names, "random" unless set, over the
// service's registry.
func Selector(s selector.Selector) Option { return func(o *Options) { o.Selector = s } }

// Client sets the client, used as it is (only [WrapClient] applies to
// it). Default: client.New over the service's selector, transport and
// broker.
func Client(c client.Client) Option { return func(o *Options) { o.Client = c } }

// Server sets the server, used as it is: the service's name, version,
// metadata, address, registration settings and handler wrappers, and the
// server flags, do not apply to it. Default: server.New with them over the
// service's registry, transport and broker.
func Server(s server.Server) Option { return func(o *Options) { o.Server = s } }

// RegisterTTL sets the TTL of the service's registration. --register_ttl
// overrides it. Default: server.DefaultRegisterTTL (90s).
func RegisterTTL(d time.Duration) Option { return func(o *Options) { o.RegisterTTL = d } }

// RegisterInterval sets how often the registration is renewed; keep it
// well under the TTL. --register_interval overrides it. Default:
// server.DefaultRegisterInterval (30s).
func RegisterInterval(d time.Duration) Option { return func(o *Options) { o.RegisterInterval = d } }

// WrapClient wraps the client, the first wrapper outermost; it applies to
// a Client given in code too. Default: none.
func WrapClient(w ...client.Wrapper) Option {
	return func(o *Options) { o.ClientWrappers = append(o.ClientWrappers, w...) }
}

// WrapCall wraps each attempt of every call, the first wrapper outermost.
// It applies only to the client the service builds. Default: none.
func WrapCall(w ...client.CallWrapper) Option {
	return func(o *Options) { o.CallWrappers = append(o.CallWrappers, w...) }
}

// WrapHandler wraps every endpoint call the server serves, the first
// wrapper outermost. It applies only to the server the service builds.
// Default: none.
func WrapHandler(w ...server.HandlerWrapper) Option {
	return func(o *Options) { o.HandlerWrappers = append(o.HandlerWrappers, w...) }
}

// WrapSubscriber wraps every event the server's subscribers receive, the
// first wrapper outermost. It applies only to the server the service
// builds. Default: none.
func WrapSubscriber(w ...server.SubscriberWrapper) Option {
	return func(o *Options) { o.SubscriberWrappers = append(o.SubscriberWrappers, w...) }
}

// BeforeStart adds a hook that Run calls after connecting the broker and
// before starting the server. A hook's error stops the start: the server
// is not started and Run stops and returns it. Default: none.
func BeforeStart(fn func() error) Option {
	return func(o *Options) { o.BeforeStart = append(o.BeforeStart, fn) }
}

// AfterStart adds a hook that Run calls once the server accepts calls. A
// hook's error makes Run stop the service and return it. Default: none.
func AfterStart(fn func() error) Option {
	return func(o *Options) { o.AfterStart = append(o.AfterStart, fn) }
}

// BeforeStop adds a hook that Run calls when the service stops, before
// the server stops. Every stop hook runs even when another failed.
// Default: none.
func BeforeStop(fn func() error) Option {
	return func(o *Options) { o.BeforeStop = append(o.BeforeStop, fn) }
}

// AfterStop adds a hook that Run calls once the server stopped, before
// the broker disconnects. Default: none.
func AfterStop(fn func() error) Option {
	return func(o *Options) { o.AfterStop = append(o.AfterStop, fn) }
}

// Flags adds the program's own flags, parsed by Init beside go-micro's
// (see package cmd) and shown by --help; read them in [Action]. A flag
// whose name is taken makes Init fail. Default: none.
func Flags(f ...cli.Flag) Option { return func(o *Options) { o.Flags = append(o.Flags, f...) } }

// Action sets a function that Init calls with the parsed command line,
// once the client and the server are built, so that it may read the
// program's flags and register handlers. Its error fails Init. Default:
// none.
func Action(fn func(*cli.Context) error) Option { return func(o *Options) { o.Action = fn } }

// Context sets the context whose end stops Run, as SIGINT and SIGTERM do.
// Its values reach the broker's Connect and the server's Start. Default:
// context.Background().
func Context(ctx context.Context) Option { return func(o *Options) { o.Context = ctx } }

// Args sets the command line Init parses, program name first, as in
// os.Args; an empty (non-nil) slice parses no flags. Default: os.Args.
// (Tests should set it: os.Args then holds the test binary's flags.)
func Args(args []string) Option {
	return func(o *Options) {
		if args == nil {
			o.Args = nil
			return
		}
		o.Args = slices.Clone(args)
	}
}

// GracePeriod sets how long Run, when the service stops, waits for the
// calls in progress to finish (server.Stop), and then for the broker's
// handlers (Disconnect); what still runs after it is cut short. Default:
// [DefaultGracePeriod], 10s.
func GracePeriod(d time.Duration) Option { return func(o *Options) { o.GracePeriod = d } }

// Logger sets the logger of the service and of the components, client and
// server it builds. Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }
