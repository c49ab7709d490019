package rabbitmq

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	trmemory "github.com/openmicro/go-micro/transport/memory"
)

// shopEvent is the message type of the end-to-end tests' go-micro subscriber.
type shopEvent struct {
	N int `json:"n"`
}

// poisonN is the event number the subscriber function always fails on.
const poisonN = 13

// events records the events a go-micro subscriber function got.
type events struct {
	mu sync.Mutex
	n  map[int]int
}

func (o *events) handle(_ context.Context, e *shopEvent) error {
	o.mu.Lock()
	o.n[e.N]++
	o.mu.Unlock()
	if e.N == poisonN {
		return errors.New("cannot process event 13")
	}
	return nil
}

func (o *events) count(n int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[n]
}

func (o *events) has(ns ...int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range ns {
		if o.n[n] == 0 {
			return false
		}
	}
	return true
}

// TestServerSubscriberEndToEnd: a go-micro server subscribes, through this
// broker, a function taking *shopEvent in a queue group. Events whose body
// does not decode into an event (or that the server has no codec for) are
// logged by the server and rejected (broker.Rejecter): dead-lettered when
// the broker has a dead-letter exchange, dropped otherwise, so they neither
// crash the process nor come back nor block the queue; the function's error nacks its event,
// which comes back MaxRedeliveries times and is then dropped with a log
// line or moved to the dead-letter exchange; the valid events around them
// all arrive, and the server stops cleanly.
func TestServerSubscriberEndToEnd(t *testing.T) {
	for _, deadLetter := range []bool{false, true} {
		name := "drop"
		if deadLetter {
			name = "dead letter"
		}
		t.Run(name, func(t *testing.T) {
			e := setup(t)
			a := newAdmin(t, e.server)
			const (
				topic = "shop.events"
				limit = 2
			)
			opts := []broker.Option{MaxRedeliveries(limit)}
			var dlq string
			if deadLetter {
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
			sb := e.newBroker(t, opts...)
			tr, err := trmemory.NewTransport()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tr.Close() })
			serverLog := &logs{}
			s, err := server.New(
				server.Name("shop"),
				server.Registry(regmemory.New()),
				server.Transport(tr),
				server.Broker(sb),
				server.Logger(slog.New(serverLog)),
			)
			if err != nil {
				t.Fatal(err)
			}
			got := &events{n: make(map[int]int)}
			if err := s.Subscribe(s.NewSubscriber(topic, got.handle, server.Queue("billing"))); err != nil {
				t.Fatal(err)
			}
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					_ = s.Stop(context.Background())
				}
			})

			pb := e.connected(t, PublisherConfirms())
			c, err := client.New(client.Transport(tr), client.Broker(pb), client.ContentType("application/json"))
			if err != nil {
				t.Fatal(err)
			}
			publish := func(n int) {
				t.Helper()
				if err := c.Publish(t.Context(), c.NewMessage(topic, &shopEvent{N: n})); err != nil {
					t.Fatalf("Publish event %d: %v", n, err)
				}
			}
			// The group's queue is durable and bound once Start returns:
			// nothing published from here on is lost.
			bad := []struct{ id, contentType, body string }{
				{"bad-json", "application/json", `{"n":`},
				{"wrong-type", "application/json", `{"n":"one"}`},
				{"not-proto", "application/protobuf", "\xff\xff\xff"},
				{"no-codec", "application/x-nope", `{"n":1}`},
				{"no-content-type", "", `{"n":1}`},
			}
			for _, b := range bad {
				h := map[string]string{"Micro-Id": b.id}
				if b.contentType != "" {
					h["Content-Type"] = b.contentType
				}
				if err := pb.Publish(t.Context(), topic, &broker.Message{Header: h, Body: []byte(b.body)}); err != nil {
					t.Fatalf("Publish %s: %v", b.id, err)
				}
			}
			publish(poisonN)
			for n := 1; n <= 5; n++ {
				publish(n)
			}
			waitFor(t, "the valid events after the bad ones", func() bool { return got.has(1, 2, 3, 4, 5) })
			for _, b := range bad {
				waitFor(t, "the server to log "+b.id, func() bool {
					return serverLog.count("server: rejecting an event that cannot be decoded") >= 1 &&
						serverLog.count("id="+b.id+" ") >= 1
				})
			}
			waitFor(t, "event 13 to be given up", func() bool { return sb.logs.count("failed too often") == 1 })
			if n := got.count(poisonN); n != limit+1 {
				t.Errorf("event 13 handled %d times, want MaxRedeliveries+1 = %d", n, limit+1)
			}
			if deadLetter {
				// The five undecodable events and event 13, each once.
				ids := make(map[string]int)
				var poison []amqp.Delivery
				waitFor(t, "six messages in the dead-letter queue", func() bool {
					d, ok, err := a.ch.Get(dlq, true)
					if err != nil {
						t.Fatalf("Get: %v", err)
					}
					if ok {
						id, _ := d.Headers["Micro-Id"].(string)
						ids[id]++
						if strings.Contains(string(d.Body), "13") && d.ContentType == "application/json" {
							poison = append(poison, d)
						}
					}
					return len(ids) >= 6 || sumCounts(ids) >= 6
				})
				for _, b := range bad {
					if ids[b.id] != 1 {
						t.Errorf("undecodable %s dead-lettered %d times, want 1 (ids %v)", b.id, ids[b.id], ids)
					}
				}
				if len(poison) != 1 || poison[0].RoutingKey != topic {
					t.Errorf("event 13 in the dead-letter queue: %d messages %+v", len(poison), poison)
				}
			} else {
				if k := sb.logs.count("ERROR broker/rabbitmq: message failed too often; dropped"); k != 1 {
					t.Errorf("drop logged %d times, want 1", k)
				}
				if k := sb.logs.count("message rejected; dropped"); k != len(bad) {
					t.Errorf("rejections logged %d times, want %d", k, len(bad))
				}
			}

			// The queue goes on, and nothing was redelivered but event 13.
			publish(6)
			waitFor(t, "an event after the failures", func() bool { return got.has(6) })
			for n := 1; n <= 6; n++ {
				if k := got.count(n); k != 1 {
					t.Errorf("event %d handled %d times", n, k)
				}
			}
			for _, b := range bad {
				if k := serverLog.count("id=" + b.id + " "); k != 1 {
					t.Errorf("bad event %s logged %d times, want once (acked, not redelivered)", b.id, k)
				}
			}
			if k := queueDepth(t, a, groupQueueName(e.exchange, topic, "billing")); k != 0 {
				t.Errorf("group queue holds %d messages, want 0", k)
			}

			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()
			stopped = true
			if err := s.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := sb.Publish(t.Context(), topic, &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
				t.Errorf("the server's broker after Stop: Publish = %v, want ErrNotConnected", err)
			}
		})
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
