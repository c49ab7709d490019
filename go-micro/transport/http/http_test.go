package http

import (
	"testing"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		tr, err := NewTransport()
		if err != nil {
			t.Fatal(err)
		}
		return tr
	})
}

func TestConformanceTLS(t *testing.T) {
	cfg := testenv.SelfSignedTLS(t)
	transporttest.RunConfig(t, func(t *testing.T) transport.Transport {
		tr, err := NewTransport(transport.TLS(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, transporttest.Config{StreamMessages: 2000})
}
