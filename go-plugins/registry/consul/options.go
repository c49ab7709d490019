package consul

import (
	"time"

	"github.com/openmicro/go-micro/registry"
)

// Defaults of the plugin's own options.
const (
	// DefaultAddr is the consul agent's HTTP address used when
	// registry.Addrs is not given.
	DefaultAddr = "127.0.0.1:8500"
	// DefaultKeepaliveTTL is the TTL of the check of a node registered
	// without registry.RegisterTTL (see [KeepaliveTTL]).
	DefaultKeepaliveTTL = 30 * time.Second
	// DefaultDeregisterCriticalAfter is how long consul keeps a node whose
	// check is critical before it deregisters it (see
	// [DeregisterCriticalAfter]). One minute is consul's minimum.
	DefaultDeregisterCriticalAfter = time.Minute
	// DefaultWatchWait is how long one blocking query of a watcher waits
	// for a change before it is asked again (see [WatchWait]).
	DefaultWatchWait = 5 * time.Minute
	// defaultCallTimeout bounds the calls the registry makes on its own
	// (keeping nodes alive) when registry.Timeout is not given.
	defaultCallTimeout = 10 * time.Second
)

type (
	tokenKey           struct{}
	datacenterKey      struct{}
	keepaliveKey       struct{}
	deregisterAfterKey struct{}
	watchWaitKey       struct{}
)

// Token sets the ACL token sent with every request (the X-Consul-Token
// header). Default: none, so the agent's default token applies.
func Token(token string) registry.Option {
	return func(o *registry.Options) { o.SetValue(tokenKey{}, token) }
}

// Datacenter sets the datacenter that queries go to. Default: the agent's
// own datacenter. Registrations always go to the agent, which registers
// nodes in its own datacenter.
func Datacenter(dc string) registry.Option {
	return func(o *registry.Options) { o.SetValue(datacenterKey{}, dc) }
}

// KeepaliveTTL sets the TTL of the consul check of nodes registered without
// registry.RegisterTTL. Such nodes do not expire while the Registry that
// registered them is open: it passes their check every third of this TTL.
// When the process stops without deregistering (a crash, or Close), the
// check goes critical after this TTL and the nodes leave GetService and
// watchers. Default: [DefaultKeepaliveTTL] (30s).
func KeepaliveTTL(d time.Duration) registry.Option {
	return func(o *registry.Options) { o.SetValue(keepaliveKey{}, d) }
}

// DeregisterCriticalAfter sets how long consul keeps a node whose check is
// critical (its TTL lapsed) before it removes the node from its catalog
// (the check's DeregisterCriticalServiceAfter). Consul raises anything
// below one minute to one minute and reaps every 30 seconds. The node
// leaves GetService and watchers as soon as its check is critical; this
// only bounds how long consul keeps its record. Default:
// [DefaultDeregisterCriticalAfter] (1m).
func DeregisterCriticalAfter(d time.Duration) registry.Option {
	return func(o *registry.Options) { o.SetValue(deregisterAfterKey{}, d) }
}

// WatchWait sets the longest time one blocking query of a watcher waits for
// a change before it is sent again (consul caps it at 10 minutes). Stop and
// the watch's context end a pending query at once, whatever this is.
// Default: [DefaultWatchWait] (5m).
func WatchWait(d time.Duration) registry.Option {
	return func(o *registry.Options) { o.SetValue(watchWaitKey{}, d) }
}

// settings are the options the plugin reads, defaults applied.
type settings struct {
	addrs           []string
	timeout         time.Duration // per request; 0: only ctx
	token           string
	datacenter      string
	keepalive       time.Duration
	deregisterAfter time.Duration
	watchWait       time.Duration
}

func newSettings(o registry.Options) settings {
	s := settings{
		addrs:           o.Addrs,
		timeout:         o.Timeout,
		keepalive:       DefaultKeepaliveTTL,
		deregisterAfter: DefaultDeregisterCriticalAfter,
		watchWait:       DefaultWatchWait,
	}
	if len(s.addrs) == 0 {
		s.addrs = []string{DefaultAddr}
	}
	if v, ok := o.Value(tokenKey{}).(string); ok {
		s.token = v
	}
	if v, ok := o.Value(datacenterKey{}).(string); ok {
		s.datacenter = v
	}
	if v, ok := o.Value(keepaliveKey{}).(time.Duration); ok && v > 0 {
		s.keepalive = v
	}
	if v, ok := o.Value(deregisterAfterKey{}).(time.Duration); ok && v > 0 {
		s.deregisterAfter = v
	}
	if v, ok := o.Value(watchWaitKey{}).(time.Duration); ok && v > 0 {
		s.watchWait = v
	}
	return s
}
