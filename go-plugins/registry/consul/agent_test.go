package consul

import (
	"strconv"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// The tests run real consul agents from package consultest: `consul agent
// -dev` on free loopback ports, one per test that needs its own (the
// conformance suite shares one), stopped when the test ends.

// eventually polls cond until it returns nil, failing the test after d.
func eventually(t testing.TB, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v: %v", what, d, err)
		}
		timer := time.NewTimer(20 * time.Millisecond)
		select {
		case <-timer.C:
		case <-t.Context().Done():
			timer.Stop()
			t.Fatalf("%s: test ended: %v", what, err)
		}
	}
}

// testRegistry returns a registry of the agent at addr, closed when the
// test ends.
func testRegistry(t testing.TB, addr string, opts ...registry.Option) *consulRegistry {
	t.Helper()
	r, err := NewRegistry(append([]registry.Option{registry.Addrs(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.(*consulRegistry).Close() })
	return r.(*consulRegistry)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(consultest.FreePorts(t, 1)[0])
}
