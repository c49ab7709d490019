package e2e

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/openmicro/go-micro/registry/memory"
)

// BenchmarkCall is one unary call (JSON, a small request and response)
// from a client to a server over loopback TCP with the http transport.
func BenchmarkCall(b *testing.B) {
	reg := memory.New()
	startGreeter(b, reg, "greeter", "greeter-a")
	waitNodes(b, reg, "greeter", 1)
	c := newClient(b, reg)
	req := c.NewRequest("greeter", "Say.Hello", &HelloRequest{Name: "bench"})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var rsp HelloResponse
		if err := c.Call(ctx, req, &rsp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallel is BenchmarkCall from GOMAXPROCS*16 goroutines at
// once over the same client.
func BenchmarkCallParallel(b *testing.B) {
	reg := memory.New()
	startGreeter(b, reg, "greeter", "greeter-a")
	waitNodes(b, reg, "greeter", 1)
	c := newClient(b, reg)
	req := c.NewRequest("greeter", "Say.Hello", &HelloRequest{Name: "bench"})
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var rsp HelloResponse
			if err := c.Call(context.Background(), req, &rsp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStream is one message each way over an open stream (the client
// sends while it receives the echoes).
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			reg := memory.New()
			startGreeter(b, reg, "greeter", "greeter-a")
			waitNodes(b, reg, "greeter", 1)
			c := newClient(b, reg)
			stream, err := c.Stream(context.Background(), c.NewRequest("greeter", "Say.Stream", nil))
			if err != nil {
				b.Fatal(err)
			}
			defer stream.Close()
			msg := &HelloRequest{Name: fmt.Sprintf("%0*d", size, 0)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			n := b.N
			sendErr := make(chan error, 1)
			go func() {
				for range n {
					if err := stream.Send(msg); err != nil {
						sendErr <- err
						return
					}
				}
				sendErr <- stream.CloseSend()
			}()
			var rsp HelloResponse
			for range n {
				if err := stream.Recv(&rsp); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-sendErr; err != nil {
				b.Fatal(err)
			}
			if err := stream.Recv(&rsp); err != io.EOF {
				b.Fatalf("end: %v", err)
			}
		})
	}
}
