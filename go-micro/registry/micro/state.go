package micro

import (
	"cmp"
	"maps"
	"slices"

	"github.com/openmicro/go-micro/registry"
)

// state is what a watcher knows of the registry: every service version it
// watches, with all its nodes, as of the last event it reported. It starts
// from the snapshot the service sends when the watch opens.
//
// Every event from the stream is applied to the state, and what is
// reported is what changed in the state: a Create of a node the watcher
// knows is reported as an Update (or not at all when nothing differs), a
// Delete of a node it does not know is not reported. So the events a caller
// reads always take it from one state to the next, even across the
// snapshot's race with the first events and across reconnections, where
// the new snapshot is compared with the state and the difference reported
// before the events that follow.
type state struct {
	service  string // "" when every service is watched
	versions map[verKey]*version
}

type verKey struct{ name, version string }

// version is one service version as the watcher knows it. Its values are
// the watcher's own copies, never handed out.
type version struct {
	metadata  map[string]string
	endpoints []*registry.Endpoint
	nodes     map[string]*registry.Node
}

// newState builds the state of a snapshot; entries that cannot be a
// registered service version (nil, no name, another service than the one
// watched) and nodes without an id are left out.
func newState(service string, snap []*registry.Service) *state {
	s := &state{service: service, versions: make(map[verKey]*version)}
	for _, svc := range snap {
		if !s.accepts(svc) {
			continue
		}
		k := verKey{svc.Name, svc.Version}
		v := s.versions[k]
		if v == nil {
			v = &version{nodes: make(map[string]*registry.Node)}
			s.versions[k] = v
		}
		v.setHeader(svc)
		for _, n := range svc.Nodes {
			if n != nil && n.Id != "" {
				v.nodes[n.Id] = registry.CopyNode(n)
			}
		}
		if len(v.nodes) == 0 {
			delete(s.versions, k)
		}
	}
	return s
}

func (s *state) accepts(svc *registry.Service) bool {
	return svc != nil && svc.Name != "" && (s.service == "" || svc.Name == s.service)
}

func (v *version) setHeader(svc *registry.Service) {
	c := registry.Copy(&registry.Service{Metadata: svc.Metadata, Endpoints: svc.Endpoints})
	v.metadata, v.endpoints = c.Metadata, c.Endpoints
}

// sameHeader reports whether svc has v's metadata and endpoints.
func (v *version) sameHeader(svc *registry.Service) bool {
	return maps.Equal(v.metadata, svc.Metadata) && endpointsEqual(v.endpoints, svc.Endpoints)
}

// result builds a Result for the version k with its header and copies of
// nodes, sorted by id.
func (v *version) result(action registry.Action, k verKey, nodes []*registry.Node) *registry.Result {
	slices.SortFunc(nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
	svc := registry.Copy(&registry.Service{
		Name: k.name, Version: k.version, Metadata: v.metadata, Endpoints: v.endpoints, Nodes: nodes,
	})
	return &registry.Result{Action: action, Service: svc}
}

// apply applies one event from the stream and returns what it changed, as
// at most one Create and one Update, or one Delete.
func (s *state) apply(action registry.Action, svc *registry.Service) []*registry.Result {
	if !s.accepts(svc) {
		return nil
	}
	k := verKey{svc.Name, svc.Version}
	v := s.versions[k]
	switch action {
	case registry.Create, registry.Update:
		isNew := v == nil
		if isNew {
			v = &version{nodes: make(map[string]*registry.Node)}
		}
		headerChanged := !isNew && !v.sameHeader(svc)
		var created, updated []*registry.Node
		seen := make(map[string]bool, len(svc.Nodes))
		for _, n := range svc.Nodes {
			if n == nil || n.Id == "" || seen[n.Id] {
				continue
			}
			seen[n.Id] = true
			old := v.nodes[n.Id]
			switch {
			case old == nil:
				created = append(created, n)
			case headerChanged || !nodeEqual(old, n):
				updated = append(updated, n)
			default:
				continue
			}
			v.nodes[n.Id] = registry.CopyNode(n)
		}
		if len(created)+len(updated) == 0 {
			return nil // no node: not even a new header is reported
		}
		v.setHeader(svc)
		if isNew {
			s.versions[k] = v
		}
		var out []*registry.Result
		if len(created) > 0 {
			out = append(out, v.result(registry.Create, k, created))
		}
		if len(updated) > 0 {
			out = append(out, v.result(registry.Update, k, updated))
		}
		return out
	case registry.Delete:
		if v == nil {
			return nil
		}
		var removed []*registry.Node
		for _, n := range svc.Nodes {
			if n == nil {
				continue
			}
			if old := v.nodes[n.Id]; old != nil {
				removed = append(removed, old)
				delete(v.nodes, n.Id)
			}
		}
		if len(removed) == 0 {
			return nil
		}
		if len(v.nodes) == 0 {
			delete(s.versions, k)
		}
		// The header the service sends with the Delete is the current one.
		v.setHeader(svc)
		return []*registry.Result{v.result(registry.Delete, k, removed)}
	}
	return nil // an action this version does not know
}

// resync replaces the state with that of a new snapshot and returns the
// changes between the two: for each service version (in name and version
// order) a Delete of the nodes gone, a Create of the nodes new and an
// Update of the nodes whose address or metadata, or whose version's
// metadata or endpoints, changed.
func (s *state) resync(snap []*registry.Service) []*registry.Result {
	next := newState(s.service, snap)
	keys := slices.Collect(maps.Keys(s.versions))
	for k := range next.versions {
		if s.versions[k] == nil {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b verKey) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.version, b.version))
	})
	var out []*registry.Result
	for _, k := range keys {
		old, cur := s.versions[k], next.versions[k]
		var removed, created, updated []*registry.Node
		headerChanged := old != nil && cur != nil &&
			!old.sameHeader(&registry.Service{Metadata: cur.metadata, Endpoints: cur.endpoints})
		if old != nil {
			for id, n := range old.nodes {
				if cur == nil || cur.nodes[id] == nil {
					removed = append(removed, n)
				}
			}
		}
		if cur != nil {
			for id, n := range cur.nodes {
				var o *registry.Node
				if old != nil {
					o = old.nodes[id]
				}
				switch {
				case o == nil:
					created = append(created, n)
				case headerChanged || !nodeEqual(o, n):
					updated = append(updated, n)
				}
			}
		}
		if len(removed) > 0 {
			out = append(out, old.result(registry.Delete, k, removed))
		}
		if len(created) > 0 {
			out = append(out, cur.result(registry.Create, k, created))
		}
		if len(updated) > 0 {
			out = append(out, cur.result(registry.Update, k, updated))
		}
	}
	s.versions = next.versions
	return out
}

func nodeEqual(a, b *registry.Node) bool {
	return a.Address == b.Address && maps.Equal(a.Metadata, b.Metadata)
}

func endpointsEqual(a, b []*registry.Endpoint) bool {
	return slices.EqualFunc(a, b, func(x, y *registry.Endpoint) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.Name == y.Name && maps.Equal(x.Metadata, y.Metadata) &&
			valueEqual(x.Request, y.Request) && valueEqual(x.Response, y.Response)
	})
}

func valueEqual(a, b *registry.Value) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Type == b.Type && slices.EqualFunc(a.Values, b.Values, valueEqual)
}
