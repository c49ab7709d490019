package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// handled records what a handler got, by message Id.
type handled struct {
	mu     sync.Mutex
	counts map[string]int
	total  atomic.Int64 // handler calls
}

func newHandled() *handled { return &handled{counts: make(map[string]int)} }

// add counts one call for id and returns how often id was seen before.
func (h *handled) add(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.counts[id]
	h.counts[id]++
	h.total.Add(1)
	return n
}

func (h *handled) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.counts)
}

func (h *handled) times(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[id]
}

// TestFaultServerClosesConnections publishes at least 10,000 messages with
// confirms while the server closes the connections of both brokers twice:
// every message is handled at least once, by the subscriber made before
// the faults, and handler errors lead to redelivery.
func TestFaultServerClosesConnections(t *testing.T) {
	e := setup(t)
	const (
		n         = 10000  // messages published at least
		after     = 1000   // messages published at least after the last fault
		limit     = 200000 // bound on what is published, should the faults never end
		failEvery = 97     // these messages fail at their first delivery
	)

	sb := e.connected(t)
	pb := e.connected(t, PublisherConfirms())
	topic := "fault.orders"
	got := newHandled()
	_, err := sb.Subscribe(t.Context(), topic, func(_ context.Context, ev broker.Event) error {
		id := ev.Message().Header["Id"]
		if got.add(id) == 0 {
			if i, _ := strconv.Atoi(id); i%failEvery == 0 {
				return errors.New("fails on purpose at the first delivery")
			}
		}
		return nil
	}, broker.Queue("workers"))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*patience)
	defer cancel()
	const publishers = 8
	// Publishing goes on until at least n messages are out and `after` more
	// went out after the last fault, so the faults hit it however long
	// rabbitmqctl takes. It is paced (about 1250 messages a second at
	// most) to keep the count near n; the outcome does not depend on it.
	pace := time.NewTicker(800 * time.Microsecond)
	defer pace.Stop()
	var (
		wg        sync.WaitGroup
		next      atomic.Int64 // next message index
		stopAt    atomic.Int64 // publishers stop before this index
		published atomic.Int64
		pubErrs   = make(chan error, publishers)
	)
	stopAt.Store(limit)
	for range publishers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= stopAt.Load() {
					return
				}
				select {
				case <-pace.C:
				case <-ctx.Done():
				}
				id := strconv.FormatInt(i, 10)
				if err := pb.Publish(ctx, topic, &broker.Message{
					Header: map[string]string{"Id": id},
					Body:   []byte("order " + id),
				}); err != nil {
					pubErrs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
				published.Add(1)
			}
		})
	}

	// Two faults: each closes both brokers' connections from the server
	// side and waits until both have reconnected.
	var handledAtLastFault int64
	for i := range 2 {
		at := got.distinct() + 2000
		waitFor(t, fmt.Sprintf("%d messages handled before fault %d", at, i+1), func() bool { return got.distinct() >= at })
		closed := closeConnections(t, sb.name, pb.name)
		if closed < 2 {
			t.Fatalf("fault %d: closed %d connections, want at least 2 (one per broker)", i+1, closed)
		}
		handledAtLastFault = got.total.Load()
		for _, b := range []*testBroker{sb, pb} {
			waitFor(t, fmt.Sprintf("broker %s to reconnect after fault %d", b.name, i+1), func() bool {
				return b.logs.count("broker/rabbitmq: reconnected") >= i+1
			})
		}
		t.Logf("fault %d after %d handled, %d published", i+1, at, published.Load())
	}
	stopAt.Store(max(n, next.Load()+after))

	wg.Wait()
	close(pubErrs)
	for err := range pubErrs {
		t.Fatalf("Publish: %v", err)
	}
	total := int(published.Load())
	if total < n {
		t.Fatalf("published %d messages, want at least %d", total, n)
	}
	waitFor(t, fmt.Sprintf("all %d messages handled", total), func() bool { return got.distinct() >= total })
	for i := range total {
		id := strconv.Itoa(i)
		k := got.times(id)
		switch {
		case k < 1:
			t.Errorf("message %s never handled", id)
		case i%failEvery == 0 && k < 2:
			t.Errorf("message %s failed at its first delivery but was handled %d time(s)", id, k)
		}
	}
	if got.total.Load() <= handledAtLastFault {
		t.Errorf("subscriber handled nothing after the last fault (%d calls before it)", handledAtLastFault)
	}
	for _, b := range []*testBroker{sb, pb} {
		if k := b.logs.count("broker/rabbitmq: connection lost; reconnecting"); k < 2 {
			t.Errorf("broker %s logged %d lost connections, want 2", b.name, k)
		}
	}
	if k := sb.logs.count("broker/rabbitmq: subscribed again"); k < 2 {
		t.Errorf("subscriber logged %d resubscriptions, want 2", k)
	}
	t.Logf("%d handler calls for %d messages; %d publishes sent again after a lost connection",
		got.total.Load(), total, pb.logs.count("sending again"))
	if t.Failed() {
		sb.logs.dump(t)
		pb.logs.dump(t)
	}
}

