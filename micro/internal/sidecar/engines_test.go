package sidecar

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

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
			// Order across the group is the engine's; the plain socket's
			// is not checked here.
			queueGroupRound(t, s, fmt.Sprintf("sidecar.test.%x", rand.Uint64()), 200, false)
		})
	}
}
