package etcd

import (
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/registrytest"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// TestConformance runs the whole registry conformance suite, TTL tests
// included, against one embedded etcd shared by its subtests.
func TestConformance(t *testing.T) {
	te := etcdtest.Start(t)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newTestRegistry(t, te.Addr())
	}, registrytest.TTL(time.Second))
}
