package rabbitmq

import (
	"testing"

	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		return newTestTransport(t)
	})
}
