// Package natsbench publishes the same messages through go-micro's NATS
// broker plugin and through raw nats.go against one NATS server, and counts
// what arrives: a run that loses messages fails instead of reporting a
// speed.
package natsbench

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/broker"
	_ "github.com/openmicro/go-plugins/broker/nats" // registers "nats"
)

// Systems are the names Run takes, in table order.
var Systems = []string{"go-micro nats broker", "nats.go"}

// Result is one run: Messages published and all of them delivered in
// Elapsed, from the first publish to the last delivery.
type Result struct {
	Messages int
	Elapsed  time.Duration
}

// PerSecond is messages delivered per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Messages) / r.Elapsed.Seconds()
}

// Run publishes n messages of size bytes on a fresh subject through system
// to one subscriber on its own connection, and waits up to timeout for all
// of them to arrive.
func Run(ctx context.Context, system, addr string, n, size int, timeout time.Duration) (Result, error) {
	switch system {
	case Systems[0]:
		return runBroker(ctx, addr, n, size, timeout)
	case Systems[1]:
		return runRaw(addr, n, size, timeout)
	}
	return Result{}, fmt.Errorf("natsbench: unknown system %q (want one of %v)", system, Systems)
}

func subject() string { return "bench.nats." + rand.Text() }

// counter counts deliveries and closes done at the n-th.
type counter struct {
	n    int64
	got  atomic.Int64
	done chan struct{}
}

func newCounter(n int) *counter { return &counter{n: int64(n), done: make(chan struct{})} }

func (c *counter) add() {
	if c.got.Add(1) == c.n {
		close(c.done)
	}
}

func (c *counter) wait(start time.Time, timeout time.Duration) (Result, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return Result{Messages: int(c.n), Elapsed: time.Since(start)}, nil
	case <-t.C:
		return Result{}, fmt.Errorf("natsbench: lost messages: %d of %d delivered within %v", c.got.Load(), c.n, timeout)
	}
}

func runRaw(addr string, n, size int, timeout time.Duration) (Result, error) {
	sub, err := nats.Connect(addr)
	if err != nil {
		return Result{}, err
	}
	defer sub.Close()
	pub, err := nats.Connect(addr)
	if err != nil {
		return Result{}, err
	}
	defer pub.Close()
	subj := subject()
	c := newCounter(n)
	s, err := sub.Subscribe(subj, func(*nats.Msg) { c.add() })
	if err != nil {
		return Result{}, err
	}
	// Room for the whole run, as the broker plugin is given: the comparison
	// is of speed, not of slow-consumer limits.
	if err := s.SetPendingLimits(-1, -1); err != nil {
		return Result{}, err
	}
	if err := sub.Flush(); err != nil {
		return Result{}, err
	}
	body := make([]byte, size)
	start := time.Now()
	for range n {
		if err := pub.Publish(subj, body); err != nil {
			return Result{}, err
		}
	}
	if err := pub.Flush(); err != nil {
		return Result{}, err
	}
	return c.wait(start, timeout)
}

func runBroker(ctx context.Context, addr string, n, size int, timeout time.Duration) (Result, error) {
	open := func() (broker.Broker, error) {
		b, err := broker.Open("nats", broker.Addrs(addr))
		if err != nil {
			return nil, err
		}
		if err := b.Connect(ctx); err != nil {
			return nil, err
		}
		return b, nil
	}
	sub, err := open()
	if err != nil {
		return Result{}, err
	}
	defer disconnect(sub)
	pub, err := open()
	if err != nil {
		return Result{}, err
	}
	defer disconnect(pub)
	topic := subject()
	c := newCounter(n)
	s, err := sub.Subscribe(ctx, topic, func(context.Context, broker.Event) error { c.add(); return nil })
	if err != nil {
		return Result{}, err
	}
	defer s.Unsubscribe(context.Background())
	msg := &broker.Message{Body: make([]byte, size)}
	start := time.Now()
	for range n {
		if err := pub.Publish(ctx, topic, msg); err != nil {
			return Result{}, err
		}
	}
	return c.wait(start, timeout)
}

func disconnect(b broker.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.Disconnect(ctx)
}
