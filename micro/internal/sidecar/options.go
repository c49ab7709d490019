package sidecar

import (
	"log/slog"
	"maps"
	"net"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/micro/internal/api"
)

// Defaults.
const (
	// DefaultAddress is where the sidecar listens.
	DefaultAddress = "127.0.0.1:8081"
	// DefaultNamespace is the namespace of /[service]/[method]: /foo/bar
	// calls go.micro.api.foo.
	DefaultNamespace = "go.micro.api"
	// DefaultRegisterTTL is the TTL of the app's registration, as for a
	// go-micro server (--register_ttl).
	DefaultRegisterTTL = server.DefaultRegisterTTL
	// DefaultRegisterInterval is how often the app's registration is
	// renewed, as for a go-micro server (--register_interval).
	DefaultRegisterInterval = server.DefaultRegisterInterval
	// DefaultHealthCheckInterval is how often the health URL is polled when
	// [HealthCheck] is given no interval.
	DefaultHealthCheckInterval = 10 * time.Second
	// DefaultHealthThreshold is how many health checks in a row must fail
	// before a registered app is deregistered.
	DefaultHealthThreshold = 3
	// DefaultMaxBodySize bounds request bodies and websocket frames: the
	// API gateway's default, the transport's message size limit (4 MiB).
	DefaultMaxBodySize = api.DefaultMaxBodySize
	// DefaultSocketBuffer is how many events a /broker socket may have
	// waiting to be written before it is closed as a slow consumer.
	DefaultSocketBuffer = 64
	// DefaultSocketBufferBytes is how many bytes of events a /broker
	// socket may have waiting to be written (a lone event of any size is
	// taken) before it is closed as a slow consumer: two events of
	// [DefaultMaxBodySize].
	DefaultSocketBufferBytes = 2 * DefaultMaxBodySize
	// DefaultMaxSockets is how many /broker sockets may be open at once.
	DefaultMaxSockets = 1024
	// DefaultKeepAlive is how often a /broker socket is pinged; one from
	// which nothing, not even a pong, arrives during two of these
	// intervals in a row is closed.
	DefaultKeepAlive = 30 * time.Second
	// DefaultGracePeriod bounds Stop when its ctx has no deadline.
	DefaultGracePeriod = 10 * time.Second
)

// Option configures a [Server].
type Option func(*options)

type options struct {
	client    client.Client
	registry  registry.Registry
	broker    broker.Broker
	address   string
	namespace string
	origins   []string
	logger    *slog.Logger

	appName     string
	appAddress  string
	appVersion  string
	appMetadata map[string]string
	healthURL   string
	healthEvery time.Duration
	healthFails int
	ttl         time.Duration
	interval    time.Duration

	maxBody           int64
	requestTimeout    time.Duration
	socketBuffer      int
	socketBufferBytes int64
	maxSockets        int
	keepAlive         time.Duration

	// Set by tests: the keep-alive ticks of each socket, and a listener
	// for Start to serve on.
	pingTicker func(time.Duration) (<-chan time.Time, func())
	listener   net.Listener
}

// realTicker ticks every d.
func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

