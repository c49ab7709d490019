package micro

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// flakyRegistry serves watches that end right after their (empty)
// snapshot, as a registry whose backend keeps failing does.
type flakyRegistry struct{ opens atomic.Int32 }

func (f *flakyRegistry) Watch(ctx context.Context, st server.Stream) error {
	f.opens.Add(1)
	var req WatchRequest
	if err := st.Recv(&req); err != nil {
		return err
	}
	if err := st.Send(&WatchResponse{Type: WatchReady}); err != nil {
		return err
	}
	return errors.New("the backend broke")
}

// A registry that accepts watches and ends them at once gets them
// reopened with a growing wait between, not in a tight loop.
func TestReconnectBacksOffFromShortStreams(t *testing.T) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	srv, err := server.New(server.Name(ServiceName), server.Address("127.0.0.1:0"), server.Transport(tr),
		server.Registry(memory.New()), server.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyRegistry{}
	if err := srv.Handle(srv.NewHandler(flaky, server.HandlerName("Registry"))); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = srv.Stop(ctx)
	})

	r := NewRegistry(registry.Addrs(srv.Options().Address), Logger(slog.New(slog.DiscardHandler))).(*microRegistry)
	t.Cleanup(func() { _ = r.Close() })
	const waits = 6
	var got []time.Duration // written by the goroutine in Next only
	enough := make(chan struct{})
	var w registry.Watcher
	r.sleep = func(ctx context.Context, d time.Duration) bool {
		got = append(got, d)
		if len(got) == waits {
			w.Stop()
			close(enough)
			return false
		}
		return ctx.Err() == nil // no real wait: the test sees the waits asked for
	}
	w, err = r.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Next()
		done <- err
	}()
	select {
	case <-enough:
	case err := <-done:
		t.Fatalf("Next returned %v before the watcher waited %d times", err, waits)
	case <-time.After(testenv.Patience):
		w.Stop()
		<-done
		t.Fatalf("the watcher reopened %d streams without waiting between them (want a wait before each but the first)", flaky.opens.Load())
	}
	if err := testenv.Recv(t, "Next to return after Stop", done); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next = %v, want registry.ErrWatcherStopped", err)
	}
	// Watch's stream, the one reopened at once, then one per wait but
	// the last, which Stop ended.
	if n := flaky.opens.Load(); n != waits+1 {
		t.Errorf("%d watch streams opened, want %d", n, waits+1)
	}
	for i, d := range got {
		lo := min(minBackoff<<i, maxBackoff) / 2
		if d < lo || d > maxBackoff {
			t.Errorf("wait %d was %v, want %v to %v", i+1, d, lo, maxBackoff)
		}
	}
}
