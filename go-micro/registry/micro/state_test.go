package micro

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/registry"
)

func node(id, addr string) *registry.Node { return &registry.Node{Id: id, Address: addr} }

func service(name, version string, md map[string]string, nodes ...*registry.Node) *registry.Service {
	return &registry.Service{Name: name, Version: version, Metadata: md, Nodes: nodes}
}

// describe renders results as "create x@1[a:1,b:2] m=1; ..." for
// comparison.
func describe(rs []*registry.Result) string {
	var parts []string
	for _, r := range rs {
		var ns []string
		for _, n := range r.Service.Nodes {
			ns = append(ns, n.Id+":"+n.Address)
		}
		p := fmt.Sprintf("%s %s@%s[%s]", r.Action, r.Service.Name, r.Service.Version, strings.Join(ns, ","))
		if m := r.Service.Metadata["m"]; m != "" {
			p += " m=" + m
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func TestStateApply(t *testing.T) {
	m1 := map[string]string{"m": "1"}
	m2 := map[string]string{"m": "2"}
	known := []*registry.Service{service("x", "1", m1, node("a", "1"), node("b", "1"))}
	for _, tc := range []struct {
		name    string
		watch   string
		action  registry.Action
		svc     *registry.Service
		want    string
		nodesOf string // the nodes of x@1 afterwards
	}{
		{"create new", "", registry.Create, service("x", "1", m1, node("c", "1")), "create x@1[c:1] m=1", "a,b,c"},
		{"create known, same", "", registry.Create, service("x", "1", m1, node("a", "1")), "", "a,b"},
		{"create known, moved", "", registry.Create, service("x", "1", m1, node("a", "2")), "update x@1[a:2] m=1", "a,b"},
		{"create new and moved", "", registry.Create, service("x", "1", m1, node("c", "1"), node("a", "2")), "create x@1[c:1] m=1; update x@1[a:2] m=1", "a,b,c"},
		{"update unknown", "", registry.Update, service("x", "1", m1, node("c", "1")), "create x@1[c:1] m=1", "a,b,c"},
		{"update same", "", registry.Update, service("x", "1", m1, node("b", "1")), "", "a,b"},
		{"update service metadata", "", registry.Update, service("x", "1", m2, node("b", "1")), "update x@1[b:1] m=2", "a,b"},
		{"delete known", "", registry.Delete, service("x", "1", m1, node("a", "1")), "delete x@1[a:1] m=1", "b"},
		{"delete unknown", "", registry.Delete, service("x", "1", m1, node("z", "1")), "", "a,b"},
		{"delete all", "", registry.Delete, service("x", "1", m1, node("a", ""), node("b", "")), "delete x@1[a:1,b:1] m=1", ""},
		{"delete other version", "", registry.Delete, service("x", "2", m1, node("a", "1")), "", "a,b"},
		{"create other version", "", registry.Create, service("x", "2", nil, node("a", "1")), "create x@2[a:1]", "a,b"},
		{"other service, filtered", "x", registry.Create, service("y", "1", nil, node("a", "1")), "", "a,b"},
		{"nil service", "", registry.Create, nil, "", "a,b"},
		{"no name", "", registry.Create, service("", "1", nil, node("a", "1")), "", "a,b"},
		{"nil and empty nodes", "", registry.Create, service("x", "1", m1, nil, node("", "1"), node("c", "1"), node("c", "9")), "create x@1[c:1] m=1", "a,b,c"},
		{"unknown action", "", registry.Action("rename"), service("x", "1", m1, node("c", "1")), "", "a,b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(tc.watch, known)
			if got := describe(s.apply(tc.action, tc.svc)); got != tc.want {
				t.Errorf("apply = %q\nwant    %q", got, tc.want)
			}
			var ids []string
			if v := s.versions[verKey{"x", "1"}]; v != nil {
				ids = slices.Sorted(maps.Keys(v.nodes))
			}
			if got := strings.Join(ids, ","); got != tc.nodesOf {
				t.Errorf("nodes of x@1 afterwards: %q, want %q", got, tc.nodesOf)
			}
		})
	}
}

func TestStateResync(t *testing.T) {
	m1 := map[string]string{"m": "1"}
	m2 := map[string]string{"m": "2"}
	known := []*registry.Service{
		service("x", "1", m1, node("a", "1"), node("b", "1")),
		service("y", "1", nil, node("c", "1")),
	}
	for _, tc := range []struct {
		name string
		snap []*registry.Service
		want string
	}{
		{"unchanged", known, ""},
		{"empty", nil, "delete x@1[a:1,b:1] m=1; delete y@1[c:1]"},
		{"node gone, node new, node moved", []*registry.Service{
			service("x", "1", m1, node("b", "2"), node("d", "1")),
			service("y", "1", nil, node("c", "1")),
		}, "delete x@1[a:1] m=1; create x@1[d:1] m=1; update x@1[b:2] m=1"},
		{"service metadata changed", []*registry.Service{
			service("x", "1", m2, node("a", "1"), node("b", "1")),
			service("y", "1", nil, node("c", "1")),
		}, "update x@1[a:1,b:1] m=2"},
		{"new version, new service", []*registry.Service{
			service("x", "1", m1, node("a", "1"), node("b", "1")),
			service("x", "2", nil, node("e", "1")),
			service("y", "1", nil, node("c", "1")),
			service("z", "1", nil, node("f", "1")),
		}, "create x@2[e:1]; create z@1[f:1]"},
		{"junk in the snapshot", []*registry.Service{
			nil, service("", "1", nil, node("q", "1")),
			service("x", "1", m1, node("a", "1"), nil, node("", "2"), node("b", "1")),
			service("y", "1", nil, node("c", "1")),
			service("w", "1", nil),
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState("", known)
			if got := describe(s.resync(tc.snap)); got != tc.want {
				t.Errorf("resync = %q\nwant     %q", got, tc.want)
			}
			if got := describe(s.resync(tc.snap)); got != "" {
				t.Errorf("a second resync to the same snapshot reports %q", got)
			}
		})
	}
}

// The results a watcher hands out are its own: changing them changes
// neither its state nor later results.
func TestStateCopies(t *testing.T) {
	ev := service("x", "1", map[string]string{"m": "1"}, node("a", "1"))
	s := newState("", nil)
	rs := s.apply(registry.Create, ev)
	rs[0].Service.Nodes[0].Address = "changed"
	rs[0].Service.Metadata["m"] = "changed"
	ev.Nodes[0].Address = "changed too"
	if got := describe(s.apply(registry.Create, service("x", "1", map[string]string{"m": "1"}, node("a", "1")))); got != "" {
		t.Errorf("re-applying the original event reports %q: the state shares memory with results or events", got)
	}
}

// view is what a caller that applies every result it reads believes.
type view map[verKey]*version

func (v view) apply(rs []*registry.Result) {
	for _, r := range rs {
		k := verKey{r.Service.Name, r.Service.Version}
		cur := v[k]
		if cur == nil {
			cur = &version{nodes: map[string]*registry.Node{}}
			v[k] = cur
		}
		cur.setHeader(r.Service)
		for _, n := range r.Service.Nodes {
			if r.Action == registry.Delete {
				delete(cur.nodes, n.Id)
			} else {
				cur.nodes[n.Id] = registry.CopyNode(n)
			}
		}
		if len(cur.nodes) == 0 {
			delete(v, k)
		}
	}
}

// check reports how the view differs from the state.
func (v view) check(s *state) error {
	if len(v) != len(s.versions) {
		return fmt.Errorf("view has %d versions, state %d", len(v), len(s.versions))
	}
	for k, sv := range s.versions {
		vv := v[k]
		if vv == nil {
			return fmt.Errorf("view lacks %v", k)
		}
		if !vv.sameHeader(&registry.Service{Metadata: sv.metadata, Endpoints: sv.endpoints}) {
			return fmt.Errorf("%v: header differs", k)
		}
		if !maps.EqualFunc(vv.nodes, sv.nodes, nodeEqual) {
			return fmt.Errorf("%v: nodes differ", k)
		}
	}
	return nil
}

// gen builds services from fuzz bytes over a small alphabet, so that
// events collide with what the state knows.
type gen struct{ b []byte }

func (g *gen) next() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *gen) service() *registry.Service {
	c := g.next()
	s := &registry.Service{Name: string(rune('x' + c%3)), Version: string(rune('1' + c/3%2))}
	if c&0x40 != 0 {
		s.Metadata = map[string]string{"m": string(rune('0' + c>>7))}
	}
	for n := int(g.next() % 4); n > 0; n-- {
		c := g.next()
		s.Nodes = append(s.Nodes, &registry.Node{Id: string(rune('a' + c%4)), Address: string(rune('0' + c/4%3))})
	}
	return s
}

// Whatever the service sends, in whatever order, a caller applying the
// results holds exactly the watcher's state.
func FuzzStateConsistency(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 9, 0, 1, 2})
	f.Add([]byte{0x41, 3, 0, 1, 2, 1, 0x41, 2, 5, 6, 2, 0x81, 2, 0, 1})
	f.Add([]byte("resync and delete everything"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		var snap []*registry.Service
		for n := int(g.next() % 4); n > 0; n-- {
			snap = append(snap, g.service())
		}
		s := newState("", snap)
		v := view{}
		for k, sv := range s.versions {
			v[k] = &version{metadata: maps.Clone(sv.metadata), nodes: maps.Clone(sv.nodes)}
		}
		if err := v.check(s); err != nil {
			t.Fatalf("after the snapshot: %v", err)
		}
		for step := 0; len(g.b) > 0; step++ {
			var rs []*registry.Result
			switch op := g.next(); op % 4 {
			case 0:
				rs = s.apply(registry.Create, g.service())
			case 1:
				rs = s.apply(registry.Update, g.service())
			case 2:
				rs = s.apply(registry.Delete, g.service())
			case 3:
				var snap []*registry.Service
				for n := int(g.next() % 4); n > 0; n-- {
					snap = append(snap, g.service())
				}
				rs = s.resync(snap)
			}
			for _, r := range rs {
				if len(r.Service.Nodes) == 0 {
					t.Fatalf("step %d: a result without nodes: %s", step, describe(rs))
				}
			}
			v.apply(rs)
			if err := v.check(s); err != nil {
				t.Fatalf("step %d: %v after %s", step, err, describe(rs))
			}
		}
	})
}

// Messages of any shape from the service are taken without a panic.
func FuzzWatchMessages(f *testing.F) {
	f.Add([]byte(`[{"type":"event","action":"create","service":{"name":"x","nodes":[{"id":"a","address":"1"}]}}]`))
	f.Add([]byte(`[{"type":"event","action":"delete","service":{"name":"x","nodes":[null,{"id":""}]}},{"type":"event","action":"update","service":{"name":"x","endpoints":[null,{"name":"E","request":{"values":[null]}}],"nodes":[{"id":"a"}]}}]`))
	f.Add([]byte(`[{"type":"snapshot","service":null},{"type":"event","action":"create","service":{"name":"","nodes":[]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var msgs []WatchResponse
		if json.Unmarshal(data, &msgs) != nil {
			return
		}
		var snap []*registry.Service
		for _, m := range msgs {
			if m.Type == WatchSnapshot {
				snap = append(snap, m.Service)
			}
		}
		s := newState("", snap)
		for _, m := range msgs {
			for _, r := range s.apply(m.Action, m.Service) {
				if r.Service == nil || r.Service.Name == "" || len(r.Service.Nodes) == 0 {
					t.Fatalf("result %+v", r)
				}
			}
		}
		_ = s.resync(snap)
	})
}
