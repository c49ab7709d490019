package rpcbench

import (
	"testing"
)

// The Go benchmarks are for profiling one system at a time
// (go test -bench Chat/go-micro -cpuprofile cpu.out); the comparison
// table comes from cmd/bench.

func BenchmarkEcho(b *testing.B) {
	for _, sys := range Systems {
		b.Run(sys, func(b *testing.B) {
			c := serveAndDial(b, sys)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Echo(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkChat(b *testing.B) {
	for _, sys := range Systems {
		b.Run(sys, func(b *testing.B) {
			c := serveAndDial(b, sys)
			ch, err := c.Chat(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			defer ch.Close()
			b.ReportAllocs()
			n := b.N
			errc := make(chan error, 1)
			go func() {
				for range n {
					if err := ch.Send(); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			for range n {
				if err := ch.Recv(); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func serveAndDial(b *testing.B, sys string) Conn {
	srv, err := Serve(b.Context(), sys, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopServer(srv) })
	c, err := Dial(sys, srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
