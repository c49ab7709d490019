package selector

import (
	"fmt"
	"testing"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

// benchServices are a service as a real server registers it: two versions,
// metadata on nodes, and endpoints with request and response shapes.
func benchServices(nodes int) []*registry.Service {
	value := func(name string) *registry.Value {
		return &registry.Value{Name: name, Type: name, Values: []*registry.Value{
			{Name: "id", Type: "string"},
			{Name: "count", Type: "int64"},
			{Name: "tags", Type: "[]string"},
			{Name: "meta", Type: "Meta", Values: []*registry.Value{{Name: "k", Type: "string"}, {Name: "v", Type: "string"}}},
		}}
	}
	var eps []*registry.Endpoint
	for _, m := range []string{"Hello", "Bye", "Stream", "List", "Get", "Put"} {
		eps = append(eps, &registry.Endpoint{
			Name:     "Greeter." + m,
			Request:  value(m + "Request"),
			Response: value(m + "Response"),
			Metadata: map[string]string{"stream": "false"},
		})
	}
	ss := []*registry.Service{
		{Name: "greeter", Version: "1", Metadata: map[string]string{"team": "a"}, Endpoints: eps},
		{Name: "greeter", Version: "2", Metadata: map[string]string{"team": "a"}, Endpoints: eps},
	}
	for i := range nodes {
		s := ss[i%2]
		s.Nodes = append(s.Nodes, &registry.Node{
			Id:       fmt.Sprintf("greeter-%03d", i),
			Address:  fmt.Sprintf("127.0.0.1:%d", 9000+i),
			Metadata: map[string]string{"zone": []string{"x", "y"}[i%2], "transport": "http", "protocol": "mucp"},
		})
	}
	return ss
}

func benchSelector(b *testing.B, nodes int) Selector { return newBenchSelector(b, nodes) }

func newBenchSelector(tb testing.TB, nodes int) Selector {
	tb.Helper()
	m := memory.New()
	for _, s := range benchServices(nodes) {
		if err := m.Register(tb.Context(), s); err != nil {
			tb.Fatal(err)
		}
	}
	s, err := New(Registry(m))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

type benchCase struct {
	name string
	opts []SelectOption
}

func benchCases() []benchCase {
	var cs []benchCase
	for _, st := range []struct {
		name string
		opts []SelectOption
	}{
		{"random", []SelectOption{WithStrategy(Random)}},
		{"roundrobin", []SelectOption{WithStrategy(RoundRobin)}},
		{"hash", []SelectOption{WithStrategy(Hash), WithKey("user-42")}},
	} {
		for _, f := range []struct {
			name string
			opts []SelectOption
		}{
			{"nofilter", nil},
			{"filter", []SelectOption{WithFilter(FilterVersion("1"))}},
		} {
			opts := append(append([]SelectOption{}, st.opts...), f.opts...)
			cs = append(cs, benchCase{st.name + "/" + f.name, opts})
		}
	}
	return cs
}

// call is what a client does per RPC: Select, Next, Mark.
func benchCall(b *testing.B, s Selector, opts []SelectOption) {
	next, err := s.Select(b.Context(), "greeter", opts...)
	if err != nil {
		b.Fatal(err)
	}
	n, err := next()
	if err != nil {
		b.Fatal(err)
	}
	s.Mark("greeter", n, nil)
}

// BenchmarkSelect measures one call's worth of selector work (Select, one
// Next and a successful Mark) over a cached memory registry.
func BenchmarkSelect(b *testing.B) {
	for _, nodes := range []int{3, 50} {
		for _, bc := range benchCases() {
			b.Run(fmt.Sprintf("nodes=%d/%s", nodes, bc.name), func(b *testing.B) {
				s := benchSelector(b, nodes)
				benchCall(b, s, bc.opts) // warm the cache
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					benchCall(b, s, bc.opts)
				}
			})
		}
	}
}

// BenchmarkSelectParallel is BenchmarkSelect from GOMAXPROCS goroutines
// sharing one selector.
func BenchmarkSelectParallel(b *testing.B) {
	for _, nodes := range []int{3, 50} {
		for _, bc := range benchCases() {
			b.Run(fmt.Sprintf("nodes=%d/%s", nodes, bc.name), func(b *testing.B) {
				s := benchSelector(b, nodes)
				benchCall(b, s, bc.opts)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						next, err := s.Select(b.Context(), "greeter", bc.opts...)
						if err != nil {
							b.Error(err)
							return
						}
						n, err := next()
						if err != nil {
							b.Error(err)
							return
						}
						s.Mark("greeter", n, nil)
					}
				})
			})
		}
	}
}