// TestFaultOutage cuts the network between the brokers and the server:
// publishing waits for the connection (bounded by ctx) and then goes
// through, subscribing fails clearly when ctx ends first, and the
// subscriber made before the outage gets the messages after it.
func TestFaultOutage(t *testing.T) {
	e := setup(t)
	px := newProxy(t, e.server, nil)
	via := broker.Addrs(amqpURL(px.addr()))
	sb := e.connected(t, via)
	pb := e.connected(t, via, PublisherConfirms())
	topic := "outage.events"
	got := newHandled()
	_, err := sb.Subscribe(t.Context(), topic, func(_ context.Context, ev broker.Event) error {
		got.add(ev.Message().Header["Id"])
		return nil
	}, broker.Queue("g"))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	publish := func(ctx context.Context, id string) error {
		return pb.Publish(ctx, topic, &broker.Message{Header: map[string]string{"Id": id}})
	}
	if err := publish(t.Context(), "before"); err != nil {
		t.Fatalf("Publish before the outage: %v", err)
	}
	waitFor(t, "message before the outage", func() bool { return got.times("before") == 1 })

	px.cut()
	for _, b := range []*testBroker{sb, pb} {
		waitFor(t, "broker to see the connection lost", func() bool {
			return b.logs.count("broker/rabbitmq: connection lost; reconnecting") >= 1
		})
	}

	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	err = publish(short, "never")
	cancel()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish during the outage with a short ctx: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	short, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = sb.Subscribe(short, topic, func(context.Context, broker.Event) error { return nil })
	cancel()
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Subscribe during the outage with a short ctx: %v, want ErrUnavailable", err)
	}

	// Publish waits through failed attempts to reconnect: it has not
	// returned after two more of them.
	failed := pb.logs.count("reconnecting failed; will retry")
	during := make(chan error, 1)
	go func() { during <- publish(t.Context(), "during") }()
	waitFor(t, "two more failed attempts to reconnect", func() bool {
		return pb.logs.count("reconnecting failed; will retry") >= failed+2
	})
	select {
	case err := <-during:
		t.Fatalf("Publish during the outage returned before the server could be reached: %v", err)
	default:
	}
	px.up()
	if err := testenv.Recv(t, "Publish during the outage", during); err != nil {
		t.Fatalf("Publish during the outage: %v", err)
	}
	if err := publish(t.Context(), "after"); err != nil {
		t.Fatalf("Publish after the outage: %v", err)
	}
	waitFor(t, "messages published during and after the outage", func() bool {
		return got.times("during") >= 1 && got.times("after") >= 1
	})
	if k := got.times("never"); k != 0 {
		t.Errorf("message whose Publish failed was handled %d times", k)
	}
	if sb.Address() != redact(amqpURL(px.addr())) {
		t.Errorf("Address() = %q, want %q", sb.Address(), redact(amqpURL(px.addr())))
	}
}

