package cache

import (
	"context"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry/memory"
)

// BenchmarkSnapshotParallel measures the selector's hot path: many
// goroutines asking a warm cache for one stored, fresh answer. With the
// real clock, reading it may dominate (it does on some VMs); the fixed
// clock shows the cost of the cache itself.
func BenchmarkSnapshotParallel(b *testing.B) {
	fixed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clocks := []struct {
		name string
		now  func() time.Time
	}{
		{"clock=real", time.Now},
		{"clock=fixed", func() time.Time { return fixed }},
	}
	for _, ck := range clocks {
		b.Run(ck.name, func(b *testing.B) {
			m := memory.New()
			if err := m.Register(b.Context(), svc("greeter", "a", "b", "c")); err != nil {
				b.Fatal(err)
			}
			c := New(m, Logger(discard()), withClock(ck.now))
			b.Cleanup(func() { _ = c.Close() })
			// A background context, as a caller's own per-request context
			// would be: a shared cancellable one would measure its own lock.
			ctx := context.Background()
			_, want, err := c.Snapshot(ctx, "greeter")
			if err != nil || want == 0 {
				b.Fatalf("warm-up Snapshot: gen %d, %v", want, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ss, gen, err := c.Snapshot(ctx, "greeter")
					if err != nil || gen != want || len(ss) != 1 {
						b.Errorf("Snapshot = %d services, gen %d (want %d), %v", len(ss), gen, want, err)
						return
					}
				}
			})
		})
	}
}