func newOptions(opts ...Option) options {
	o := options{
		address:   DefaultAddress,
		namespace: DefaultNamespace,
		ttl:       DefaultRegisterTTL,
		interval:  DefaultRegisterInterval,
		maxBody:   DefaultMaxBodySize,
		// requestTimeout 0 leaves it to the client's own.
		socketBuffer:      DefaultSocketBuffer,
		socketBufferBytes: DefaultSocketBufferBytes,
		maxSockets:        DefaultMaxSockets,
		keepAlive:         DefaultKeepAlive,
		pingTicker:        realTicker,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// Client sets the client that /rpc and /[service]/[method] call through.
// Default: none, and those paths answer 500.
func Client(c client.Client) Option { return func(o *options) { o.client = c } }

// Registry sets the registry that /registry reads and writes and the app
// is registered in. Required.
func Registry(r registry.Registry) Option { return func(o *options) { o.registry = r } }

// Broker sets the broker that /broker publishes to and subscribes on;
// Start connects it. Default: none, and /broker answers 503.
func Broker(b broker.Broker) Option { return func(o *options) { o.broker = b } }

// Address sets where Start listens, host:port; port 0 picks a free one.
// Default: [DefaultAddress], "127.0.0.1:8081": loopback, since the sidecar has no authentication.
func Address(addr string) Option { return func(o *options) { o.address = addr } }

// Namespace sets the namespace that /[service]/[method] resolves in.
// Default: [DefaultNamespace], "go.micro.api".
func Namespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// CORSOrigins sets the origins that browsers may call the sidecar from
// ("*" for any). Default: none, so only same-origin pages and non-browser
// clients.
func CORSOrigins(origins ...string) Option {
	return func(o *options) { o.origins = append([]string(nil), origins...) }
}

// App makes the sidecar register the app it sits beside: a node of service
// name at address (host:port), renewed every [RegisterInterval] with
// [RegisterTTL] and deregistered by Stop. Default: no app.
func App(name, address string) Option {
	return func(o *options) { o.appName, o.appAddress = name, address }
}

// AppVersion sets the version the app registers with. Default: none.
func AppVersion(v string) Option { return func(o *options) { o.appVersion = v } }

// AppMetadata adds metadata to the app's node. Default: none beyond what
// the sidecar sets ("server": "sidecar", "registry": the registry's name).
func AppMetadata(md map[string]string) Option {
	return func(o *options) { o.appMetadata = maps.Clone(md) }
}

// HealthCheck makes the sidecar poll url (GET) every interval: the app is
// registered only while the answer is 2xx, deregistered when it is not (or
// there is none) [HealthThreshold] times in a row, and registered again
// when it recovers. An interval of 0
// or less means [DefaultHealthCheckInterval]. Used with [App]. Default: no
// health check; the app is kept registered.
func HealthCheck(url string, interval time.Duration) Option {
	return func(o *options) { o.healthURL, o.healthEvery = url, interval }
}

// HealthThreshold sets how many health checks in a row must fail before a
// registered app is deregistered, so that one slow or lost answer does not
// take a working app out of the registry. An app that is not registered is
// registered on its first good answer. 0 or less means
// [DefaultHealthThreshold], 3. Used with [HealthCheck].
func HealthThreshold(n int) Option { return func(o *options) { o.healthFails = n } }

// RegisterTTL sets the TTL of the app's registration; 0 registers without
// expiry. Default: [DefaultRegisterTTL], 90s.
func RegisterTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// RegisterInterval sets how often the app's registration is renewed; it
// must be below the TTL. Default: [DefaultRegisterInterval], 30s.
func RegisterInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// Logger sets the logger. Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// MaxBodySize bounds request bodies and the frames an app sends on
// /broker, in bytes. Default: [DefaultMaxBodySize], 4 MiB.
func MaxBodySize(n int64) Option { return func(o *options) { o.maxBody = n } }

// RequestTimeout bounds the calls of /rpc and /[service]/[method] and each
// publish from /broker. Default: the API gateway's (30s) for calls, 10s
// for publishes.
func RequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// SocketBuffer sets how many events a /broker socket may have waiting to
// be written; when one more arrives the socket is closed as a slow
// consumer. Default: [DefaultSocketBuffer].
func SocketBuffer(n int) Option { return func(o *options) { o.socketBuffer = n } }

// SocketBufferBytes sets how many bytes of events a /broker socket may
// have waiting to be written; when an event would take it over, the
// socket is closed as a slow consumer (an event arriving at an empty
// buffer is taken whatever its size). Default: [DefaultSocketBufferBytes],
// 8 MiB.
func SocketBufferBytes(n int64) Option { return func(o *options) { o.socketBufferBytes = n } }

// MaxSockets sets how many /broker sockets may be open at once; a
// handshake beyond it is answered 503. Default: [DefaultMaxSockets].
func MaxSockets(n int) Option { return func(o *options) { o.maxSockets = n } }

// KeepAlive sets how often /broker sockets are pinged; a socket from which
// nothing, not even a pong, arrives during two of these intervals in a row
// is closed. Default: [DefaultKeepAlive], 30s.
func KeepAlive(d time.Duration) Option { return func(o *options) { o.keepAlive = d } }
