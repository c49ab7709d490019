package consultest_test

import (
	"io"
	"testing"

	"github.com/openmicro/go-micro/registry"

	_ "github.com/openmicro/go-plugins/registry/consul"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// A test starts an agent and points a consul registry at it; the agent
// stops when the test ends. (Start needs a test, so this example is only
// compiled.)
func ExampleStart() {
	_ = func(t *testing.T) {
		agent := consultest.Start(t)
		r, err := registry.Open("consul", registry.Addrs(agent.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer r.(io.Closer).Close()
		// ... register, get, watch ...
	}
}