// TestFaultDisconnectDuringOutage: Disconnect returns while the server
// cannot be reached, and so do the calls that were waiting for it.
func TestFaultDisconnectDuringOutage(t *testing.T) {
	e := setup(t)
	px := newProxy(t, e.server, nil)
	b := e.connected(t, broker.Addrs(amqpURL(px.addr())))
	if _, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error { return nil }); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	px.cut()
	waitFor(t, "connection lost", func() bool { return b.logs.count("broker/rabbitmq: connection lost; reconnecting") >= 1 })
	waiting := make(chan error, 1)
	go func() { waiting <- b.Publish(t.Context(), "t", &broker.Message{}) }()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	if err := b.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect during the outage: %v", err)
	}
	if err := testenv.Recv(t, "waiting Publish", waiting); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Publish waiting when the broker disconnected: %v, want ErrNotConnected", err)
	}
}

// TestFaultDisconnectServerSilent: a server that stops answering on its
// channels (the connection alive, heartbeats flowing, no basic.cancel-ok
// or channel.close-ok coming back) does not hold Disconnect: ending the
// subscriptions' consumers waits a bounded time for the server, then the
// connection is closed under them.
func TestFaultDisconnectServerSilent(t *testing.T) {
	e := setup(t)
	px := newProxy(t, e.server, nil)
	px.framed()
	b := e.connected(t, broker.Addrs(amqpURL(px.addr())))
	for _, q := range []string{"", "g"} {
		if _, err := b.Subscribe(t.Context(), "silent", func(context.Context, broker.Event) error { return nil }, broker.Queue(q)); err != nil {
			t.Fatalf("Subscribe (queue %q): %v", q, err)
		}
	}
	px.mute()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	if err := b.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect from a silent server: %v", err)
	}
	if n := b.logs.count("broker/rabbitmq: the server did not answer in time while ending a subscription"); n == 0 {
		t.Error("Disconnect returned, but not by giving up on the silent server: the test proves nothing")
	}
}

// TestFaultQueueDeleted: when a queue group's queue is deleted under its
// subscriber (the server cancels the consumer, the connection stays), the
// subscriber declares it again and goes on.
func TestFaultQueueDeleted(t *testing.T) {
	e := setup(t)
	a := newAdmin(t, e.server)
	b := e.connected(t)
	got := newHandled()
	if _, err := b.Subscribe(t.Context(), "deleted", func(_ context.Context, ev broker.Event) error {
		got.add(ev.Message().Header["Id"])
		return nil
	}, broker.Queue("g")); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := a.ch.QueueDelete(groupQueueName(e.exchange, "deleted", "g"), false, false, false); err != nil {
		t.Fatalf("deleting the queue: %v", err)
	}
	waitFor(t, "the subscriber to subscribe again", func() bool {
		return b.logs.count("broker/rabbitmq: subscribed again") == 1
	})
	if err := b.Publish(t.Context(), "deleted", &broker.Message{Header: map[string]string{"Id": "after"}}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitFor(t, "the message after the queue came back", func() bool { return got.times("after") == 1 })
	if k := b.logs.count("connection lost; reconnecting"); k != 0 {
		t.Errorf("connection lost %d times; only the consumer should have gone", k)
	}
}

// TestFaultFlapping: a server that takes the connection but drops it each
// time soon after (a flapping link or proxy) does not get a reconnection
// storm: the backoff goes on growing across the short-lived connections
// instead of starting over after each.
func TestFaultFlapping(t *testing.T) {
	e := setup(t)
	px := newProxy(t, e.server, nil)
	b := e.newBroker(t, broker.Addrs(amqpURL(px.addr())), ReconnectBackoff(time.Millisecond, 50*time.Millisecond))
	var (
		mu     sync.Mutex
		starts []int // the attempt each reconnection's backoff starts from
	)
	b.onRedial = func(attempt int) {
		mu.Lock()
		starts = append(starts, attempt)
		mu.Unlock()
	}
	if err := b.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	px.flap(100 * time.Millisecond)
	px.cut() // the first connection was made before: cut it too
	px.up()
	waitFor(t, "four reconnections", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(starts) >= 4
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(starts); i++ {
		if starts[i] <= starts[i-1] {
			t.Fatalf("backoff started over after a connection that lived less than %v: attempts %v", stableLink, starts)
		}
	}
}
