package consul_test

import (
	"fmt"
	"io"
	"time"

	"github.com/openmicro/go-micro/registry"

	"github.com/openmicro/go-plugins/registry/consul"
)

// A registry built by name, as --registry=consul does, and one built
// directly with the plugin's options. Neither dials until it is used.
func Example() {
	byName, err := registry.Open("consul", registry.Addrs("127.0.0.1:8500"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer byName.(io.Closer).Close()

	r, err := consul.NewRegistry(
		registry.Addrs("127.0.0.1:8500"),
		registry.Timeout(5*time.Second),
		consul.Token("my-acl-token"),
		consul.Datacenter("dc1"),
		consul.KeepaliveTTL(15*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.(io.Closer).Close()
	fmt.Println(byName, r)
	// Output: consul consul
}
