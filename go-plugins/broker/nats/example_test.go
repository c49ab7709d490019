package nats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/openmicro/go-micro/broker"
	natsbroker "github.com/openmicro/go-plugins/broker/nats"
)

// startNATS runs a NATS server with JetStream inside the process; it stands
// in for the nats-server a deployment runs, of which the broker needs only
// the address.
func startNATS() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "nats-example")
	if err != nil {
		panic(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		panic(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		panic("nats-server not ready")
	}
	return s.ClientURL(), func() {
		s.Shutdown()
		s.WaitForShutdown()
		os.RemoveAll(dir)
	}
}

// quiet keeps the examples' output to what they print.
var quiet = broker.Logger(slog.New(slog.DiscardHandler))

// Two services talk through NATS: one subscribes in a queue group, the
// other publishes. With the blank import
//
//	import _ "github.com/openmicro/go-plugins/broker/nats"
//
// broker.Open("nats", ...) and --broker=nats pick this broker by name.
func Example() {
	addr, stop := startNATS()
	defer stop()
	ctx := context.Background()

	var bs []broker.Broker
	for range 2 {
		b, err := broker.Open("nats", broker.Addrs(addr), quiet)
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

	done := make(chan struct{})
	_, err := sub.Subscribe(ctx, "greetings", func(ctx context.Context, e broker.Event) error {
		m := e.Message()
		fmt.Printf("%s: %s from %s\n", e.Topic(), m.Body, m.Header["From"])
		close(done)
		return nil
	}, broker.Queue("greeters"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Subscribe returned once the server knew of the subscription.
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

// In JetStream mode a queue group's consumer is durable: messages
// published while no member is subscribed wait for the next one.
func ExampleJetStream() {
	addr, stop := startNATS()
	defer stop()
	ctx := context.Background()

	b, err := natsbroker.New(broker.Addrs(addr), quiet,
		natsbroker.JetStream("ORDERS", "orders.>"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer b.Disconnect(ctx)

	nothing := func(context.Context, broker.Event) error { return nil }
	sub, err := b.Subscribe(ctx, "orders.new", nothing, broker.Queue("billing"))
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = sub.Unsubscribe(ctx) // billing goes away ...

	for _, id := range []string{"1", "2", "3"} {
		if err := b.Publish(ctx, "orders.new", &broker.Message{Body: []byte("order " + id)}); err != nil {
			fmt.Println(err)
			return
		}
	}

	// ... and comes back: it gets what it missed, in order.
	got := make(chan string)
	_, err = b.Subscribe(ctx, "orders.new", func(ctx context.Context, e broker.Event) error {
		got <- string(e.Message().Body)
		return nil
	}, broker.Queue("billing"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		fmt.Println(<-got)
	}
	// Output:
	// order 1
	// order 2
	// order 3
}

// In JetStream mode a handler's error nacks the message and JetStream
// redelivers it.
func ExampleRedeliveryDelay() {
	addr, stop := startNATS()
	defer stop()
	ctx := context.Background()

	b, err := natsbroker.New(broker.Addrs(addr), quiet,
		natsbroker.JetStream("PAYMENTS", "payments.>"),
		natsbroker.RedeliveryDelay(10*time.Millisecond),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer b.Disconnect(ctx)

	done := make(chan struct{})
	deliveries := 0
	_, err = b.Subscribe(ctx, "payments.due", func(ctx context.Context, e broker.Event) error {
		deliveries++ // one subscriber runs one call at a time
		if deliveries < 3 {
			fmt.Println("delivery", deliveries, "failed")
			return errors.New("bank unreachable")
		}
		fmt.Println("delivery", deliveries, "done")
		close(done)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Publish(ctx, "payments.due", &broker.Message{Body: []byte("42 EUR")}); err != nil {
		fmt.Println(err)
		return
	}
	<-done
	// Output:
	// delivery 1 failed
	// delivery 2 failed
	// delivery 3 done
}
