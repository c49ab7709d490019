// Package registry is service discovery for go-micro: services register their
// nodes (addresses) and the endpoints they serve, and clients look them up and
// watch for changes.
//
// The package holds the [Registry] interface, its types and options, and the
// name table through which implementations register themselves
// ([Register], [Lookup]). Implementations live in sub-packages
// (registry/memory here; consul, etcd and kubernetes in go-plugins), and
// registry/registrytest is the conformance suite every implementation runs.
//
// A service is identified by its name and version: two versions of one name
// are kept apart and GetService returns one *Service per version. Nodes are
// added by Register and removed by Deregister one at a time, so deregistering
// one node keeps the others. A node registered with a TTL ([RegisterTTL])
// expires unless it is registered again before the TTL passes.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned by GetService when no node of the service is
	// registered.
	ErrNotFound = errors.New("registry: service not found")
	// ErrWatcherStopped is returned by Watcher.Next after Stop or after the
	// watch's context ends.
	ErrWatcherStopped = errors.New("registry: watcher stopped")
	// ErrInvalidService is returned by Register and Deregister for a service
	// that [Validate] rejects: no name, no nodes, a nil node, a node with no
	// id, two nodes with one id or a Value tree that contains itself.
	ErrInvalidService = errors.New("registry: invalid service")
)

// Registry is a service discovery backend. Implementations are safe for
// concurrent use.
type Registry interface {
	// Register adds or refreshes the nodes of s. Registering a node again
	// replaces its address and metadata, and its TTL by the one given now
	// (none, so no expiry, when RegisterTTL is not given).
	Register(ctx context.Context, s *Service, opts ...RegisterOption) error
	// Deregister removes the nodes of s; other nodes of the service stay.
	// Nodes that are not registered are ignored.
	Deregister(ctx context.Context, s *Service, opts ...DeregisterOption) error
	// GetService returns the service, one entry per version, or ErrNotFound.
	GetService(ctx context.Context, name string, opts ...GetOption) ([]*Service, error)
	// ListServices returns every registered service (one entry per name and
	// version); nodes may be left out.
	ListServices(ctx context.Context, opts ...ListOption) ([]*Service, error)
	// Watch returns a Watcher of changes. The watcher runs until Stop is
	// called or ctx ends; the caller must do one of the two to release it.
	Watch(ctx context.Context, opts ...WatchOption) (Watcher, error)
	// String names the implementation, e.g. "memory".
	String() string
}

// Service is a named, versioned service and its nodes and endpoints.
type Service struct {
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Endpoints []*Endpoint       `json:"endpoints,omitempty"`
	Nodes     []*Node           `json:"nodes,omitempty"`
}

// Node is one running instance of a service.
type Node struct {
	Id       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Endpoint is one method a service serves, with the shapes of its request
// and response.
type Endpoint struct {
	Name     string            `json:"name"`
	Request  *Value            `json:"request,omitempty"`
	Response *Value            `json:"response,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Value describes the shape of a message: a named, typed field and the
// fields inside it.
type Value struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Values []*Value `json:"values,omitempty"`
}

// Action is what happened to a service in a watch Result.
type Action string

// The actions a Watcher reports.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Result is one change seen by a Watcher. Service holds the nodes the change
// concerns: for Create and Update the nodes that were registered, for Delete
// the nodes that were removed or expired.
type Result struct {
	Action  Action
	Service *Service
}

// Watcher yields registry changes.
type Watcher interface {
	// Next blocks until the next change and returns it, or returns
	// ErrWatcherStopped once the watcher is stopped or its context ended.
	Next() (*Result, error)
	// Stop ends the watch and releases its resources. It is idempotent and
	// unblocks a pending Next.
	Stop()
}

// Factory builds a Registry from options; implementations register one
// under their name with [Register].
type Factory func(opts ...Option) (Registry, error)

// Option configures a Registry when it is built.
type Option func(*Options)

// Options is the result of applying Option values. Implementations read the
// fields they support and ignore the rest.
type Options struct {
	// Addrs are the backend's addresses; the implementation's default when
	// empty.
	Addrs []string
	// Timeout bounds each backend request; 0 leaves it to the context.
	Timeout time.Duration
	// TLS, when set, is used to reach the backend.
	TLS *tls.Config

	// Values holds the settings of one implementation, set by that
	// implementation's own typed options (httpbroker.RegisterTTL, say) under
	// key types it does not export, and read back by it with Value. Other
	// implementations ignore them.
	Values map[any]any
}

// SetValue stores one implementation's setting under key. It is meant for
// the option functions of implementations, whose key types are unexported.
func (o *Options) SetValue(key, value any) {
	if o.Values == nil {
		o.Values = make(map[any]any)
	}
	o.Values[key] = value
}

// Value returns the setting stored under key by SetValue, or nil.
func (o *Options) Value(key any) any { return o.Values[key] }

// NewOptions applies opts over the defaults.
func NewOptions(opts ...Option) Options {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Addrs sets the backend addresses. Default: the implementation's own.
func Addrs(addrs ...string) Option { return func(o *Options) { o.Addrs = addrs } }

// Timeout bounds each request to the backend. Default: none beyond ctx.
func Timeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// TLS sets the TLS configuration for reaching the backend. Default: plain.
func TLS(c *tls.Config) Option { return func(o *Options) { o.TLS = c } }

// RegisterOption configures one Register call.
type RegisterOption func(*RegisterOptions)

// RegisterOptions is the result of applying RegisterOption values.
type RegisterOptions struct {
	// TTL after which the registered nodes expire unless registered again;
	// 0 means they never expire.
	TTL time.Duration
}

// RegisterTTL makes the registered nodes expire after d unless registered
// again. Default: no expiry.
func RegisterTTL(d time.Duration) RegisterOption {
	return func(o *RegisterOptions) { o.TTL = d }
}

// NewRegisterOptions applies opts.
func NewRegisterOptions(opts ...RegisterOption) RegisterOptions {
	var o RegisterOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// DeregisterOption configures one Deregister call.
type DeregisterOption func(*DeregisterOptions)

// DeregisterOptions is the result of applying DeregisterOption values.
type DeregisterOptions struct{}

// GetOption configures one GetService call.
type GetOption func(*GetOptions)

// GetOptions is the result of applying GetOption values.
type GetOptions struct{}

// ListOption configures one ListServices call.
type ListOption func(*ListOptions)

// ListOptions is the result of applying ListOption values.
type ListOptions struct{}

// WatchOption configures one Watch call.
type WatchOption func(*WatchOptions)

// WatchOptions is the result of applying WatchOption values.
type WatchOptions struct {
	// Service limits the watch to one service name; empty watches all.
	Service string
}

// WatchService limits a watch to the named service. Default: all services.
func WatchService(name string) WatchOption {
	return func(o *WatchOptions) { o.Service = name }
}

// NewWatchOptions applies opts.
func NewWatchOptions(opts ...WatchOption) WatchOptions {
	var o WatchOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
