package memory_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

// A registration that changes nothing (a heartbeat) yields no event; one
// that changes a node's address or metadata yields Update; a new node
// yields Create.
func Example_events() {
	ctx := context.Background()
	r := memory.New()
	w, err := r.Watch(ctx, registry.WatchService("greeter"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()

	node := func(id, addr string) *registry.Service {
		return &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{{Id: id, Address: addr}}}
	}
	_ = r.Register(ctx, node("a", "127.0.0.1:9001"))   // create a
	_ = r.Register(ctx, node("a", "127.0.0.1:9001"))   // heartbeat: no event
	_ = r.Register(ctx, node("a", "127.0.0.1:9002"))   // update a
	_ = r.Register(ctx, node("b", "127.0.0.1:9003"))   // create b
	_ = r.Deregister(ctx, node("a", ""))               // delete a
	_ = r.Deregister(ctx, node("nobody", ""))          // unknown node: no event
	_ = r.Deregister(ctx, node("b", "127.0.0.1:9003")) // delete b

	for range 5 {
		res, err := w.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		n := res.Service.Nodes[0]
		fmt.Println(res.Action, n.Id, n.Address)
	}
	// Output:
	// create a 127.0.0.1:9001
	// update a 127.0.0.1:9002
	// create b 127.0.0.1:9003
	// delete a 127.0.0.1:9002
	// delete b 127.0.0.1:9003
}
