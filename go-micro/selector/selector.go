// Package selector is client-side load balancing: it turns a service name
// into the node a call should go to, using the registry.
//
// The package holds the [Selector] interface, its options, the default
// implementation ([New]), the built-in strategies ([Random], [RoundRobin],
// [Hash]), filters ([FilterVersion], [FilterMetadata], [FilterLabel],
// [FilterEndpoint]) and the name table ([Register], [Lookup], [Open]).
//
// A Select returns a [Next] for one call: each call of Next gives another
// node to try, so a client retries on a different node, until none is left
// ([ErrNoneAvailable]). Mark tells the selector how a call to a node went;
// a node that fails repeatedly is skipped for a while (blacklisted) and then
// tried again.
//
// The default selector reads the registry through a registry/cache (one
// watch per service, a TTL, stale answers while the registry is down), so a
// Select normally costs no registry round trip. It registers itself, with
// each built-in strategy, under the names "random", "roundrobin" and "hash";
// no blank import is needed. Selectors are safe for concurrent use.
package selector

import (
	"context"
	"errors"

	"github.com/openmicro/go-micro/registry"
)

var (
	// ErrNotFound is returned by Select when the service is not registered.
	ErrNotFound = errors.New("selector: service not found")
	// ErrNoneAvailable is returned when the service exists but no node is
	// usable: all filtered out, blacklisted or already tried.
	ErrNoneAvailable = errors.New("selector: no node available")
	// ErrClosed is returned by Select once the selector is closed.
	ErrClosed = errors.New("selector: closed")
)

// Selector picks nodes of a service. Implementations are safe for
// concurrent use.
type Selector interface {
	// Select returns a Next over the usable nodes of service.
	Select(ctx context.Context, service string, opts ...SelectOption) (Next, error)
	// Mark records the outcome of a call to node: nil for success.
	Mark(service string, node *registry.Node, err error)
	// Reset forgets what Mark recorded for service.
	Reset(service string)
	// Close releases the selector's resources (watches, caches). It is
	// idempotent. Afterwards Select fails with ErrClosed; a Next obtained
	// before keeps working, and Mark and Reset stay safe to call.
	Close() error
	// String names the implementation.
	String() string
}

// Next returns the next node to try, or ErrNoneAvailable when every usable
// node has been returned. A Next is used by one call at a time. Each node
// it returns is the caller's own copy: changing it changes nothing in the
// selector or its cache.
type Next func() (*registry.Node, error)

// Filter narrows the services (one per version) a Select considers. It
// must not change its argument nor anything reachable from it (the
// services, nodes and maps are shared with the registry cache, read-only);
// it returns a new slice or the same one, and a service it narrows is a
// new Service value.
type Filter func(services []*registry.Service) []*registry.Service

// Factory builds a Selector from options; implementations register one
// under their name with [Register].
type Factory func(opts ...Option) (Selector, error)
