package client_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/openmicro/go-micro/broker"
	brokermemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/metadata"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/memory"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A call to a node at a known address. The node here is a stand-in for a
// go-micro server, written against the transport to show the wire: it
// reads the request's headers and answers with a JSON body.
func Example() {
	ctx := context.Background()
	tr, err := memory.NewTransport()
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()

	l, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		_ = l.Accept(func(s transport.Socket) {
			defer s.Close()
			var req transport.Message
			if err := s.Recv(ctx, &req); err != nil {
				return
			}
			fmt.Println("server got", req.Header["Micro-Service"], req.Header["Micro-Endpoint"],
				req.Header["Content-Type"], "user", req.Header["X-User"], "body", strings.TrimSpace(string(req.Body)))
			_ = s.Send(ctx, &transport.Message{
				Header: map[string]string{"Content-Type": "application/json"},
				Body:   []byte(`{"msg":"hello John"}`),
			})
		})
	}()

	c, err := client.New(client.Transport(tr))
	if err != nil {
		log.Fatal(err)
	}
	var rsp struct {
		Msg string `json:"msg"`
	}
	ctx = metadata.Set(ctx, "x-user", "42") // travels as the header X-User
	req := c.NewRequest("greeter", "Say.Hello", map[string]string{"name": "John"})
	if err := c.Call(ctx, req, &rsp, client.WithAddress(l.Addr())); err != nil {
		log.Fatal(err)
	}
	fmt.Println("client got", rsp.Msg)
	// Output:
	// server got greeter Say.Hello application/json user 42 body {"name":"John"}
	// client got hello John
}

// Errors come back as *errors.Error with their code: here the registry
// has no service of that name.
func ExampleClient_Call_notFound() {
	tr, err := memory.NewTransport()
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	sel, err := selector.New(selector.Registry(regmemory.New()))
	if err != nil {
		log.Fatal(err)
	}
	defer sel.Close()
	c, err := client.New(client.Transport(tr), client.Selector(sel))
	if err != nil {
		log.Fatal(err)
	}
	err = c.Call(context.Background(), c.NewRequest("greeter", "Say.Hello", wrapperspb.String("John")), nil)
	e := errors.FromError(err)
	fmt.Println(e.Code, e.Detail)
	// Output:
	// 404 service "greeter" not found
}

// Requests choose their content type from the body unless told.
func ExampleNewRequest() {
	fmt.Println(client.NewRequest("greeter", "Say.Hello", wrapperspb.String("John")).ContentType())
	fmt.Println(client.NewRequest("greeter", "Say.Hello", map[string]string{"name": "John"}).ContentType())
	fmt.Println(client.NewRequest("greeter", "Say.Hello", nil, client.WithContentType("application/json-rpc")).ContentType())
	// Output:
	// application/protobuf
	// application/json
	// application/json-rpc
}

// Which failures the default retry policy retries.
func ExampleRetryOnError() {
	ctx := context.Background()
	for _, err := range []error{
		errors.ServiceUnavailable("go.micro.client", "node went away"),
		errors.Timeout("greeter", "too slow"),
		errors.NotFound("greeter", "no such user"),
		errors.RequestEntityTooLarge("go.micro.client", "too big"),
	} {
		fmt.Println(errors.Code(err), client.RetryOnError(ctx, nil, 1, err))
	}
	// Output:
	// 503 true
	// 408 true
	// 404 false
	// 413 false
}

// Publish encodes the payload and hands it to the broker with the
// protocol's headers.
func ExampleClient_Publish() {
	ctx := context.Background()
	b := brokermemory.New()
	if err := b.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.Disconnect(ctx)
	got := make(chan *broker.Message, 1)
	if _, err := b.Subscribe(ctx, "events.greeted", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	tr, err := memory.NewTransport()
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	c, err := client.New(client.Transport(tr), client.Broker(b))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Publish(ctx, c.NewMessage("events.greeted", map[string]string{"name": "John"})); err != nil {
		log.Fatal(err)
	}
	m := <-got
	fmt.Println(m.Header["Micro-Topic"], m.Header["Content-Type"], strings.TrimSpace(string(m.Body)))
	// Output:
	// events.greeted application/json {"name":"John"}
}
