package startbench

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMeasure starts the real greeter once: it registers, its memory is
// read, and it stops. No timing is asserted.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the greeter binary")
	}
	bin, err := BuildGreeter(t.Context(), "../../../examples", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := StartRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := reg.Stop(ctx); err != nil {
			t.Errorf("registry Stop: %v", err)
		}
	})
	r, err := Measure(t.Context(), reg, bin, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.StartToRegistered <= 0 || r.IdleRSS <= 0 {
		t.Errorf("result %+v", r)
	}
	t.Logf("start to registered %v, idle RSS %.1f MiB", r.StartToRegistered, float64(r.IdleRSS)/(1<<20))
}

func TestResidentBytesNoProcess(t *testing.T) {
	if _, err := residentBytes(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
