// Command pubsub publishes events to three subscribers on the http broker:
// two services in the queue group "workers", which share the events (each
// event reaches one of them), and an "audit" service outside any group,
// which gets every event. Everything runs in one process over the memory
// registry, so it needs nothing else running.
//
//	go run ./pubsub --events 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/openmicro/go-micro/broker"
	httpbroker "github.com/openmicro/go-micro/broker/http"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// Topic is where the events go.
const Topic = "example.orders"

// Order is the event published.
type Order struct {
	Id    int    `json:"id"`
	Item  string `json:"item"`
	Count int    `json:"count"`
}

func main() {
	events := flag.Int("events", 10, "how many events to publish")
	flag.Parse()
	if err := run(context.Background(), *events, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pubsub:", err)
		os.Exit(1)
	}
}

// tally counts the events each subscriber received.
type tally struct {
	mu   sync.Mutex
	got  map[string][]int
	seen map[int]bool // by the workers group
	all  chan struct{}
	n    int
	auds int
}

func (t *tally) add(who string, group bool, id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got[who] = append(t.got[who], id)
	if group {
		t.seen[id] = true
	} else {
		t.auds++
	}
	if len(t.seen) == t.n && t.auds == t.n {
		select {
		case <-t.all:
		default:
			close(t.all)
		}
	}
}

// run starts the subscribers, publishes n events and prints who got what.
func run(ctx context.Context, n int, out io.Writer) error {
	reg := memory.New()
	tl := &tally{got: map[string][]int{}, seen: map[int]bool{}, all: make(chan struct{}), n: n}

	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	for _, s := range []struct {
		name  string
		queue string
	}{{"worker-1", "workers"}, {"worker-2", "workers"}, {"audit", ""}} {
		stop, err := subscriber(ctx, reg, s.name, s.queue, tl)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}

	pub, err := httpbroker.New(broker.Registry(reg))
	if err != nil {
		return err
	}
	if err := pub.Connect(ctx); err != nil {
		return err
	}
	stops = append(stops, func() error { return pub.Disconnect(context.Background()) })
	tr, err := httptransport.NewTransport()
	if err != nil {
		return err
	}
	stops = append(stops, tr.Close)
	c, err := client.New(client.Transport(tr), client.Broker(pub))
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		order := &Order{Id: i, Item: "widget", Count: i}
		if err := c.Publish(ctx, c.NewMessage(Topic, order)); err != nil {
			return fmt.Errorf("publish order %d: %w", i, err)
		}
	}
	select {
	case <-tl.all:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("not every event arrived within 30s")
	case <-ctx.Done():
		return ctx.Err()
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	names := make([]string, 0, len(tl.got))
	for name := range tl.got {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ids := tl.got[name]
		sort.Ints(ids)
		fmt.Fprintf(out, "%s received %d events: %v\n", name, len(ids), ids)
	}
	return nil
}

// subscriber starts a service named name that subscribes to Topic, in the
// queue group when queue is set, and returns its stop function.
func subscriber(ctx context.Context, reg registry.Registry, name, queue string, tl *tally) (func() error, error) {
	b, err := httpbroker.New(broker.Registry(reg))
	if err != nil {
		return nil, err
	}
	tr, err := httptransport.NewTransport()
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Name(name), server.Registry(reg), server.Transport(tr), server.Broker(b))
	if err != nil {
		return nil, err
	}
	var opts []server.SubscriberOption
	if queue != "" {
		opts = append(opts, server.Queue(queue))
	}
	fn := func(ctx context.Context, o *Order) error {
		tl.add(name, queue != "", o.Id)
		return nil
	}
	if err := srv.Subscribe(srv.NewSubscriber(Topic, fn, opts...)); err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Stop(ctx)
		return errors.Join(err, tr.Close())
	}, nil
}
