package sidecar

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/broker/nats"
	"github.com/openmicro/go-plugins/broker/rabbitmq"
)

// engineBroker opens and connects the broker plugin name against the
// shared engine at addr (skipping, or failing under MICRO_TEST_REQUIRE,
// when it does not answer), and disconnects it when the test ends.
func engineBroker(t *testing.T, name, def string, open func(addr string) (broker.Broker, error)) broker.Broker {
	t.Helper()
	addr := testenv.Addr(t, name, def)
	b, err := open(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
		defer cancel()
		_ = b.Disconnect(ctx)
	})
	return b
}

// TestQueueGroupOverEngines runs the sidecar's /broker over the NATS and
// RabbitMQ broker plugins and their real servers: a plain subscriber gets
// every message; two sockets in one queue group get each message once
// between them.
func TestQueueGroupOverEngines(t *testing.T) {
	engines := []struct {
		name string
		open func(t *testing.T) broker.Broker
	}{
		{"nats", func(t *testing.T) broker.Broker {
			return engineBroker(t, "nats", "127.0.0.1:4222", func(addr string) (broker.Broker, error) {
				return nats.New(broker.Addrs("nats://"+addr), broker.Logger(testLogger()))
			})
		}},
		{"rabbitmq", func(t *testing.T) broker.Broker {
			return engineBroker(t, "rabbitmq", "127.0.0.1:5672", func(addr string) (broker.Broker, error) {
				// The server is shared: an exchange for these tests, and
				// group queues that the server drops a minute after use.
				return rabbitmq.New(broker.Addrs("amqp://guest:guest@"+addr+"/"), broker.Logger(testLogger()),
					rabbitmq.Exchange("micro.sidecar.test"),
					rabbitmq.QueueArguments(amqp.Table{"x-expires": int32(60 * 1000)}),
					rabbitmq.Transient())
			})
		}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			b := e.open(t)
			s := start(t, Broker(b), SocketBuffer(1024))
			topic := fmt.Sprintf("sidecar.test.%x", rand.Uint64())
			g1 := dial(t, s, "topic="+topic+"&queue=workers&mode=sub", true)
			g2 := dial(t, s, "topic="+topic+"&queue=workers&mode=sub", true)
			plain := dial(t, s, "topic="+topic+"&mode=sub", true)
			pub := dial(t, s, "topic="+topic+"&mode=pub", false)

			const n = 200
			for i := range n {
				pub.send(t, websocket.TextMessage, fmt.Sprintf(`{"n":%d}`, i))
			}
			want := func(m string) bool {
				var i int
				_, err := fmt.Sscanf(m, `{"n":%d}`, &i)
				return err == nil && i >= 0 && i < n && m == fmt.Sprintf(`{"n":%d}`, i)
			}
			plainSeen := make(map[string]bool, n)
			for len(plainSeen) < n {
				f := testenv.Recv(t, fmt.Sprintf("message %d on the plain socket", len(plainSeen)), plain.frames)
				if m := string(f.data); !want(m) || plainSeen[m] {
					t.Fatalf("the plain socket got %q (seen before: %v)", m, plainSeen[m])
				}
				plainSeen[string(f.data)] = true
			}
			groupSeen := make(map[string]int, n)
			per := [2]int{}
			for range n {
				var f frame
				select {
				case f = <-g1.frames:
					per[0]++
				case f = <-g2.frames:
					per[1]++
				case <-time.After(testenv.Patience):
					t.Fatalf("the group got %d messages of %d", len(groupSeen), n)
				}
				if !want(string(f.data)) {
					t.Fatalf("the group got %q, never published", f.data)
				}
				groupSeen[string(f.data)]++
			}
			for m, k := range groupSeen {
				if k != 1 {
					t.Errorf("the group got %s %d times", m, k)
				}
			}
			// No duplicate is on its way: a last message reaches the plain
			// socket, then exactly one group member, and nothing else.
			pub.send(t, websocket.TextMessage, `"end"`)
			if f := testenv.Recv(t, "the last message", plain.frames); string(f.data) != `"end"` {
				t.Fatalf("the plain socket got %q after the last message", f.data)
			}
			select {
			case f := <-g1.frames:
				if string(f.data) != `"end"` {
					t.Errorf("g1 got %q more", f.data)
				}
			case f := <-g2.frames:
				if string(f.data) != `"end"` {
					t.Errorf("g2 got %q more", f.data)
				}
			case <-time.After(testenv.Patience):
				t.Fatal("the group never got the last message")
			}
			if k := len(g1.frames) + len(g2.frames); k != 0 {
				t.Errorf("the group got %d messages more", k)
			}
			t.Logf("shared between the group's sockets: %v", per)
		})
	}
}
