package api

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/codec/json"
	"github.com/openmicro/go-micro/codec/proto"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/transport"
)

// Defaults.
const (
	// DefaultNamespace is the namespace paths are resolved in.
	DefaultNamespace = "go.micro.api"
	// DefaultAddress is where [Server.Start] listens.
	DefaultAddress = ":8080"
	// DefaultHandler is the handler that serves the catch-all "/".
	DefaultHandler = "rpc"
	// DefaultMaxBodySize is the largest request body read, in bytes: the
	// transport's default message size limit (4 MiB), as a larger body
	// could not be carried to a service anyway.
	DefaultMaxBodySize = int64(transport.DefaultMaxMessageSize)
	// DefaultRequestTimeout bounds a call made for one request.
	DefaultRequestTimeout = 30 * time.Second
)

// Option configures the gateway ([New]) and the handlers that can be used on
// their own ([RPCHandler], [CallHandler]).
type Option func(*options)

type options struct {
	client    client.Client
	registry  registry.Registry
	selector  selector.Selector
	broker    broker.Broker
	namespace string
	logger    *slog.Logger
	maxBody   int64
	timeout   time.Duration
	handler   string
	origins   []string
	address   string
	tls       *tls.Config
	certFile  string
	keyFile   string

	// Computed once by newOptions, for every request.
	resolver  *resolver
	callOpts  []client.CallOption    // the request timeout
	jsonOpts  []client.RequestOption // the JSON codec
	protoOpts []client.RequestOption // the protobuf codec
}

func newOptions(opts []Option) options {
	o := options{
		namespace: DefaultNamespace,
		maxBody:   DefaultMaxBodySize,
		timeout:   DefaultRequestTimeout,
		handler:   DefaultHandler,
		address:   DefaultAddress,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.maxBody <= 0 {
		o.maxBody = DefaultMaxBodySize
	}
	if o.timeout <= 0 {
		o.timeout = DefaultRequestTimeout
	}
	o.resolver = newResolver(o.namespace)
	o.callOpts = []client.CallOption{client.WithRequestTimeout(o.timeout)}
	o.jsonOpts = []client.RequestOption{client.WithContentType(json.ContentType)}
	o.protoOpts = []client.RequestOption{client.WithContentType(proto.ContentType)}
	return o
}

// Client sets the go-micro client the rpc and api handlers call services
// through. It is required by [RPCHandler], [CallHandler] and by [New] with
// the handlers "rpc" and "api"; its selector, when it has one, also picks
// the nodes of the proxy handler. Default: none.
func Client(c client.Client) Option { return func(o *options) { o.client = c } }

// Registry sets the registry the proxy handler resolves services in, when
// neither [Selector] nor the client's selector is given. Default: none.
func Registry(r registry.Registry) Option { return func(o *options) { o.registry = r } }

// Selector sets the selector the proxy handler picks nodes with. Default:
// the selector of the [Client], else a random node of the [Registry]'s
// answer.
func Selector(s selector.Selector) Option { return func(o *options) { o.selector = s } }

// Broker sets the broker the event handler publishes on. Without one the
// event handler is not mounted. [Server.Start] connects it (a no-op when it
// already is); nothing here disconnects it. Default: none.
func Broker(b broker.Broker) Option { return func(o *options) { o.broker = b } }

// Namespace sets the namespace paths resolve in: the prefix of the services
// of the rpc, api and proxy handlers (see [Resolve]). An empty namespace
// leaves service names unprefixed. Default [DefaultNamespace],
// "go.micro.api".
func Namespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// Logger sets the logger of the access log and of the gateway's own
// messages. Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// MaxBodySize sets the largest request body read, in bytes; a larger one is
// answered with 413. n <= 0 means the default, [DefaultMaxBodySize] (4 MiB,
// the transport's message size limit).
func MaxBodySize(n int64) Option { return func(o *options) { o.maxBody = n } }

// RequestTimeout bounds each call made for a request: it is the call's
// deadline (sent to the service as its Timeout), and for the proxy the wait
// for the backend's response headers. A call that runs out of time is
// answered with 504. d <= 0 means the default, [DefaultRequestTimeout]
// (30s).
func RequestTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Handler picks what serves the catch-all "/": "rpc" (the default, the
// JSON handler of [CallHandler]), "api" (the HTTP request as an api.Request
// to the resolved endpoint), "proxy" (reverse proxy to the service's HTTP
// server) or "event" (POST /[topic] publishes). [New] fails on another name,
// listing these.
func Handler(name string) Option { return func(o *options) { o.handler = name } }

// CORSOrigins sets the origins allowed to call the gateway from a browser
// (see [CORS]); "*" allows every origin. Default: none, so no CORS headers
// are sent and preflights are refused.
func CORSOrigins(origins ...string) Option {
	return func(o *options) { o.origins = append(o.origins, origins...) }
}

// Address sets where [Server.Start] listens, host:port. Default
// [DefaultAddress], ":8080"; "127.0.0.1:0" picks a free port (see
// [Server.Addr]).
func Address(addr string) Option { return func(o *options) { o.address = addr } }

// TLS makes [Server.Start] serve HTTPS with cfg, which needs a certificate
// (Certificates, GetCertificate or GetConfigForClient). [LoadTLS] builds one
// from files. Default: plain HTTP.
func TLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// TLSFiles makes [Server.Start] serve HTTPS with the PEM certificate (chain)
// and key in these files, which [New] loads with [LoadTLS] (failing with
// its error). It replaces a config given with [TLS]. Default: plain HTTP.
func TLSFiles(certFile, keyFile string) Option {
	return func(o *options) { o.certFile, o.keyFile = certFile, keyFile }
}
