package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/openmicro/go-micro/registry"
)

func init() {
	registry.Register("memory", func(opts ...registry.Option) (registry.Registry, error) {
		return New(opts...), nil
	})
}

// New returns an empty in-memory registry. It reads no options; they are
// accepted so that New fits [registry.Factory].
func New(opts ...registry.Option) registry.Registry {
	_ = registry.NewOptions(opts...)
	return &memoryRegistry{
		services: make(map[string]map[string]*record),
		watchers: make(map[*watcher]struct{}),
	}
}

type memoryRegistry struct {
	mu       sync.Mutex
	services map[string]map[string]*record // name -> version -> record
	watchers map[*watcher]struct{}
}

// record is one version of a service. Its fields are owned by the registry
// and never handed out without a copy.
type record struct {
	name      string
	version   string
	metadata  map[string]string
	endpoints []*registry.Endpoint
	nodes     map[string]*entry
}

// entry is one registered node and its expiry timer.
type entry struct {
	node  *registry.Node
	timer *time.Timer // nil when the node does not expire
	gen   uint64      // bumped at each registration; a stale timer sees a different gen
}

func (r *memoryRegistry) String() string { return "memory" }

func (r *memoryRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	o := registry.NewRegisterOptions(opts...)
	s = registry.Copy(s)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.register(s, o.TTL)
	return nil
}

// register adds or refreshes the nodes of s, which the registry now owns,
// and tells the watchers. r.mu must be held.
func (r *memoryRegistry) register(s *registry.Service, ttl time.Duration) {
	versions, ok := r.services[s.Name]
	if !ok {
		versions = make(map[string]*record)
		r.services[s.Name] = versions
	}
	rec, ok := versions[s.Version]
	serviceChanged := false
	if !ok {
		rec = &record{name: s.Name, version: s.Version, nodes: make(map[string]*entry)}
		versions[s.Version] = rec
	} else {
		serviceChanged = !maps.Equal(rec.metadata, s.Metadata) || !endpointsEqual(rec.endpoints, s.Endpoints)
	}
	rec.metadata = s.Metadata
	rec.endpoints = s.Endpoints

	var created, updated []*registry.Node
	for _, n := range s.Nodes {
		e, exists := rec.nodes[n.Id]
		switch {
		case !exists:
			e = &entry{}
			rec.nodes[n.Id] = e
			created = append(created, n)
		case serviceChanged || e.node.Address != n.Address || !maps.Equal(e.node.Metadata, n.Metadata):
			updated = append(updated, n)
		}
		e.node = n
		r.arm(rec, e, ttl)
	}

	if len(created) > 0 {
		r.notify(registry.Create, rec, created)
	}
	if len(updated) > 0 {
		r.notify(registry.Update, rec, updated)
	}
}

// arm (re)starts the expiry timer of e for ttl; ttl <= 0 means no expiry.
// r.mu must be held.
func (r *memoryRegistry) arm(rec *record, e *entry, ttl time.Duration) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.gen++
	if ttl <= 0 {
		return
	}
	name, version, id, gen := rec.name, rec.version, e.node.Id, e.gen
	e.timer = time.AfterFunc(ttl, func() { r.expire(name, version, id, e, gen) })
}

// expire removes the node of entry e when its timer fires, unless the node
// was registered again (gen moved on) or removed (the entry is gone, perhaps
// replaced by a new one) between the timer firing and expire taking the lock.
func (r *memoryRegistry) expire(name, version, id string, e *entry, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.services[name][version]
	if !ok {
		return
	}
	if cur, ok := rec.nodes[id]; !ok || cur != e || e.gen != gen {
		return
	}
	r.remove(rec, []string{id})
}

// remove deletes the given nodes of rec, drops rec (and its name) when no
// node is left and tells the watchers. r.mu must be held.
func (r *memoryRegistry) remove(rec *record, ids []string) {
	var removed []*registry.Node
	for _, id := range ids {
		e, ok := rec.nodes[id]
		if !ok {
			continue
		}
		if e.timer != nil {
			e.timer.Stop()
		}
		delete(rec.nodes, id)
		removed = append(removed, e.node)
	}
	if len(rec.nodes) == 0 {
		versions := r.services[rec.name]
		delete(versions, rec.version)
		if len(versions) == 0 {
			delete(r.services, rec.name)
		}
	}
	if len(removed) > 0 {
		r.notify(registry.Delete, rec, removed)
	}
}

func (r *memoryRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	ids := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		ids[i] = n.Id
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.deregister(s.Name, s.Version, ids)
	return nil
}

// deregister removes the nodes ids of name@version. r.mu must be held.
func (r *memoryRegistry) deregister(name, version string, ids []string) {
	if rec, ok := r.services[name][version]; ok {
		r.remove(rec, ids)
	}
}

func (r *memoryRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	versions, ok := r.services[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", registry.ErrNotFound, name)
	}
	out := make([]*registry.Service, 0, len(versions))
	for _, rec := range versions {
		out = append(out, rec.service())
	}
	sortServices(out)
	return out, nil
}

func (r *memoryRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*registry.Service
	for _, versions := range r.services {
		for _, rec := range versions {
			out = append(out, rec.service())
		}
	}
	sortServices(out)
	return out, nil
}

// service returns a deep copy of rec with all its nodes, sorted by id.
func (rec *record) service() *registry.Service {
	nodes := make([]*registry.Node, 0, len(rec.nodes))
	for _, e := range rec.nodes {
		nodes = append(nodes, registry.CopyNode(e.node))
	}
	slices.SortFunc(nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
	s := rec.header()
	s.Nodes = nodes
	return s
}

// header returns a deep copy of rec without nodes.
func (rec *record) header() *registry.Service {
	return registry.Copy(&registry.Service{
		Name:      rec.name,
		Version:   rec.version,
		Metadata:  rec.metadata,
		Endpoints: rec.endpoints,
	})
}

func sortServices(ss []*registry.Service) {
	slices.SortFunc(ss, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
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

var _ registry.Registry = (*memoryRegistry)(nil)
