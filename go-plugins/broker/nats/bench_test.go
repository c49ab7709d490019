package nats

import (
	"context"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/openmicro/go-micro/broker"
)

// BenchmarkPublish compares Publish with nats.go publishing directly, for
// 100-byte messages without and with a header, to an embedded server.
func BenchmarkPublish(b *testing.B) {
	srv := embedded(b, 0, b.TempDir())
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	br := connected(b, broker.Addrs(srv.ClientURL()))
	ctx := context.Background()
	body := make([]byte, 100)
	header := map[string]string{"Content-Type": "application/octet-stream"}

	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := nc.Publish("bench", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("broker", func(b *testing.B) {
		b.ReportAllocs()
		m := &broker.Message{Body: body}
		for b.Loop() {
			if err := br.Publish(ctx, "bench", m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-header", func(b *testing.B) {
		b.ReportAllocs()
		m := &natsgo.Msg{Subject: "bench", Header: natsgo.Header{"Content-Type": {"application/octet-stream"}}, Data: body}
		for b.Loop() {
			if err := nc.PublishMsg(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("broker-header", func(b *testing.B) {
		b.ReportAllocs()
		m := &broker.Message{Header: header, Body: body}
		for b.Loop() {
			if err := br.Publish(ctx, "bench", m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublishRatio alternates batches of raw nats.go publishes and
// broker publishes of 100-byte messages, so that both see the same load
// on a busy machine, and reports the broker's throughput as a fraction of
// nats.go's (1 = as fast).
func BenchmarkPublishRatio(b *testing.B) {
	srv := embedded(b, 0, b.TempDir())
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	br := connected(b, broker.Addrs(srv.ClientURL()))
	ctx := context.Background()
	body := make([]byte, 100)
	m := &broker.Message{Body: body}
	rawBatch := func() time.Duration {
		start := time.Now()
		for range 1000 {
			if err := nc.Publish("bench", body); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	brokerBatch := func() time.Duration {
		start := time.Now()
		for range 1000 {
			if err := br.Publish(ctx, "bench", m); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var raw, wrapped time.Duration
	i := 0
	for b.Loop() {
		// Alternate which goes first, so neither always pays the other's
		// flushes.
		if i%2 == 0 {
			raw += rawBatch()
			wrapped += brokerBatch()
		} else {
			wrapped += brokerBatch()
			raw += rawBatch()
		}
		i++
	}
	b.ReportMetric(float64(raw)/float64(wrapped), "broker/raw-throughput")
}
