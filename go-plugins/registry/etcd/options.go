package etcd

import (
	"log/slog"
	"strings"
	"time"

	"github.com/openmicro/go-micro/registry"
)

const (
	// DefaultAddr is the etcd endpoint used when [registry.Addrs] is not
	// given.
	DefaultAddr = "127.0.0.1:2379"
	// DefaultPrefix is the key prefix under which nodes are stored.
	DefaultPrefix = "/micro/registry/"
	// DefaultTimeout bounds each request to etcd when [registry.Timeout]
	// is not given (or is not positive).
	DefaultTimeout = 5 * time.Second
	// DefaultCheckInterval is the longest wait between two checks that
	// etcd still holds what the registry registered. A third of the
	// shortest TTL held is used when that is shorter; see [CheckInterval].
	DefaultCheckInterval = 10 * time.Second
	// minCheckInterval bounds the derived check interval from below.
	minCheckInterval = 100 * time.Millisecond
	// maxReconnectDelay caps gRPC's back-off between attempts to reach an
	// etcd endpoint that is down, so that a registry finds etcd again
	// within seconds of its return (gRPC's own cap is two minutes).
	maxReconnectDelay = 2 * time.Second
)

// config holds the settings of this implementation alone.
type config struct {
	prefix        string
	username      string
	password      string
	checkInterval time.Duration // 0: derived from the TTLs held
	logger        *slog.Logger
}

type (
	prefixKey        struct{}
	authKey          struct{}
	checkIntervalKey struct{}
	loggerKey        struct{}
)

type credentials struct{ username, password string }

// Prefix sets the key prefix under which every node is stored; a '/' is
// added when it does not end with one. Registries that share a prefix
// share their services. Default: [DefaultPrefix].
func Prefix(p string) registry.Option {
	return func(o *registry.Options) { o.SetValue(prefixKey{}, p) }
}

// Auth sets the user name and password to authenticate to etcd with. With
// them, NewRegistry authenticates at once and fails, after the timeout,
// when etcd cannot be reached. Default: no authentication.
func Auth(username, password string) registry.Option {
	return func(o *registry.Options) { o.SetValue(authKey{}, credentials{username, password}) }
}

// CheckInterval sets how often the registry checks that etcd still holds
// the nodes it registered and puts back those it lost (etcd restarted
// without its data, say), and how often open watchers are checked for that
// loss. Default: a third of the shortest TTL of the nodes held, at most
// [DefaultCheckInterval] and at least 100ms.
func CheckInterval(d time.Duration) registry.Option {
	return func(o *registry.Options) { o.SetValue(checkIntervalKey{}, d) }
}

// Logger sets where the registry reports what it does on its own: putting
// back lost nodes, losing and finding etcd again. Default: slog.Default().
func Logger(l *slog.Logger) registry.Option {
	return func(o *registry.Options) { o.SetValue(loggerKey{}, l) }
}

// newConfig reads this implementation's settings from o.
func newConfig(o *registry.Options) config {
	c := config{prefix: DefaultPrefix, logger: slog.Default()}
	if p, ok := o.Value(prefixKey{}).(string); ok && p != "" {
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		c.prefix = p
	}
	if a, ok := o.Value(authKey{}).(credentials); ok {
		c.username, c.password = a.username, a.password
	}
	if d, ok := o.Value(checkIntervalKey{}).(time.Duration); ok && d > 0 {
		c.checkInterval = d
	}
	if l, ok := o.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		c.logger = l
	}
	return c
}
