package selector_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
)

func Example() {
	ctx := context.Background()
	r := memory.New()
	_ = r.Register(ctx, &registry.Service{
		Name:    "greeter",
		Version: "1.0",
		Nodes: []*registry.Node{
			{Id: "greeter-1", Address: "127.0.0.1:9001"},
			{Id: "greeter-2", Address: "127.0.0.1:9002"},
			{Id: "greeter-3", Address: "127.0.0.1:9003"},
		},
	})

	s, err := selector.New(selector.Registry(r), selector.SetStrategy(selector.RoundRobin))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// Each Select starts one node further; Next gives the nodes left to
	// retry on, then ErrNoneAvailable.
	for range 2 {
		next, err := s.Select(ctx, "greeter")
		if err != nil {
			fmt.Println(err)
			return
		}
		var tried []string
		for {
			node, err := next()
			if errors.Is(err, selector.ErrNoneAvailable) {
				break
			}
			tried = append(tried, node.Address)
		}
		fmt.Println(strings.Join(tried, " "))
	}

	_, err = s.Select(ctx, "nobody")
	fmt.Println(errors.Is(err, selector.ErrNotFound), err)
	// Output:
	// 127.0.0.1:9001 127.0.0.1:9002 127.0.0.1:9003
	// 127.0.0.1:9002 127.0.0.1:9003 127.0.0.1:9001
	// true selector: service not found: nobody
}

func ExampleHash() {
	ctx := context.Background()
	r := memory.New()
	_ = r.Register(ctx, &registry.Service{
		Name: "cart",
		Nodes: []*registry.Node{
			{Id: "cart-1", Address: "127.0.0.1:9001"},
			{Id: "cart-2", Address: "127.0.0.1:9002"},
			{Id: "cart-3", Address: "127.0.0.1:9003"},
		},
	})
	s, err := selector.Open("hash", selector.Registry(r))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// The same key goes to the same node on every call and in every
	// process, as long as that node is registered and not blacklisted.
	seen := map[string]bool{}
	for range 10 {
		next, _ := s.Select(ctx, "cart", selector.WithKey("user-42"))
		node, _ := next()
		seen[node.Id] = true
	}
	fmt.Println(len(seen), "node for user-42")
	// Output: 1 node for user-42
}

func ExampleFilterMetadata() {
	ctx := context.Background()
	r := memory.New()
	_ = r.Register(ctx, &registry.Service{
		Name: "greeter",
		Nodes: []*registry.Node{
			{Id: "a", Address: "127.0.0.1:9001", Metadata: map[string]string{"zone": "eu"}},
			{Id: "b", Address: "127.0.0.1:9002", Metadata: map[string]string{"zone": "us"}},
		},
	})
	s, _ := selector.New(selector.Registry(r))
	defer s.Close()

	next, _ := s.Select(ctx, "greeter", selector.WithFilter(selector.FilterMetadata("zone", "us")))
	node, _ := next()
	fmt.Println(node.Address)
	// Output: 127.0.0.1:9002
}
