package memory_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/memory"
)

// CloseSend half-closes a stream: the peer reads what was sent, then
// io.EOF, and can still answer.
func Example_halfClose() {
	tr, err := memory.NewTransport()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	ctx := context.Background()
	l, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go l.Accept(func(s transport.Socket) {
		defer s.Close()
		n := 0
		var m transport.Message
		for {
			err := s.Recv(ctx, &m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
			n++
		}
		_ = s.Send(ctx, &transport.Message{Body: fmt.Appendf(nil, "got %d messages", n)})
	})

	s, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for range 3 {
		_ = s.Send(ctx, &transport.Message{Body: []byte("part")})
	}
	_ = s.CloseSend()
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Body))
	fmt.Println(s.Recv(ctx, &m) == io.EOF) // the listener closed its side
	// Output:
	// got 3 messages
	// true
}
