package server

import (
	"log/slog"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/transport"
)

// Defaults.
const (
	DefaultName             = "go.micro.server"
	DefaultAddress          = "127.0.0.1:0"
	DefaultRegisterTTL      = 90 * time.Second
	DefaultRegisterInterval = 30 * time.Second
)

// Endpoint is an endpoint as published in the registry (an alias, so a
// Handler's endpoints go to the registry unchanged).
type Endpoint = registry.Endpoint

// Option configures a Server when it is built.
type Option func(*Options)

// Options are a Server's settings. Build them with [NewOptions].
type Options struct {
	// Name is the service name registered (default DefaultName).
	Name string
	// Version is the service version registered.
	Version string
	// Id is this node's id (default Name + "-" + a random UUID).
	Id string
	// Address is the address listened on (default DefaultAddress).
	Address string
	// Advertise is the address registered, when it differs from the
	// listener's (behind NAT, in a container).
	Advertise string
	// Metadata is registered with the service's node.
	Metadata map[string]string
	// Registry is where the service registers. Required.
	Registry registry.Registry
	// Transport is listened on. Required.
	Transport transport.Transport
	// Broker carries subscribers. Required when there are subscribers.
	Broker broker.Broker
	// RegisterTTL is the TTL of the registration (default 90s).
	RegisterTTL time.Duration
	// RegisterInterval is how often the registration is renewed (default
	// 30s); a failed registration is retried sooner.
	RegisterInterval time.Duration
	// HandlerWrappers wrap every endpoint call, the first outermost.
	HandlerWrappers []HandlerWrapper
	// SubscriberWrappers wrap every event delivery, the first outermost.
	SubscriberWrappers []SubscriberWrapper
	// Logger receives the server's log lines (default slog.Default()).
	Logger *slog.Logger
}

// NewOptions applies opts over the defaults.
func NewOptions(opts ...Option) Options {
	o := Options{
		Name:             DefaultName,
		Address:          DefaultAddress,
		RegisterTTL:      DefaultRegisterTTL,
		RegisterInterval: DefaultRegisterInterval,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Name sets the service name.
func Name(n string) Option { return func(o *Options) { o.Name = n } }

// Version sets the service version.
func Version(v string) Option { return func(o *Options) { o.Version = v } }

// Id sets the node id.
func Id(id string) Option { return func(o *Options) { o.Id = id } }

// Address sets the listen address.
func Address(a string) Option { return func(o *Options) { o.Address = a } }

// Advertise sets the address registered.
func Advertise(a string) Option { return func(o *Options) { o.Advertise = a } }

// Metadata sets the node metadata.
func Metadata(md map[string]string) Option { return func(o *Options) { o.Metadata = md } }

// Registry sets the registry.
func Registry(r registry.Registry) Option { return func(o *Options) { o.Registry = r } }

// Transport sets the transport.
func Transport(t transport.Transport) Option { return func(o *Options) { o.Transport = t } }

// Broker sets the broker.
func Broker(b broker.Broker) Option { return func(o *Options) { o.Broker = b } }

// RegisterTTL sets the registration TTL.
func RegisterTTL(d time.Duration) Option { return func(o *Options) { o.RegisterTTL = d } }

// RegisterInterval sets how often the registration is renewed.
func RegisterInterval(d time.Duration) Option { return func(o *Options) { o.RegisterInterval = d } }

// WrapHandler adds handler wrappers; the first given is the outermost.
func WrapHandler(w ...HandlerWrapper) Option {
	return func(o *Options) { o.HandlerWrappers = append(o.HandlerWrappers, w...) }
}

// WrapSubscriber adds subscriber wrappers; the first given is the
// outermost.
func WrapSubscriber(w ...SubscriberWrapper) Option {
	return func(o *Options) { o.SubscriberWrappers = append(o.SubscriberWrappers, w...) }
}

// Logger sets the logger.
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// HandlerOption configures a Handler.
type HandlerOption func(*HandlerOptions)

// HandlerOptions are a Handler's settings.
type HandlerOptions struct {
	// Name overrides the handler's name (default the value's type name).
	Name string
	// Metadata is added to every endpoint of the handler, by endpoint name.
	Metadata map[string]map[string]string
	// Streams declares the message types of stream endpoints, by
	// endpoint name; see [StreamTypes].
	Streams map[string]StreamInfo
}

// Stream kinds: which sides of a stream endpoint send more than one
// message. An endpoint's kind is published as its "stream" metadata.
const (
	StreamServer        = "server"        // one request, many responses
	StreamClient        = "client"        // many requests, one response
	StreamBidirectional = "bidirectional" // many each way
)

// StreamInfo describes a stream endpoint: its kind and the pointer types
// of the messages the client sends (Request) and the server sends
// (Response).
type StreamInfo struct {
	Kind     string
	Request  any
	Response any
}

// StreamTypes declares what a stream endpoint ("Type.Method") carries,
// which reflection cannot see in func(ctx, server.Stream) error: its kind
// ([StreamServer], [StreamClient] or [StreamBidirectional]) and the
// messages each side sends, as pointers (new(pb.Req), new(pb.Rsp)). The
// endpoint is then published with Request and Response shapes and its kind
// as "stream" metadata, instead of "true" and no shapes. Generated code
// (protoc-gen-micro) sets it for every streaming RPC.
func StreamTypes(endpoint, kind string, req, rsp any) HandlerOption {
	return func(o *HandlerOptions) {
		if o.Streams == nil {
			o.Streams = make(map[string]StreamInfo)
		}
		o.Streams[endpoint] = StreamInfo{Kind: kind, Request: req, Response: rsp}
	}
}

// HandlerName sets the handler's name, the "Type" of its endpoints.
func HandlerName(n string) HandlerOption { return func(o *HandlerOptions) { o.Name = n } }

// EndpointMetadata adds metadata to an endpoint ("Type.Method") in the
// registry.
func EndpointMetadata(endpoint string, md map[string]string) HandlerOption {
	return func(o *HandlerOptions) {
		if o.Metadata == nil {
			o.Metadata = make(map[string]map[string]string)
		}
		o.Metadata[endpoint] = md
	}
}

// SubscriberOption configures a Subscriber.
type SubscriberOption func(*SubscriberOptions)

// SubscriberOptions are a Subscriber's settings.
type SubscriberOptions struct {
	// Queue puts the subscriber in a queue group: each event goes to one
	// member of the group.
	Queue string
}

// Queue puts the subscriber in a queue group.
func Queue(name string) SubscriberOption { return func(o *SubscriberOptions) { o.Queue = name } }
