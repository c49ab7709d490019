// Command selector shows a custom selector filter: two instances of one
// service run in different regions (node metadata "region"), and the
// client sends its calls only to the nodes of the region it prefers,
// falling back to every node when that region has none.
//
//	go run ./selector --region eu
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
	trmemory "github.com/openmicro/go-micro/transport/memory"
)

// Request and Response of the Where.Am endpoint.
type Request struct{}

type Response struct {
	Region string `json:"region"`
}

// Where answers with the region of the node that served the call.
type Where struct{ region string }

func (w *Where) Am(ctx context.Context, req *Request, rsp *Response) error {
	rsp.Region = w.region
	return nil
}

// PreferRegion is a selector.Filter that keeps the nodes whose "region"
// metadata is region; when no node is there it keeps them all, so calls
// still succeed.
func PreferRegion(region string) selector.Filter {
	return func(services []*registry.Service) []*registry.Service {
		var out []*registry.Service
		for _, s := range services {
			var nodes []*registry.Node
			for _, n := range s.Nodes {
				if n.Metadata["region"] == region {
					nodes = append(nodes, n)
				}
			}
			if len(nodes) > 0 {
				c := *s // filters must not change what they are given
				c.Nodes = nodes
				out = append(out, &c)
			}
		}
		if len(out) == 0 {
			return services
		}
		return out
	}
}

func main() {
	region := flag.String("region", "eu", "the region to prefer")
	calls := flag.Int("calls", 5, "how many calls to make")
	flag.Parse()
	if err := run(context.Background(), *region, *calls, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "selector:", err)
		os.Exit(1)
	}
}

// run starts one node in "eu" and one in "us", then calls the service
// calls times preferring region, printing which region answered.
func run(ctx context.Context, region string, calls int, out io.Writer) error {
	reg := memory.New()
	tr, err := trmemory.NewTransport()
	if err != nil {
		return err
	}
	defer tr.Close()
	for _, r := range []string{"eu", "us"} {
		stop, err := start(ctx, reg, tr, r)
		if err != nil {
			return err
		}
		defer stop()
	}

	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		return err
	}
	defer sel.Close()
	c, err := client.New(client.Selector(sel), client.Transport(tr))
	if err != nil {
		return err
	}
	for range calls {
		var rsp Response
		err := c.Call(ctx, c.NewRequest("where", "Where.Am", &Request{}), &rsp,
			client.WithSelectOption(selector.WithFilter(PreferRegion(region))))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "answered from %s\n", rsp.Region)
	}
	return nil
}

// start runs a node of the "where" service in region.
func start(ctx context.Context, reg registry.Registry, tr transport.Transport, region string) (func(), error) {
	srv, err := server.New(
		server.Name("where"),
		server.Id("where-"+region),
		server.Metadata(map[string]string{"region": region}),
		server.Registry(reg),
		server.Transport(tr),
	)
	if err != nil {
		return nil, err
	}
	if err := srv.Handle(srv.NewHandler(&Where{region: region})); err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	}, nil
}
