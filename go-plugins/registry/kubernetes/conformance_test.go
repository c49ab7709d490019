package kubernetes

import (
	"testing"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/registrytest"
	"k8s.io/client-go/kubernetes/fake"
)

// TestConformance runs the registry conformance suite, TTL included,
// against client-go's fake clientset: no API server can run here. All
// subtests share one clientset, as pods share an API server, and each
// registers on a ready pod of its own.
func TestConformance(t *testing.T) {
	cs := fake.NewClientset()
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		return podRegistry(t, cs)
	})
}

// TestConformanceOnePod runs the suite with every subtest using one
// registry, so that everything lands on one pod, as the services of one
// process do.
func TestConformanceOnePod(t *testing.T) {
	cs := fake.NewClientset(readyPod("shared"))
	r := newRegistry(t, cs, "shared")
	registrytest.Run(t, func(t *testing.T) registry.Registry { return r })
}
