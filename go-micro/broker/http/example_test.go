package http_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/broker"
	httpbroker "github.com/openmicro/go-micro/broker/http"
	"github.com/openmicro/go-micro/registry/memory"
)

// Two http brokers find each other through a shared registry and deliver
// directly to each other.
func Example() {
	ctx := context.Background()
	reg := memory.New()
	var bs []broker.Broker
	for range 2 {
		b, err := httpbroker.New(broker.Registry(reg))
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := b.Connect(ctx); err != nil {
			fmt.Println(err)
			return
		}
		defer b.Disconnect(ctx)
		bs = append(bs, b)
	}
	pub, sub := bs[0], bs[1]

	_, err := sub.Subscribe(ctx, "greetings", func(ctx context.Context, e broker.Event) error {
		m := e.Message()
		fmt.Printf("%s: %s from %s\n", e.Topic(), m.Body, m.Header["From"])
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Publish returns once the subscriber's handler has run.
	err = pub.Publish(ctx, "greetings", &broker.Message{
		Header: map[string]string{"From": "alice"},
		Body:   []byte("hello"),
	})
	fmt.Println("published:", err)
	// Output:
	// greetings: hello from alice
	// published: <nil>
}
