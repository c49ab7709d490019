package rabbitmq

import (
	"context"
	"strconv"
	"testing"

	"github.com/openmicro/go-micro/broker"
)

// BenchmarkPublish measures Publish of a 256-byte message to a queue group
// (the messages are consumed meanwhile), with and without confirms, from
// as many goroutines as -cpu says.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []broker.Option
	}{
		{"plain", nil},
		{"confirms", []broker.Option{PublisherConfirms()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := setup(b)
			pb := e.connected(b, bc.opts...)
			sb := e.connected(b, Concurrency(4))
			if _, err := sb.Subscribe(b.Context(), "bench", func(context.Context, broker.Event) error { return nil }, broker.Queue("g")); err != nil {
				b.Fatal(err)
			}
			m := &broker.Message{Header: map[string]string{"Id": "x"}, Body: make([]byte, 256)}
			b.SetBytes(int64(len(m.Body)))
			b.ResetTimer()
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					if err := pb.Publish(b.Context(), "bench", m); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRoundTrip measures one message from Publish to its handler.
func BenchmarkRoundTrip(b *testing.B) {
	e := setup(b)
	br := e.connected(b)
	got := make(chan struct{}, 1)
	if _, err := br.Subscribe(b.Context(), "rt", func(context.Context, broker.Event) error {
		got <- struct{}{}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := br.Publish(b.Context(), "rt", &broker.Message{Header: map[string]string{"Id": strconv.Itoa(i)}}); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}
