package rabbitmq_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"

	"github.com/openmicro/go-plugins/broker/rabbitmq"
)

// A broker built by name, as --broker=rabbitmq does. Nothing is dialled
// before Connect.
func Example() {
	b, err := broker.Open("rabbitmq", broker.Addrs("amqp://guest:guest@127.0.0.1:5672/"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b, b.Address())
	// Output: rabbitmq amqp://guest:xxxxx@127.0.0.1:5672/
}

// A broker built with the plugin's own options: confirmed publishing,
// quorum queues for queue groups, a dead-letter exchange for messages that
// fail three times, and TLS.
func ExampleNew() {
	b, err := rabbitmq.New(
		broker.Addrs("rabbit.internal:5671"),
		broker.TLS(&tls.Config{MinVersion: tls.VersionTLS12}),
		rabbitmq.Exchange("shop"),
		rabbitmq.PublisherConfirms(),
		rabbitmq.Prefetch(32),
		rabbitmq.Concurrency(4),
		rabbitmq.MaxRedeliveries(3),
		rabbitmq.DeadLetterExchange("shop.dead"),
		rabbitmq.QueueArguments(amqp.Table{"x-queue-type": "quorum"}),
		rabbitmq.ConnectionName("orders-service"),
		rabbitmq.ReconnectBackoff(200*time.Millisecond, 30*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Address())
	// Output: amqps://rabbit.internal:5671
}

// Publishing and subscribing through a RabbitMQ server on 127.0.0.1:5672
// (this example is compiled, not run, as it needs the server).
func Example_publishSubscribe() {
	ctx := context.Background()
	b, err := rabbitmq.New(rabbitmq.PublisherConfirms())
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer b.Disconnect(ctx)

	done := make(chan struct{})
	sub, err := b.Subscribe(ctx, "orders.created", func(ctx context.Context, e broker.Event) error {
		fmt.Printf("%s: %s\n", e.Topic(), e.Message().Body)
		close(done)
		return nil // acks; an error would requeue the message
	}, broker.Queue("billing"))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)

	err = b.Publish(ctx, "orders.created", &broker.Message{
		Header: map[string]string{"Content-Type": "application/json"},
		Body:   []byte(`{"id":42}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	<-done
}
