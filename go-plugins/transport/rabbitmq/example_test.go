package rabbitmq_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/openmicro/go-micro/transport"

	"github.com/openmicro/go-plugins/transport/rabbitmq"
)

// A transport built by name, as --transport=rabbitmq does. Nothing is
// dialled before the first Dial or Listen.
func Example() {
	tr, err := transport.Open("rabbitmq", transport.Addrs("amqp://guest:guest@127.0.0.1:5672/"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	fmt.Println(tr)
	// Output: rabbitmq
}

// A transport built with the plugin's own options.
func ExampleNewTransport() {
	tr, err := rabbitmq.NewTransport(
		transport.Addrs("amqp://guest:guest@rabbit-a:5672/", "rabbit-b:5672"), // tried in order
		transport.Timeout(3*time.Second),
		transport.MaxMessageSize(1<<20),
		rabbitmq.ConnectionName("greeter"),
		rabbitmq.ProbeInterval(2*time.Second),
		rabbitmq.Heartbeat(5*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	fmt.Println(tr)
	// Output: rabbitmq
}

// A stream through a RabbitMQ server on 127.0.0.1:5672: Listen declares a
// queue, whose name is the address to Dial (this example is compiled, not
// run, as it needs the server).
func Example_stream() {
	ctx := context.Background()
	tr, err := rabbitmq.NewTransport()
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()

	l, err := tr.Listen(ctx, "127.0.0.1:0") // host:port: the queue gets a unique name
	if err != nil {
		log.Fatal(err)
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
		log.Fatal(err) // rabbitmq.ErrNoListener when the queue does not exist
	}
	defer s.Close()
	_ = s.Send(ctx, &transport.Message{Header: map[string]string{"Micro-Id": "1"}, Body: []byte("micro")})
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Header["Micro-Id"], string(m.Body))
}
