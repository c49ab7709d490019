package client_test

import (
	"testing"

	"github.com/openmicro/go-micro/client"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkCall measures a unary call over transport/memory to a fake echo
// server in the same process (so allocs/op include the server's side):
// selector, headers, codec, dial, send, receive and decode.
func BenchmarkCall(b *testing.B) {
	tr := newMemory(b)
	addr := serve(b, tr, unary(echo))
	c := newClient(b, client.Transport(tr), client.Selector(newFakeSelector(addr)))
	cases := []struct {
		name     string
		req      client.Request
		rsp      func() any
		parallel bool
	}{
		{"proto", c.NewRequest("greeter", "Say.Hello", wrapperspb.String("John")), func() any { return new(wrapperspb.StringValue) }, false},
		{"json", c.NewRequest("greeter", "Say.Hello", &helloRequest{Name: "John"}), func() any { return new(helloRequest) }, false},
		{"proto/parallel", c.NewRequest("greeter", "Say.Hello", wrapperspb.String("John")), func() any { return new(wrapperspb.StringValue) }, true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					rsp := bc.rsp()
					for pb.Next() {
						if err := c.Call(b.Context(), bc.req, rsp); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			rsp := bc.rsp()
			for b.Loop() {
				if err := c.Call(b.Context(), bc.req, rsp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
