package nats

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/transporttest"
)

// TestConformance runs go-micro's transport suite against the NATS server
// the tests share (max_payload 1 MiB by default, so the suite's 4 MiB
// messages travel in chunks).
func TestConformance(t *testing.T) {
	addr := outsideAddr(t)
	transporttest.RunConfig(t, func(t *testing.T) transport.Transport {
		tr, err := NewTransport(transport.Addrs(addr))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, transporttest.Config{})
}

// TestConformanceSmallPayload runs the suite against an embedded server
// whose max_payload is 4 KiB, with a small window, so that messages travel
// in many chunks and Send waits for credit all the time.
func TestConformanceSmallPayload(t *testing.T) {
	ns := embedded(t, 0, func(o *server.Options) { o.MaxPayload = 4 << 10 })
	const limit = 256 << 10
	transporttest.RunConfig(t, func(t *testing.T) transport.Transport {
		tr, err := NewTransport(transport.Addrs(ns.ClientURL()), transport.MaxMessageSize(limit), Window(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, transporttest.Config{MaxMessageSize: limit, StreamMessages: 2000, Streams: 50})
}
