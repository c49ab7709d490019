package etcd_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-plugins/registry/etcd"
)

func Example() {
	// An etcd embedded for the example; a program names its cluster with
	// registry.Addrs (or --registry_address).
	addr, stop, err := etcd.StartEmbedded()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	// registry.Open("etcd", ...) needs only a blank import of the package;
	// etcd.NewRegistry(...) is the same.
	r, err := registry.Open("etcd", registry.Addrs(addr), etcd.Prefix("/example/"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.(io.Closer).Close()

	ctx := context.Background()
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
	// The node expires 30s after its latest registration: register it
	// again well within that (the server does, every register interval).
	if err := r.Register(ctx, svc, registry.RegisterTTL(30*time.Second)); err != nil {
		fmt.Println(err)
		return
	}
	services, _ := r.GetService(ctx, "greeter")
	fmt.Println(services[0].Name, services[0].Version, services[0].Nodes[0].Id, services[0].Nodes[0].Address)
	res, _ := w.Next()
	fmt.Println(res.Action, res.Service.Nodes[0].Id)

	_ = r.Deregister(ctx, svc)
	res, _ = w.Next()
	fmt.Println(res.Action, res.Service.Nodes[0].Id)
	// Output:
	// greeter 1.0.0 greeter-1 127.0.0.1:9001
	// create greeter-1
	// delete greeter-1
}
