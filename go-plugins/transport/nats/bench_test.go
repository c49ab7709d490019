package nats

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/transport"
)

// benchServer starts an echo listener on its own transport and returns a
// client transport and the listener's address.
func benchServer(b *testing.B) (*natsTransport, string) {
	addr := outsideAddr(b)
	srv := newTestTransport(b, addr)
	l, err := srv.Listen(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		_ = l.Accept(func(s transport.Socket) {
			defer func() { _ = s.Close() }()
			ctx := context.Background()
			for {
				var m transport.Message
				if s.Recv(ctx, &m) != nil || s.Send(ctx, &m) != nil {
					_ = s.CloseSend()
					return
				}
			}
		})
	}()
	b.Cleanup(func() { _ = l.Close(); <-accepted })
	return newTestTransport(b, addr), l.Addr()
}

// BenchmarkUnary is one call as go-micro's client makes it: Dial, Send,
// CloseSend, Recv, Close.
func BenchmarkUnary(b *testing.B) {
	client, addr := benchServer(b)
	msg := &transport.Message{Header: map[string]string{"Micro-Endpoint": "Say.Hello"}, Body: make([]byte, 64)}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := client.Dial(ctx, addr)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			if err := s.CloseSend(); err != nil {
				b.Fatal(err)
			}
			var m transport.Message
			if err := s.Recv(ctx, &m); err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
		}
	})
}

// BenchmarkStream sends messages one way over one stream and reads their
// echoes on another goroutine.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			client, addr := benchServer(b)
			ctx := context.Background()
			s, err := client.Dial(ctx, addr)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			msg := &transport.Message{Body: make([]byte, size)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan error, 1)
			go func() {
				for range b.N {
					var m transport.Message
					if err := s.Recv(ctx, &m); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for range b.N {
				if err := s.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil && err != io.EOF {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkGoMicroCall is a go-micro unary call over the transport.
func BenchmarkGoMicroCall(b *testing.B) {
	addr := outsideAddr(b)
	reg := memory.New()
	srvT, cliT := newTestTransport(b, addr), newTestTransport(b, addr)
	startGreeter(b, reg, srvT)
	c := newClient(b, reg, cliT)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := hello(ctx, c, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
