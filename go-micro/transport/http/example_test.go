package http_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/transport"
	_ "github.com/openmicro/go-micro/transport/http"
)

func Example() {
	tr, err := transport.Open("http")
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
		var m transport.Message
		for s.Recv(ctx, &m) == nil {
			m.Body = append([]byte("hello "), m.Body...)
			_ = s.Send(ctx, &m)
		}
	})

	s, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	_ = s.Send(ctx, &transport.Message{Header: map[string]string{"Micro-Id": "1"}, Body: []byte("micro")})
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Header["Micro-Id"], string(m.Body))
	// Output: 1 hello micro
}
