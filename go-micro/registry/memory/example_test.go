package memory_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

func Example() {
	ctx := context.Background()
	r := memory.New()

	w, err := r.Watch(ctx, registry.WatchService("greeter"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()

	svc := &registry.Service{
		Name:    "greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{Id: "greeter-1", Address: "127.0.0.1:9001"}},
	}
	if err := r.Register(ctx, svc); err != nil {
		fmt.Println(err)
		return
	}

	services, err := r.GetService(ctx, "greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range services {
		fmt.Println(s.Name, s.Version, s.Nodes[0].Address)
	}

	res, err := w.Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Action, res.Service.Nodes[0].Id)

	if err := r.Deregister(ctx, svc); err != nil {
		fmt.Println(err)
		return
	}
	res, err = w.Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Action, res.Service.Nodes[0].Id)

	// Output:
	// greeter 1.0.0 127.0.0.1:9001
	// create greeter-1
	// delete greeter-1
}
