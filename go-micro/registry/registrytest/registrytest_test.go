package registrytest_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunOptions runs the suite over the memory registry with every option,
// a short TTL and all registries sharing one backend, as a plugin's would.
func TestRunOptions(t *testing.T) {
	shared := memory.New()
	tests := []struct {
		name string
		opts []registrytest.Option
	}{
		{"short TTL, shared registry", []registrytest.Option{registrytest.TTL(200 * time.Millisecond), registrytest.Wait(20 * time.Second)}},
		{"without TTL", []registrytest.Option{registrytest.WithoutTTL()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registrytest.Run(t, func(t *testing.T) registry.Registry { return shared }, tc.opts...)
		})
	}
}
