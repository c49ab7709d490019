package memory_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/memory"
)

// Two brokers on one bus talk to each other, as two services would through
// a real broker.
func Example() {
	ctx := context.Background()
	bus := memory.NewBus()
	pub, sub := bus.NewBroker(), bus.NewBroker()
	for _, b := range []broker.Broker{pub, sub} {
		if err := b.Connect(ctx); err != nil {
			fmt.Println(err)
			return
		}
		defer b.Disconnect(ctx)
	}

	done := make(chan struct{})
	_, err := sub.Subscribe(ctx, "greetings", func(ctx context.Context, e broker.Event) error {
		m := e.Message()
		fmt.Printf("%s: %s from %s\n", e.Topic(), m.Body, m.Header["From"])
		close(done)
		return nil // acks the message
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = pub.Publish(ctx, "greetings", &broker.Message{
		Header: map[string]string{"From": "alice"},
		Body:   []byte("hello"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	<-done
	// Output: greetings: hello from alice
}
