// Package shared lets the client ask the default selector for its own
// nodes rather than copies.
//
// selector.Next hands out a copy of each node, because the caller owns what
// it gets: call wrappers see the node and may change it. A call that no
// wrapper sees reads only the node's id and address, so the copy (the node
// and its metadata map, two allocations per call) buys nothing there.
package shared

import (
	"context"

	"github.com/openmicro/go-micro/selector"
)

// Selector is implemented by the default selector. SelectShared is Select
// whose Next returns the selector's stored nodes themselves: the caller
// must not modify them nor hand them to code that might.
type Selector interface {
	SelectShared(ctx context.Context, service string, opts ...selector.SelectOption) (selector.Next, error)
}
