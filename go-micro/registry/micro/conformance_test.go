package micro_test

import (
	"testing"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/registrytest"
	"github.com/openmicro/go-micro/testenv"
)

// The whole registry contract, through a real go-micro server serving the
// handler over the memory registry; each subtest has a client of its own.
func TestConformance(t *testing.T) {
	s := serve(t, memory.New(), "127.0.0.1:0", nil)
	registrytest.Run(t, func(t *testing.T) registry.Registry { return newClient(t, s.addr) })
}

// The same over TLS: registry.TLS reaches a server that serves TLS.
func TestConformanceTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("the plain suite covers the registry; this one the TLS option")
	}
	conf := testenv.SelfSignedTLS(t)
	s := serve(t, memory.New(), "127.0.0.1:0", conf)
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return newClient(t, s.addr, registry.TLS(conf))
	})
}
