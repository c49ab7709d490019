package client_test

import (
	"context"
	"testing"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/internal/shared"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
)

// A call no wrapper sees reads the default selector's own nodes; a call
// wrapper gets a copy it may change without touching what the selector
// hands out next.
func TestCallWrappersGetOwnNodes(t *testing.T) {
	tr := newTransport(t, transports[0].new)
	addr := serve(t, tr, unary(greet))
	reg := memory.New()
	node := &registry.Node{Id: "g1", Address: addr, Metadata: map[string]string{"k": "v"}}
	if err := reg.Register(t.Context(), &registry.Service{Name: "greeter", Version: "1", Nodes: []*registry.Node{node}}); err != nil {
		t.Fatal(err)
	}
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })
	if _, ok := sel.(shared.Selector); !ok {
		t.Fatalf("the default selector %T does not implement shared.Selector", sel)
	}
	scribble := func(next client.CallFunc) client.CallFunc {
		return func(ctx context.Context, n *registry.Node, req client.Request, rsp any, opts client.CallOptions) error {
			n.Metadata["k"] = "changed by a wrapper"
			n.Id = "renamed"
			return next(ctx, n, req, rsp, opts)
		}
	}
	check := func(t *testing.T) {
		t.Helper()
		next, err := sel.Select(t.Context(), "greeter")
		if err != nil {
			t.Fatal(err)
		}
		n, err := next()
		if err != nil {
			t.Fatal(err)
		}
		if n.Id != "g1" || n.Metadata["k"] != "v" {
			t.Fatalf("the selector hands out %+v after a wrapper changed its node", n)
		}
	}
	call := func(t *testing.T, c client.Client, opts ...client.CallOption) {
		t.Helper()
		var rsp helloResponse
		if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "Ann"}), &rsp, opts...); err != nil {
			t.Fatal(err)
		}
		if rsp.Msg != "hello Ann" {
			t.Fatalf("got %q", rsp.Msg)
		}
	}
	t.Run("no wrapper", func(t *testing.T) {
		call(t, newClient(t, client.Transport(tr), client.Selector(sel)))
		check(t)
	})
	t.Run("client wrapper", func(t *testing.T) {
		call(t, newClient(t, client.Transport(tr), client.Selector(sel), client.WrapCall(scribble)))
		check(t)
	})
	t.Run("call wrapper", func(t *testing.T) {
		call(t, newClient(t, client.Transport(tr), client.Selector(sel)), client.WithCallWrapper(scribble))
		check(t)
	})
}
