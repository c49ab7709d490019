package http

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/openmicro/go-micro/transport"
)

func benchHeader() map[string]string {
	return map[string]string{
		"Content-Type":   "application/protobuf",
		"Micro-Service":  "go.micro.srv.greeter",
		"Micro-Endpoint": "Greeter.Hello",
		"Micro-Id":       "1",
	}
}

func benchServe(b *testing.B) (*httpTransport, string) {
	b.Helper()
	tr := newTransport()
	l, err := tr.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		_ = l.Accept(func(s transport.Socket) {
			defer s.Close()
			ctx := context.Background()
			var m transport.Message
			for s.Recv(ctx, &m) == nil {
				if s.Send(ctx, &m) != nil {
					return
				}
			}
		})
	}()
	b.Cleanup(func() {
		_ = tr.Close()
		_ = l.Close()
		<-accepted
	})
	return tr, l.Addr()
}

func unary(ctx context.Context, tr transport.Transport, addr string, req *transport.Message) error {
	s, err := tr.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Send(ctx, req); err != nil {
		return err
	}
	var rsp transport.Message
	return s.Recv(ctx, &rsp)
}

// BenchmarkUnary is one call: Dial, Send, Recv, Close through a listener
// that echoes.
func BenchmarkUnary(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			tr, addr := benchServe(b)
			req := &transport.Message{Header: benchHeader(), Body: make([]byte, size)}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := unary(ctx, tr, addr, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnaryHalfClose is one call shaped like an RPC: the client
// sends the request and half-closes, the handler reads it, replies and
// closes, and the client reads the reply and closes.
func BenchmarkUnaryHalfClose(b *testing.B) {
	tr := newTransport()
	l, err := tr.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		_ = l.Accept(func(s transport.Socket) {
			defer s.Close()
			ctx := context.Background()
			var m transport.Message
			if s.Recv(ctx, &m) == nil {
				_ = s.Send(ctx, &m)
			}
		})
	}()
	b.Cleanup(func() {
		_ = tr.Close()
		_ = l.Close()
		<-accepted
	})
	addr := l.Addr()
	req := &transport.Message{Header: benchHeader(), Body: make([]byte, 16)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := tr.Dial(ctx, addr)
		if err != nil {
			b.Fatal(err)
		}
		var rsp transport.Message
		if err := s.Send(ctx, req); err != nil {
			b.Fatal(err)
		}
		if err := s.CloseSend(); err != nil {
			b.Fatal(err)
		}
		if err := s.Recv(ctx, &rsp); err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
}

// BenchmarkUnaryParallel is BenchmarkUnary from many goroutines over the
// pooled connection.
func BenchmarkUnaryParallel(b *testing.B) { benchUnaryParallel(b, 16*runtime.GOMAXPROCS(0)) }

// BenchmarkUnaryParallel64 is BenchmarkUnary from 64 goroutines, whatever
// GOMAXPROCS is: the concurrency of the RPC performance target.
func BenchmarkUnaryParallel64(b *testing.B) { benchUnaryParallel(b, 64) }

func benchUnaryParallel(b *testing.B, callers int) {
	tr, addr := benchServe(b)
	ctx := context.Background()
	b.ReportAllocs()
	// RunParallel starts parallelism*GOMAXPROCS goroutines.
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		req := &transport.Message{Header: benchHeader(), Body: make([]byte, 16)}
		for pb.Next() {
			if err := unary(ctx, tr, addr, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStream sends messages one way over one stream; the reported
// ns/op is per message.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			tr := newTransport()
			l, err := tr.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			got := make(chan int, 1)
			accepted := make(chan struct{})
			go func() {
				defer close(accepted)
				_ = l.Accept(func(s transport.Socket) {
					defer s.Close()
					n := 0
					var m transport.Message
					for s.Recv(context.Background(), &m) == nil {
						n++
					}
					got <- n
				})
			}()
			b.Cleanup(func() {
				_ = tr.Close()
				_ = l.Close()
				<-accepted
			})
			ctx := context.Background()
			s, err := tr.Dial(ctx, l.Addr())
			if err != nil {
				b.Fatal(err)
			}
			msg := &transport.Message{Header: map[string]string{"Micro-Id": "1"}, Body: make([]byte, size)}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			n := 0
			for b.Loop() {
				if err := s.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
				n++
			}
			_ = s.CloseSend()
			if r := <-got; r != n {
				b.Fatalf("received %d of %d", r, n)
			}
			_ = s.Close()
		})
	}
}
