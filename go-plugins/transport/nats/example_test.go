package nats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	micro "github.com/openmicro/go-micro"
	brokermem "github.com/openmicro/go-micro/broker/memory"
	regmem "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/transport"

	"github.com/openmicro/go-plugins/transport/nats"
)

// startNATS runs a NATS server in the process, so that the examples need
// nothing outside; a real deployment points transport.Addrs at its own.
func startNATS() (url string, stop func(), err error) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		return "", nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return "", nil, errors.New("nats server did not start")
	}
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown() }, nil
}

// A listener and a stream over NATS, as go-micro's server and client use
// them. The listener's address is a subject, which the server registers
// and clients dial; no TCP port is opened.
func Example() {
	url, stop, err := startNATS()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	tr, err := nats.NewTransport(transport.Addrs(url))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	ctx := context.Background()

	// A host:port address, such as the server's default, becomes a fresh
	// subject.
	l, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listening on a subject:", strings.HasPrefix(l.Addr(), "micro.transport."))
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			var m transport.Message
			for s.Recv(ctx, &m) == nil {
				m.Body = append([]byte("echo: "), m.Body...)
				if s.Send(ctx, &m) != nil {
					return
				}
			}
		})
	}()

	s, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{Header: map[string]string{"Micro-Id": "1"}, Body: []byte("hello")}); err != nil {
		fmt.Println(err)
		return
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Body), m.Header["Micro-Id"])

	// Nothing listens there any more: the server says so at once.
	_ = l.Close()
	<-accepted
	_, err = tr.Dial(ctx, l.Addr())
	fmt.Println("no listener:", errors.Is(err, natsgo.ErrNoResponders))
	// Output:
	// listening on a subject: true
	// echo: hello 1
	// no listener: true
}

// The transport built directly, with the generic options and the
// plugin's own.
func ExampleNewTransport() {
	url, stop, err := startNATS()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	tr, err := nats.NewTransport(
		transport.Addrs(url),                  // default nats://127.0.0.1:4222
		transport.Timeout(5*time.Second),      // connect and Dial handshake
		transport.MaxMessageSize(8<<20),       // larger messages go in chunks
		nats.Window(2<<20),                    // credit per stream
		nats.Keepalive(15*time.Second),        // find vanished peers
		nats.SubjectPrefix("acme.rpc"),        // subjects Listen picks
		nats.ConnOptions(natsgo.Name("acme")), // credentials, tokens, ...
		nats.Logger(slog.Default()),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	fmt.Println(tr)
	// Output: nats
}

type HelloRequest struct{ Name string }
type HelloResponse struct{ Greeting string }

type Greeter struct{}

func (Greeter) Hello(_ context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Greeting = "Hello, " + req.Name
	return nil
}

// A go-micro service that picks the transport by name, as
// --transport=nats --transport_address=... on its command line do. It
// answers a call made by its own client, over NATS.
func Example_service() {
	url, stop, err := startNATS()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := regmem.New()

	var service micro.Service
	service = micro.NewService(
		micro.Name("greeter"),
		micro.Args([]string{"greeter", "--transport=nats", "--transport_address=" + url}),
		micro.Registry(reg),
		micro.Broker(brokermem.New()),
		micro.Context(ctx),
		micro.Logger(slog.New(slog.DiscardHandler)),
		micro.AfterStart(func() error {
			services, err := reg.GetService(ctx, "greeter")
			if err != nil {
				return err
			}
			node := services[0].Nodes[0]
			fmt.Println("registered a subject:", strings.HasPrefix(node.Address, "micro.transport."), node.Metadata["transport"])
			cl := service.Client()
			var rsp HelloResponse
			if err := cl.Call(ctx, cl.NewRequest("greeter", "Greeter.Hello", &HelloRequest{Name: "John"}), &rsp); err != nil {
				return err
			}
			fmt.Println(rsp.Greeting)
			cancel() // stop, as SIGTERM would
			return nil
		}),
	)
	if err := service.Init(); err != nil {
		fmt.Println(err)
		return
	}
	srv := service.Server()
	if err := srv.Handle(srv.NewHandler(Greeter{})); err != nil {
		fmt.Println(err)
		return
	}
	if err := service.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// registered a subject: true nats
	// Hello, John
}
