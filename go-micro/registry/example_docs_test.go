package registry_test

import (
	"errors"
	"fmt"

	"github.com/openmicro/go-micro/registry"
	_ "github.com/openmicro/go-micro/registry/memory" // registers "memory"
)

// Implementations register a factory under a name; a program picks one by
// name, as a --registry flag would.
func ExampleOpen() {
	r, err := registry.Open("memory")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.String(), registry.Names())

	_, err = registry.Open("etcd")
	fmt.Println(err)
	// Output:
	// memory [memory]
	// registry: unknown registry "etcd" (registered: memory; forgotten import?)
}

// Validate is what every implementation checks first in Register and
// Deregister.
func ExampleValidate() {
	for _, s := range []*registry.Service{
		{Name: "greeter", Nodes: []*registry.Node{{Id: "greeter-1", Address: "127.0.0.1:9001"}}},
		{Name: "greeter"},
		{Name: "greeter", Nodes: []*registry.Node{{Id: "a"}, {Id: "a"}}},
	} {
		err := registry.Validate(s)
		fmt.Println(errors.Is(err, registry.ErrInvalidService), err)
	}
	// Output:
	// false <nil>
	// true registry: invalid service: service "greeter" has no nodes
	// true registry: invalid service: service "greeter": node id "a" given twice
}
