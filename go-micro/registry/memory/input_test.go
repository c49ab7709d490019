package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

// deepService has metadata at every level, nil entries among the
// endpoints and inside Value lists, and a three-level Value tree.
func deepService(name string) *registry.Service {
	leaf := func(n string) *registry.Value { return &registry.Value{Name: n, Type: "string"} }
	return &registry.Service{
		Name:     name,
		Version:  "1",
		Metadata: map[string]string{"team": "core"},
		Endpoints: []*registry.Endpoint{
			{
				Name:     "S.Deep",
				Metadata: map[string]string{"auth": "none"},
				Request: &registry.Value{Name: "req", Type: "Req", Values: []*registry.Value{
					{Name: "a", Type: "A", Values: []*registry.Value{
						{Name: "b", Type: "B", Values: []*registry.Value{leaf("c"), nil, leaf("d")}},
						nil,
					}},
				}},
				Response: &registry.Value{Name: "rsp", Type: "Rsp", Values: []*registry.Value{leaf("e")}},
			},
			nil,
			{Name: "S.Bare"},
		},
		Nodes: []*registry.Node{
			{Id: "n1", Address: "127.0.0.1:1", Metadata: map[string]string{"zone": "z1"}},
			{Id: "n2", Address: "127.0.0.1:2", Metadata: map[string]string{"zone": "z2"}},
		},
	}
}

// scribble changes every field, map and slice element reachable from s,
// at every depth.
func scribble(s *registry.Service) {
	var value func(v *registry.Value)
	value = func(v *registry.Value) {
		if v == nil {
			return
		}
		v.Name += "!"
		v.Type += "!"
		for i, sub := range v.Values {
			value(sub)
			if sub == nil {
				v.Values[i] = &registry.Value{Name: "filled"}
			}
		}
		v.Values = append(v.Values, &registry.Value{Name: "appended"})
	}
	md := func(m map[string]string) {
		for k := range m {
			m[k] += "!"
		}
		if m != nil {
			m["added"] = "!"
		}
	}
	s.Name += "!"
	s.Version += "!"
	md(s.Metadata)
	for i, e := range s.Endpoints {
		if e == nil {
			s.Endpoints[i] = &registry.Endpoint{Name: "filled"}
			continue
		}
		e.Name += "!"
		md(e.Metadata)
		value(e.Request)
		value(e.Response)
	}
	for _, n := range s.Nodes {
		n.Id += "!"
		n.Address += "!"
		md(n.Metadata)
	}
	s.Endpoints = append(s.Endpoints, &registry.Endpoint{Name: "appended"})
	s.Nodes = append(s.Nodes, &registry.Node{Id: "appended"})
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCopyDeep: nothing that goes into the registry or comes out of it,
// watch results included, stays shared with it or with another caller.
func TestCopyDeep(t *testing.T) {
	ctx := t.Context()
	r := memory.New()
	golden := jsonOf(t, deepService("s"))
	state := func(when string) {
		t.Helper()
		ss, err := r.GetService(ctx, "s")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := jsonOf(t, ss[0]); got != golden {
			t.Fatalf("%s: registry holds\n%s\nwant\n%s", when, got, golden)
		}
	}
	w1 := watch(t, r)
	w2 := watch(t, r)

	in := deepService("s")
	if err := r.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	scribble(in)
	state("after scribbling on what was registered")

	// A heartbeat with the same nil entries is no change: no event.
	if err := r.Register(ctx, deepService("s")); err != nil {
		t.Fatal(err)
	}

	ss, err := r.GetService(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	scribble(ss[0])
	state("after scribbling on GetService's result")

	all, err := r.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scribble(all[0])
	state("after scribbling on ListServices' result")

	// Each watcher's Create is its own; scribbling on one changes neither
	// the registry nor the other watcher's, nor a later result.
	res1 := next(t, w1)
	scribble(res1.Service)
	res2 := next(t, w2)
	if got := jsonOf(t, res2.Service); got != golden {
		t.Fatalf("second watcher's Create after scribbling on the first's:\n%s\nwant\n%s", got, golden)
	}
	state("after scribbling on a watch result")

	// Update and Delete results too.
	moved := deepService("s")
	moved.Nodes = moved.Nodes[:1]
	moved.Nodes[0].Address = "127.0.0.1:9"
	if err := r.Register(ctx, moved); err != nil {
		t.Fatal(err)
	}
	scribble(moved)
	upd := next(t, w1)
	if upd.Action != registry.Update {
		t.Fatalf("got %s, want update (the heartbeat yielded an event?)", upd.Action)
	}
	scribble(upd.Service)
	want := deepService("s")
	want.Nodes = want.Nodes[:1]
	want.Nodes[0].Address = "127.0.0.1:9"
	if got := jsonOf(t, next(t, w2).Service); got != jsonOf(t, want) {
		t.Fatalf("second watcher's Update:\n%s\nwant\n%s", got, jsonOf(t, want))
	}
	if err := r.Deregister(ctx, deepService("s")); err != nil {
		t.Fatal(err)
	}
	del := next(t, w1)
	scribble(del.Service)
	want.Nodes = append(want.Nodes, deepService("s").Nodes[1])
	if got := jsonOf(t, next(t, w2).Service); got != jsonOf(t, want) {
		t.Fatalf("second watcher's Delete:\n%s\nwant\n%s", got, jsonOf(t, want))
	}
}

// TestHostileInput: invalid services are refused with ErrInvalidService and
// change nothing; odd but valid ones (nil entries among endpoints and
// values, huge and unicode names) work; nothing panics.
func TestHostileInput(t *testing.T) {
	ctx := t.Context()
	long := strings.Repeat("x", 64<<10)
	valid := []struct {
		name string
		svc  *registry.Service
	}{
		{"nil endpoint entries", &registry.Service{Name: "s", Endpoints: []*registry.Endpoint{nil, nil}, Nodes: []*registry.Node{{Id: "a"}}}},
		{"nil values", &registry.Service{Name: "s", Endpoints: []*registry.Endpoint{{Name: "e", Request: &registry.Value{Values: []*registry.Value{nil}}}}, Nodes: []*registry.Node{{Id: "a"}}}},
		{"64 KiB names", &registry.Service{Name: long, Version: long, Nodes: []*registry.Node{{Id: long, Address: long}}}},
		{"unicode names", &registry.Service{Name: "größe/日本語 🚀", Version: "β", Nodes: []*registry.Node{{Id: "узел\x00\xff", Address: "127.0.0.1:1"}}}},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			r := memory.New()
			w := watch(t, r, registry.WatchService(tc.svc.Name))
			if err := r.Register(ctx, tc.svc); err != nil {
				t.Fatalf("Register: %v", err)
			}
			ss, err := r.GetService(ctx, tc.svc.Name)
			if err != nil {
				t.Fatalf("GetService: %v", err)
			}
			if got, want := jsonOf(t, ss[0]), jsonOf(t, tc.svc); got != want {
				t.Fatalf("GetService = %.200s, want %.200s", got, want)
			}
			if res := next(t, w); res.Action != registry.Create || jsonOf(t, res.Service) != jsonOf(t, tc.svc) {
				t.Fatalf("watch got %s %.200s", res.Action, jsonOf(t, res.Service))
			}
			if err := r.Deregister(ctx, tc.svc); err != nil {
				t.Fatalf("Deregister: %v", err)
			}
			if _, err := r.GetService(ctx, tc.svc.Name); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("GetService after Deregister: %v", err)
			}
		})
	}

	loop := &registry.Value{Name: "loop"}
	loop.Values = []*registry.Value{{Name: "child", Values: []*registry.Value{loop}}}
	invalid := []struct {
		name string
		svc  *registry.Service
	}{
		// Copied before the fix: a fatal stack overflow, not even a panic.
		{"cyclic value", &registry.Service{Name: "s", Endpoints: []*registry.Endpoint{{Name: "e", Request: loop}}, Nodes: []*registry.Node{{Id: "a", Address: "127.0.0.1:9"}}}},
		{"nil service", nil},
		{"nil node", &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a", Address: "127.0.0.1:9"}, nil}}},
		{"only a nil node", &registry.Service{Name: "s", Nodes: []*registry.Node{nil}}},
		{"nil nodes slice", &registry.Service{Name: "s"}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			r := memory.New()
			if err := r.Register(ctx, &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a", Address: "127.0.0.1:1"}}}); err != nil {
				t.Fatal(err)
			}
			w := watch(t, r)
			if err := r.Register(ctx, tc.svc); !errors.Is(err, registry.ErrInvalidService) {
				t.Fatalf("Register: err = %v, want ErrInvalidService", err)
			}
			if err := r.Deregister(ctx, tc.svc); !errors.Is(err, registry.ErrInvalidService) {
				t.Fatalf("Deregister: err = %v, want ErrInvalidService", err)
			}
			if err := r.Register(ctx, &registry.Service{Name: "marker", Nodes: []*registry.Node{{Id: "m"}}}); err != nil {
				t.Fatal(err)
			}
			if got := summary(next(t, w)); got != "create marker@[m]" {
				t.Fatalf("an invalid call yielded %q", got)
			}
			ss, err := r.GetService(ctx, "s")
			if err != nil || ss[0].Nodes[0].Address != "127.0.0.1:1" {
				t.Fatalf("GetService after invalid calls = %v, %v", ss, err)
			}
		})
	}
}

