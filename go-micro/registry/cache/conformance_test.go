package cache

import (
	"testing"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/registrytest"
)

// TestConformance runs the registry conformance suite over a cache of a
// memory registry: the cache must be indistinguishable from a registry.
func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		c := New(memory.New())
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}
