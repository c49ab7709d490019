package rabbitmq

import (
	"context"
	"io"
	"testing"

	"github.com/openmicro/go-micro/transport"
)

// BenchmarkUnary measures one request and answer on a new stream, the
// shape of a go-micro call: Dial, Send, CloseSend, Recv, Recv (EOF),
// Close.
func BenchmarkUnary(b *testing.B) {
	srv := newTestTransport(b)
	cli := newTestTransport(b)
	l, err := srv.Listen(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go l.Accept(func(s transport.Socket) {
		defer s.Close()
		var m transport.Message
		if s.Recv(context.Background(), &m) == nil {
			_ = s.Send(context.Background(), &m)
		}
	})
	ctx := b.Context()
	req := &transport.Message{Header: map[string]string{"Micro-Endpoint": "Say.Hello"}, Body: make([]byte, 128)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := cli.Dial(ctx, l.Addr())
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Send(ctx, req); err != nil {
				b.Fatal(err)
			}
			_ = s.CloseSend()
			var m transport.Message
			if err := s.Recv(ctx, &m); err != nil {
				b.Fatal(err)
			}
			if err := s.Recv(ctx, &m); err != io.EOF {
				b.Fatal(err)
			}
			_ = s.Close()
		}
	})
}

// BenchmarkStream measures one-way throughput of 1 KiB messages on one
// stream.
func BenchmarkStream(b *testing.B) {
	srv := newTestTransport(b)
	cli := newTestTransport(b)
	l, err := srv.Listen(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	done := make(chan int, 1)
	go l.Accept(func(s transport.Socket) {
		defer s.Close()
		n := 0
		var m transport.Message
		for s.Recv(context.Background(), &m) == nil {
			n++
		}
		done <- n
	})
	ctx := b.Context()
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := &transport.Message{Header: map[string]string{"Seq": "1234"}, Body: make([]byte, 60)}
	b.SetBytes(int64(messageSize(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	_ = s.CloseSend()
	<-done
}
