package etcd

import (
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/registrytest"
)

// TestConformance runs the whole registry conformance suite, TTL tests
// included, against one embedded etcd shared by its subtests.
func TestConformance(t *testing.T) {
	te := startEtcd(t, nil)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newTestRegistry(t, te.addr())
	}, registrytest.TTL(time.Second))
}
