package memory_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSmoke(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	if got := r.String(); got != "memory" {
		t.Fatalf("String() = %q", got)
	}
	s := &registry.Service{Name: "a", Version: "1", Nodes: []*registry.Node{{Id: "n1", Address: "127.0.0.1:1"}}}
	if err := r.Register(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetService(ctx, "a")
	if err != nil || len(got) != 1 || len(got[0].Nodes) != 1 || got[0].Nodes[0].Address != "127.0.0.1:1" {
		t.Fatalf("GetService = %+v, %v", got, err)
	}
	if err := r.Deregister(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(ctx, "a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService after Deregister: err = %v, want ErrNotFound", err)
	}
}

func TestConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry { return memory.New() })
}
