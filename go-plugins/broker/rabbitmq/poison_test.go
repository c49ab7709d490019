package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// order is what the poison tests' handler decodes.
type order struct {
	ID int `json:"id"`
}

// decoding returns a handler that decodes the body as an order (failing on
// anything else) and records, per body, how often it was called and the
// x-delivery-count headers it saw.
type decoding struct {
	mu     sync.Mutex
	calls  map[string]int
	counts map[string][]string
	orders []int
}

func newDecoding() *decoding {
	return &decoding{calls: make(map[string]int), counts: make(map[string][]string)}
}

func (d *decoding) handle(_ context.Context, e broker.Event) error {
	m := e.Message()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[string(m.Body)]++
	if c, ok := m.Header["x-delivery-count"]; ok {
		d.counts[string(m.Body)] = append(d.counts[string(m.Body)], c)
	}
	var o order
	if err := json.Unmarshal(m.Body, &o); err != nil {
		return fmt.Errorf("decoding order: %w", err)
	}
	d.orders = append(d.orders, o.ID)
	return nil
}

func (d *decoding) callsOf(body string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[body]
}

func (d *decoding) got(id int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.orders {
		if o == id {
			return true
		}
	}
	return false
}

// queueDepth returns the messages ready in a queue (unacked ones excluded).
func queueDepth(t *testing.T, a *admin, name string) int {
	t.Helper()
	q, err := a.ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err != nil {
		a.reopen(t)
		t.Fatalf("inspecting queue %q: %v", name, err)
	}
	return q.Messages
}

// TestPoisonMessage: a body the handler cannot decode is delivered
// MaxRedeliveries+1 times, then dropped with a log line (or moved to the
// dead-letter exchange), and the queue goes on with the next message.
func TestPoisonMessage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     int
		quorum    bool // group queue as a quorum queue: the server counts
		deadLeter bool
		plain     bool // plain subscriber instead of a queue group
	}{
		{name: "drop", limit: 3},
		{name: "first failure", limit: 0},
		{name: "plain subscriber", limit: 2, plain: true},
		{name: "dead letter", limit: 1, deadLeter: true},
		{name: "quorum queue", limit: 2, quorum: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			a := newAdmin(t, e.server)
			opts := []broker.Option{MaxRedeliveries(tc.limit)}
			var dlq string
			if tc.deadLeter {
				dlx := unique(t, "micro-test-dlx")
				dlq = unique(t, "micro-test-dlq")
				if err := a.ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, false, true, false, false, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := a.ch.QueueDeclare(dlq, false, false, false, false, nil); err != nil {
					t.Fatal(err)
				}
				if err := a.ch.QueueBind(dlq, "", dlx, false, nil); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_, _ = a.ch.QueueDelete(dlq, false, false, false)
					_ = a.ch.ExchangeDelete(dlx, false, false)
				})
				opts = append(opts, DeadLetterExchange(dlx))
			}
			if tc.quorum {
				opts = append(opts, QueueArguments(amqp.Table{"x-queue-type": "quorum"}))
			}
			sb := e.connected(t, opts...)
			pb := e.connected(t, PublisherConfirms())
			topic := "poison.orders"
			d := newDecoding()
			var subOpts []broker.SubscribeOption
			if !tc.plain {
				subOpts = append(subOpts, broker.Queue("billing"))
			}
			if _, err := sb.Subscribe(t.Context(), topic, d.handle, subOpts...); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			const poison = "{not json"
			for _, body := range []string{poison, `{"id":1}`} {
				if err := pb.Publish(t.Context(), topic, &broker.Message{Body: []byte(body)}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			waitFor(t, "the good message", func() bool { return d.got(1) })
			want := tc.limit + 1
			waitFor(t, fmt.Sprintf("the poison message to be given up after %d deliveries", want), func() bool {
				return sb.logs.count("failed too often") == 1
			})
			if k := d.callsOf(poison); k != want {
				t.Errorf("poison message handled %d times, want %d", k, want)
			}
			// Nothing comes back after it was given up.
			if err := pb.Publish(t.Context(), topic, &broker.Message{Body: []byte(`{"id":2}`)}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			waitFor(t, "a later good message", func() bool { return d.got(2) })
			if k := d.callsOf(poison); k != want {
				t.Errorf("poison message handled %d times after it was given up, want %d", k, want)
			}
			if tc.quorum {
				d.mu.Lock()
				seen := d.counts[poison]
				d.mu.Unlock()
				if len(seen) != tc.limit {
					t.Errorf("x-delivery-count headers seen: %q, want %d of them", seen, tc.limit)
				}
			}
			if !tc.plain {
				if k := queueDepth(t, a, groupQueueName(e.exchange, topic, "billing")); k != 0 {
					t.Errorf("group queue holds %d messages, want 0", k)
				}
			}
			if tc.deadLeter {
				if k := sb.logs.count("rejected to the dead-letter exchange"); k != 1 {
					t.Errorf("dead-lettering logged %d times, want 1", k)
				}
				var m amqp.Delivery
				waitFor(t, "the poison message in the dead-letter queue", func() bool {
					got, ok, err := a.ch.Get(dlq, true)
					if err != nil {
						t.Fatalf("Get: %v", err)
					}
					m = got
					return ok
				})
				if string(m.Body) != poison || m.RoutingKey != topic {
					t.Errorf("dead-lettered message: body %q routing key %q, want %q %q", m.Body, m.RoutingKey, poison, topic)
				}
			} else if k := sb.logs.count("ERROR broker/rabbitmq: message failed too often; dropped"); k != 1 {
				t.Errorf("drop logged %d times, want 1", k)
			}
		})
	}
}

