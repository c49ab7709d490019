package consul

import (
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/registrytest"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// TestConformance runs go-micro's registry conformance suite, TTL tests
// included, against a real consul agent that every subtest's registry
// shares. The TTL is consul's check TTL: a node whose TTL lapses leaves
// GetService, ListServices and watchers as soon as its check goes
// critical (consul itself removes it a minute later at the earliest).
func TestConformance(t *testing.T) {
	a := consultest.Start(t)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return testRegistry(t, a.Addr())
	}, registrytest.TTL(time.Second), registrytest.Wait(20*time.Second))
}
