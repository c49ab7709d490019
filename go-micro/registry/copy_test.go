package registry_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/openmicro/go-micro/registry"
)

func fullService() *registry.Service {
	return &registry.Service{
		Name:     "greeter",
		Version:  "1.0.0",
		Metadata: map[string]string{"team": "core"},
		Endpoints: []*registry.Endpoint{
			{
				Name:     "Greeter.Hello",
				Metadata: map[string]string{"stream": "false"},
				Request: &registry.Value{Name: "req", Type: "Req", Values: []*registry.Value{
					{Name: "user", Type: "User", Values: []*registry.Value{{Name: "id", Type: "string"}}},
					nil,
				}},
				Response: &registry.Value{Name: "rsp", Type: "Rsp"},
			},
			nil,
		},
		Nodes: []*registry.Node{
			{Id: "n1", Address: "127.0.0.1:1", Metadata: map[string]string{"zone": "a"}},
			nil,
		},
	}
}

func TestCopyEqual(t *testing.T) {
	tests := []struct {
		name string
		in   *registry.Service
	}{
		{"nil", nil},
		{"empty", &registry.Service{}},
		{"name only", &registry.Service{Name: "x"}},
		{"empty slices and maps", &registry.Service{Name: "x", Metadata: map[string]string{}, Endpoints: []*registry.Endpoint{}, Nodes: []*registry.Node{}}},
		{"full", fullService()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := registry.Copy(tc.in)
			if !reflect.DeepEqual(got, tc.in) {
				t.Fatalf("Copy = %#v, want %#v", got, tc.in)
			}
			if tc.in != nil && got == tc.in {
				t.Fatal("Copy returned its argument")
			}
		})
	}
}

// TestCopyIndependent changes every reachable part of a fresh copy and
// checks that the original did not move.
func TestCopyIndependent(t *testing.T) {
	orig := fullService()
	golden, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		mutate func(c *registry.Service)
	}{
		{"service fields", func(c *registry.Service) { c.Name = "x"; c.Version = "x" }},
		{"service metadata", func(c *registry.Service) { c.Metadata["team"] = "x"; c.Metadata["new"] = "x" }},
		{"node slice", func(c *registry.Service) { c.Nodes[0] = &registry.Node{Id: "other"}; c.Nodes[1] = &registry.Node{} }},
		{"node fields", func(c *registry.Service) {
			c.Nodes[0].Id = "x"
			c.Nodes[0].Address = "x"
			c.Nodes[0].Metadata["zone"] = "x"
		}},
		{"endpoint slice", func(c *registry.Service) { c.Endpoints[0] = nil; c.Endpoints[1] = &registry.Endpoint{} }},
		{"endpoint fields", func(c *registry.Service) {
			c.Endpoints[0].Name = "x"
			c.Endpoints[0].Metadata["stream"] = "x"
			c.Endpoints[0].Request = nil
		}},
		{"value tree", func(c *registry.Service) {
			req := c.Endpoints[0].Request
			req.Name = "x"
			req.Values[0].Values[0].Type = "x"
			req.Values[0].Values = append(req.Values[0].Values, &registry.Value{})
			req.Values[1] = &registry.Value{}
			c.Endpoints[0].Response.Type = "x"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.mutate(registry.Copy(orig))
			got, err := json.Marshal(orig)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(golden) {
				t.Fatalf("original changed:\n%s\nwas\n%s", got, golden)
			}
		})
	}
}

func TestCopyServices(t *testing.T) {
	if registry.CopyServices(nil) != nil {
		t.Fatal("CopyServices(nil) != nil")
	}
	in := []*registry.Service{fullService(), nil, {Name: "b"}}
	got := registry.CopyServices(in)
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("CopyServices = %#v, want %#v", got, in)
	}
	got[0].Nodes[0].Address = "x"
	got[2].Name = "x"
	if in[0].Nodes[0].Address != "127.0.0.1:1" || in[2].Name != "b" {
		t.Fatal("changing the copy changed the original")
	}
}

func TestCopyNodeAndValueNil(t *testing.T) {
	if registry.CopyNode(nil) != nil {
		t.Error("CopyNode(nil) != nil")
	}
	if registry.CopyValue(nil) != nil {
		t.Error("CopyValue(nil) != nil")
	}
}
