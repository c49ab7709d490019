package mqtt

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/brokertest"
	"github.com/openmicro/go-micro/testenv"
)

// sharedAddr is the shared Mosquitto most tests use (not the conformance
// suite, nor the tests that stop or configure a server).
func sharedAddr(t *testing.T) string {
	t.Helper()
	return testenv.Addr(t, "mqtt", "127.0.0.1:1883")
}

// quietLogger drops what the broker logs below error, such as the warnings
// of handlers that fail on purpose.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return len(p), nil }

func newTestBroker(t *testing.T, addr string, opts ...broker.Option) broker.Broker {
	t.Helper()
	b, err := New(append([]broker.Option{broker.Addrs(addr), broker.Logger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// The conformance suite runs on a Mosquitto of its own without a limit on
// queued messages. Mosquitto acknowledges a publisher as soon as it has
// queued the message for the subscribers, and past max_queued_messages
// (default 1000) messages waiting for one client it drops further ones,
// QoS 1 and 2 included. The suite's 1600 concurrent messages reach that on
// a loaded machine whenever the subscriber falls behind the publishers (a
// subscriber a few times slower loses hundreds on the shared server), so
// on a server with the default limit the suite would fail by chance rather
// than for a fault of the client.
func conformanceServer(t *testing.T) string {
	t.Helper()
	return startMosquitto(t, "max_queued_messages 0").addr
}

func TestConformance(t *testing.T) {
	addr := conformanceServer(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newTestBroker(t, addr)
	}, brokertest.Timeout(30*time.Second))
}

func TestConformanceQoS0(t *testing.T) {
	addr := conformanceServer(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newTestBroker(t, addr, QoS(0))
	}, brokertest.Timeout(30*time.Second))
}

func TestConformanceQoS2(t *testing.T) {
	addr := conformanceServer(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newTestBroker(t, addr, QoS(2))
	}, brokertest.Timeout(30*time.Second))
}

// BenchmarkPublish measures Publish to the shared server, including the
// wait for the server's PUBACK at QoS 1.
func BenchmarkPublish(b *testing.B) {
	addr := testenv.Addr(b, "mqtt", "127.0.0.1:1883")
	for _, qos := range []byte{0, 1} {
		b.Run("qos"+string('0'+qos), func(b *testing.B) {
			br, err := New(broker.Addrs(addr), QoS(qos), broker.Logger(quietLogger()))
			if err != nil {
				b.Fatal(err)
			}
			if err := br.Connect(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer br.Disconnect(context.Background())
			m := &broker.Message{Header: map[string]string{"Id": "1"}, Body: make([]byte, 256)}
			b.ReportAllocs()
			for b.Loop() {
				if err := br.Publish(b.Context(), "mqtttest.bench", m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
