package consul

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// TestCloseUnderLoad: Close while calls are in flight releases every
// connection: once Close and the calls have returned, no connection
// goroutine of the registry is left (idle connections would otherwise
// linger for the transport's idle timeout). Not parallel: it looks at every
// goroutine of the test binary.
func TestCloseUnderLoad(t *testing.T) {
	a := consultest.Start(t)
	ignore := goleak.IgnoreCurrent()
	for round := range 60 {
		r := testRegistry(t, a.Addr())
		if err := r.Register(t.Context(), svc("loaded", "n", 1000)); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 8)
		started := make(chan struct{}, 8)
		for range 8 {
			go func() {
				for i := 0; ; i++ {
					_, err := r.GetService(t.Context(), "loaded")
					if i == 0 {
						started <- struct{}{}
					}
					if errors.Is(err, ErrClosed) {
						errs <- nil
						return
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for range 8 {
			<-started
		}
		_ = r.Close()
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if err := goleak.Find(ignore); err != nil {
			t.Fatalf("round %d: after Close and its calls returned: %v", round, err)
		}
	}
}
