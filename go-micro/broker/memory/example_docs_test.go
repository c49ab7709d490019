package memory_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/memory"
)

// Every plain subscriber gets every message; the members of a queue group
// share them, so the group as a whole gets each message once.
func Example_queue() {
	ctx := context.Background()
	b := memory.New()
	if err := b.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer b.Disconnect(ctx)

	const n = 6
	var wg sync.WaitGroup
	wg.Add(2 * n) // n for the plain subscriber, n for the group
	var plain, workers atomic.Int64
	count := func(c *atomic.Int64) broker.Handler {
		return func(ctx context.Context, e broker.Event) error {
			c.Add(1)
			wg.Done()
			return nil
		}
	}
	_, _ = b.Subscribe(ctx, "orders", count(&plain))
	_, _ = b.Subscribe(ctx, "orders", count(&workers), broker.Queue("workers"))
	_, _ = b.Subscribe(ctx, "orders", count(&workers), broker.Queue("workers"))

	for range n {
		_ = b.Publish(ctx, "orders", &broker.Message{Body: []byte("order")})
	}
	wg.Wait()
	fmt.Println("plain:", plain.Load(), "workers group:", workers.Load())
	// Output: plain: 6 workers group: 6
}

// A nacked message (here: the handler returns an error under auto-ack) is
// redelivered until it has been delivered MaxDeliveries times, then dropped.
func Example_nack() {
	ctx := context.Background()
	quiet := broker.Logger(slog.New(slog.DiscardHandler))
	b := memory.New(quiet)
	if err := b.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer b.Disconnect(ctx)

	var deliveries atomic.Int64
	done := make(chan struct{})
	_, _ = b.Subscribe(ctx, "orders", func(ctx context.Context, e broker.Event) error {
		if deliveries.Add(1) == memory.MaxDeliveries {
			close(done)
		}
		return errors.New("database down")
	})
	_ = b.Publish(ctx, "orders", &broker.Message{Body: []byte("order")})
	<-done
	fmt.Println("delivered", deliveries.Load(), "times")
	// Output: delivered 4 times
}
