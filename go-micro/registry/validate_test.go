package registry_test

import (
	"errors"
	"testing"

	"github.com/openmicro/go-micro/registry"
)

func TestValidate(t *testing.T) {
	n := func(id string) *registry.Node { return &registry.Node{Id: id, Address: "127.0.0.1:1"} }
	loop := &registry.Value{Name: "loop"}
	loop.Values = []*registry.Value{{Name: "child", Values: []*registry.Value{loop}}}
	self := &registry.Value{Name: "self"}
	self.Values = []*registry.Value{self}
	shared := &registry.Value{Name: "shared", Type: "string"}
	// A diamond of depth 40: 2^40 paths, 80 Values; checked once each.
	diamond := shared
	for range 40 {
		diamond = &registry.Value{Name: "d", Values: []*registry.Value{diamond, diamond}}
	}
	withEndpoints := func(es ...*registry.Endpoint) *registry.Service {
		return &registry.Service{Name: "a", Endpoints: es, Nodes: []*registry.Node{n("1")}}
	}
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
		{"nil endpoints and values", withEndpoints(nil, &registry.Endpoint{Name: "e", Request: &registry.Value{Values: []*registry.Value{nil}}}), true},
		{"shared subtrees", withEndpoints(&registry.Endpoint{Name: "e", Request: diamond, Response: shared}, &registry.Endpoint{Name: "f", Request: diamond}), true},
		{"value contains itself", withEndpoints(&registry.Endpoint{Name: "e", Response: self}), false},
		{"cycle deep in a request", withEndpoints(&registry.Endpoint{Name: "ok"}, &registry.Endpoint{Name: "e", Request: &registry.Value{Values: []*registry.Value{shared, loop}}}), false},
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
