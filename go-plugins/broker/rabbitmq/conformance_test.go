package rabbitmq

import (
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/brokertest"
)

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []broker.Option
	}{
		{"default", nil},
		{"confirms", []broker.Option{PublisherConfirms(), Concurrency(4), Prefetch(8)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			brokertest.Run(t, func(t *testing.T) broker.Broker {
				return e.newBroker(t, tc.opts...).rabbitBroker
			}, brokertest.Timeout(30*time.Second))
		})
	}
}