// TestHandlerPanics: a panicking handler is recovered, logged and its
// message redelivered, and the subscriber goes on.
func TestHandlerPanics(t *testing.T) {
	e := setup(t)
	sb := e.connected(t, MaxRedeliveries(1))
	var mu sync.Mutex
	calls := map[string]int{}
	_, err := sb.Subscribe(t.Context(), "panics", func(_ context.Context, ev broker.Event) error {
		b := string(ev.Message().Body)
		mu.Lock()
		calls[b]++
		mu.Unlock()
		if b == "boom" {
			panic("handler cannot cope")
		}
		return nil
	}, broker.Queue("q"))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	for _, body := range []string{"boom", "fine"} {
		if err := sb.Publish(t.Context(), "panics", &broker.Message{Body: []byte(body)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	waitFor(t, "the message after the panicking one, and the panic given up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls["fine"] == 1 && sb.logs.count("failed too often") == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if calls["boom"] != 2 {
		t.Errorf("panicking handler called %d times, want 2", calls["boom"])
	}
	if k := sb.logs.count("ERROR broker/rabbitmq: handler panicked"); k != 2 {
		t.Errorf("panic logged %d times, want 2", k)
	}
}

// TestManualNack: with DisableAutoAck, Nack redelivers, Ack settles, a
// second settle does nothing, and the handler may ack after returning.
func TestManualNack(t *testing.T) {
	e := setup(t)
	sb := e.connected(t)
	var mu sync.Mutex
	calls := map[string]int{}
	acked := make(chan error, 1)
	_, err := sb.Subscribe(t.Context(), "manual", func(_ context.Context, ev broker.Event) error {
		b := string(ev.Message().Body)
		mu.Lock()
		calls[b]++
		n := calls[b]
		mu.Unlock()
		switch {
		case b == "later":
			go func() { acked <- ev.Ack() }()
		case n == 1:
			if err := ev.Nack(); err != nil {
				return err
			}
			return ev.Ack() // does nothing: already settled
		default:
			return ev.Ack()
		}
		return nil
	}, broker.DisableAutoAck())
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	for _, body := range []string{"once-nacked", "later"} {
		if err := sb.Publish(t.Context(), "manual", &broker.Message{Body: []byte(body)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	waitFor(t, "the nacked message to come back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls["once-nacked"] == 2
	})
	if err := testenv.Recv(t, "the Ack after the handler returned", acked); err != nil {
		t.Errorf("Ack after the handler returned: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["later"] != 1 {
		t.Errorf("message acked after its handler returned was handled %d times", calls["later"])
	}
}

// TestUnlimitedRedelivery: with MaxRedeliveries(-1) a message comes back
// until its handler takes it.
func TestUnlimitedRedelivery(t *testing.T) {
	e := setup(t)
	sb := e.connected(t, MaxRedeliveries(-1))
	const failures = 2 * DefaultMaxRedeliveries
	var mu sync.Mutex
	calls := 0
	_, err := sb.Subscribe(t.Context(), "stubborn", func(context.Context, broker.Event) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= failures {
			return errors.New("not yet " + strconv.Itoa(calls))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := sb.Publish(t.Context(), "stubborn", &broker.Message{}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitFor(t, "the message to be taken", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls == failures+1
	})
	if k := sb.logs.count("failed too often"); k != 0 {
		t.Errorf("message given up %d times with no limit", k)
	}
}
