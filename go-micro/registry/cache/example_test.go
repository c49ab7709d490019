package cache_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/cache"
	"github.com/openmicro/go-micro/registry/memory"
)

func Example() {
	ctx := context.Background()
	r := memory.New()
	_ = r.Register(ctx, &registry.Service{
		Name:  "greeter",
		Nodes: []*registry.Node{{Id: "greeter-1", Address: "127.0.0.1:9001"}},
	})

	c := cache.New(r)
	defer c.Close() // stops the watch started by GetService

	// The first call fetches and starts watching "greeter"; later calls
	// are answered from memory.
	for range 2 {
		ss, err := c.GetService(ctx, "greeter")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ss[0].Nodes[0].Address)
	}

	// Registering through the cache is visible at once.
	_ = c.Register(ctx, &registry.Service{
		Name:  "greeter",
		Nodes: []*registry.Node{{Id: "greeter-2", Address: "127.0.0.1:9002"}},
	})
	ss, _ := c.GetService(ctx, "greeter")
	fmt.Println(len(ss[0].Nodes), "nodes")
	// Output:
	// 127.0.0.1:9001
	// 127.0.0.1:9001
	// 2 nodes
}
