package selector_test

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
)

// Mark feeds call outcomes back: a node that fails BlacklistThreshold times
// in a row (3 by default) is skipped for BlacklistPeriod (30s by default);
// Reset forgets the marks of a service.
func Example_blacklist() {
	ctx := context.Background()
	r := memory.New()
	_ = r.Register(ctx, &registry.Service{
		Name: "greeter",
		Nodes: []*registry.Node{
			{Id: "a", Address: "127.0.0.1:9001"},
			{Id: "b", Address: "127.0.0.1:9002"},
		},
	})
	s, err := selector.New(selector.Registry(r))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	usable := func() {
		next, err := s.Select(ctx, "greeter")
		if err != nil {
			fmt.Println(errors.Is(err, selector.ErrNoneAvailable), err)
			return
		}
		var ids []string
		for n, err := next(); err == nil; n, err = next() {
			ids = append(ids, n.Id)
		}
		slices.Sort(ids)
		fmt.Println(ids)
	}

	failed := errors.New("connection refused")
	for range 3 {
		s.Mark("greeter", &registry.Node{Id: "a"}, failed)
	}
	usable()
	for range 3 {
		s.Mark("greeter", &registry.Node{Id: "b"}, failed)
	}
	usable()
	s.Reset("greeter")
	usable()
	// Output:
	// [b]
	// true selector: no node available: greeter: every node blacklisted
	// [a b]
}
