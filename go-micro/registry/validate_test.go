package registry_test

import (
	"errors"
	"testing"

	"github.com/openmicro/go-micro/registry"
)

func TestValidate(t *testing.T) {
	n := func(id string) *registry.Node { return &registry.Node{Id: id, Address: "127.0.0.1:1"} }
	tests := []struct {
		name string
		svc  *registry.Service
		ok   bool
	}{
		{"valid", &registry.Service{Name: "a", Nodes: []*registry.Node{n("1"), n("2")}}, true},
		{"valid without version or address", &registry.Service{Name: "a", Nodes: []*registry.Node{{Id: "1"}}}, true},
		{"nil", nil, false},
		{"empty name", &registry.Service{Nodes: []*registry.Node{n("1")}}, false},
		{"no nodes", &registry.Service{Name: "a"}, false},
		{"nil node", &registry.Service{Name: "a", Nodes: []*registry.Node{n("1"), nil}}, false},
		{"empty id", &registry.Service{Name: "a", Nodes: []*registry.Node{n("")}}, false},
		{"duplicate id", &registry.Service{Name: "a", Nodes: []*registry.Node{n("1"), n("2"), n("1")}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := registry.Validate(tc.svc)
			if tc.ok {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, registry.ErrInvalidService) {
				t.Fatalf("Validate = %v, want registry.ErrInvalidService", err)
			}
		})
	}
}
