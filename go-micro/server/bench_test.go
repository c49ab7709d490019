package server_test

import (
	"context"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/transport"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkUnary measures one call over the memory transport, client side
// included (dial, encode, send, receive, decode).
func BenchmarkUnary(b *testing.B) {
	cases := []struct {
		name, ct, endpoint string
		req                any
		rsp                func() any
	}{
		{"json", "application/json", "Greeter.Hello", &Request{Name: "bench"}, func() any { return new(Response) }},
		{"proto", "application/protobuf", "Greeter.Proto", wrapperspb.String("bench"), func() any { return new(wrapperspb.StringValue) }},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b)
			addr := f.start()
			cd, err := rpcwire.NewCodec(bc.ct)
			if err != nil {
				b.Fatal(err)
			}
			body, err := cd.Encode(&codec.Message{Type: codec.Request, Endpoint: bc.endpoint}, bc.req)
			if err != nil {
				b.Fatal(err)
			}
			hdr := map[string]string{
				rpcwire.ContentType: bc.ct,
				rpcwire.Service:     testService,
				rpcwire.Endpoint:    bc.endpoint,
				rpcwire.Id:          "1",
			}
			msg := &transport.Message{Header: hdr, Body: body}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				sock, err := f.tr.Dial(ctx, addr)
				if err != nil {
					b.Fatal(err)
				}
				if err := sock.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
				_ = sock.CloseSend()
				var in transport.Message
				if err := sock.Recv(ctx, &in); err != nil {
					b.Fatal(err)
				}
				if in.Header[rpcwire.Error] != "" {
					b.Fatal(in.Header[rpcwire.Error])
				}
				var env codec.Message
				if err := cd.Decode(in.Body, &env, codec.Response, bc.rsp()); err != nil {
					b.Fatal(err)
				}
				_ = sock.Close()
			}
		})
	}
}