// TestDoneContext: every call with a cancelled or expired context returns
// its error and changes nothing.
func TestDoneContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Unix(1, 0))
	defer cancel2()
	for _, ctx := range []context.Context{cancelled, expired} {
		t.Run(context.Cause(ctx).Error(), func(t *testing.T) {
			r := memory.New()
			s := &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a"}}}
			if err := r.Register(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			w := watch(t, r)
			want := ctx.Err()
			moved := &registry.Service{Name: "s", Nodes: []*registry.Node{{Id: "a", Address: "127.0.0.1:9"}, {Id: "b"}}}
			if err := r.Register(ctx, moved, registry.RegisterTTL(time.Nanosecond)); !errors.Is(err, want) {
				t.Errorf("Register: %v, want %v", err, want)
			}
			if err := r.Deregister(ctx, s); !errors.Is(err, want) {
				t.Errorf("Deregister: %v, want %v", err, want)
			}
			if _, err := r.GetService(ctx, "s"); !errors.Is(err, want) {
				t.Errorf("GetService: %v, want %v", err, want)
			}
			if _, err := r.ListServices(ctx); !errors.Is(err, want) {
				t.Errorf("ListServices: %v, want %v", err, want)
			}
			if w2, err := r.Watch(ctx); !errors.Is(err, want) || w2 != nil {
				t.Errorf("Watch: %v, %v; want nil, %v", w2, err, want)
			}
			if err := r.Register(t.Context(), &registry.Service{Name: "marker", Nodes: []*registry.Node{{Id: "m"}}}); err != nil {
				t.Fatal(err)
			}
			if got := summary(next(t, w)); got != "create marker@[m]" {
				t.Fatalf("a call with a done context yielded %q", got)
			}
			ss, err := r.GetService(t.Context(), "s")
			if err != nil || len(ss[0].Nodes) != 1 || ss[0].Nodes[0].Address != "" {
				t.Fatalf("GetService after done-context calls = %v, %v", ss, err)
			}
		})
	}
}
