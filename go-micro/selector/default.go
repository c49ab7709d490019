package selector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/cache"
)

// New returns the default selector: nodes come from the registry given
// with [Registry] (required; [ErrNoRegistry] without it), read through a
// registry/cache unless [NoCache] is given or the registry already is a
// *cache.Cache; they are ordered by the strategy ([SetStrategy], default
// [Random]); nodes that fail repeatedly are blacklisted
// ([BlacklistThreshold], [BlacklistPeriod]).
//
// Close closes the cache New created; a registry passed in is left alone.
func New(opts ...Option) (Selector, error) {
	o := NewOptions(opts...)
	if o.Registry == nil {
		return nil, ErrNoRegistry
	}
	s := &registrySelector{
		opts:     o,
		reg:      o.Registry,
		marks:    make(map[string]map[string]*mark),
		counters: make(map[string]*atomic.Uint64),
	}
	if _, cached := o.Registry.(*cache.Cache); !cached && !o.NoCache {
		s.cache = cache.New(o.Registry, cache.TTL(o.CacheTTL), cache.Logger(o.Logger))
		s.reg = s.cache
	}
	return s, nil
}

type registrySelector struct {
	opts  Options
	reg   registry.Registry
	cache *cache.Cache // created by New and closed by Close; nil otherwise

	mu       sync.Mutex
	marks    map[string]map[string]*mark // service -> node id -> record
	counters map[string]*atomic.Uint64   // service -> strategy counter
}

// mark is the failure record of one node.
type mark struct {
	failures int       // consecutive failed calls
	until    time.Time // skipped until then once failures reach the threshold
}

func (s *registrySelector) String() string { return s.opts.name }

func (s *registrySelector) Select(ctx context.Context, service string, opts ...SelectOption) (Next, error) {
	so := NewSelectOptions(opts...)
	strategy := s.opts.Strategy
	if so.Strategy != nil {
		strategy = so.Strategy
	}

	ss, err := s.reg.GetService(ctx, service)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, service)
		}
		return nil, fmt.Errorf("selector: %s: %w", service, err)
	}
	if !s.prune(service, ss) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, service)
	}

	for _, f := range so.Filters {
		if f != nil {
			ss = f(ss)
		}
	}
	nodes := collect(ss)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: %s: every node filtered out", ErrNoneAvailable, service)
	}

	s.mu.Lock()
	now := s.opts.now()
	usable := slices.DeleteFunc(nodes, func(n *registry.Node) bool { return s.blacklisted(service, n.Id, now) })
	counter := s.counters[service]
	if counter == nil {
		counter = new(atomic.Uint64)
		s.counters[service] = counter
	}
	s.mu.Unlock()
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: %s: every node blacklisted", ErrNoneAvailable, service)
	}

	order := strategy(Pick{Service: service, Key: so.Key, Nodes: usable, Counter: counter})
	seen := make(map[string]struct{}, len(order))
	i := 0
	return func() (*registry.Node, error) {
		for i < len(order) {
			n := order[i]
			i++
			if n == nil {
				continue
			}
			if _, dup := seen[n.Id]; dup {
				continue
			}
			seen[n.Id] = struct{}{}
			// A node may have been blacklisted since Select.
			s.mu.Lock()
			skip := s.blacklisted(service, n.Id, s.opts.now())
			s.mu.Unlock()
			if !skip {
				return n, nil
			}
		}
		return nil, fmt.Errorf("%w: %s: every node tried", ErrNoneAvailable, service)
	}, nil
}

// collect returns the nodes of ss, without nils or repeated ids, sorted by
// id.
func collect(ss []*registry.Service) []*registry.Node {
	var nodes []*registry.Node
	for _, sv := range ss {
		if sv == nil {
			continue
		}
		for _, n := range sv.Nodes {
			if n != nil {
				nodes = append(nodes, n)
			}
		}
	}
	slices.SortStableFunc(nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
	return slices.CompactFunc(nodes, func(a, b *registry.Node) bool { return a.Id == b.Id })
}

// prune forgets the marks of nodes that are no longer registered and
// reports whether ss has any node at all.
func (s *registrySelector) prune(service string, ss []*registry.Service) bool {
	found := slices.ContainsFunc(ss, func(sv *registry.Service) bool { return sv != nil && len(sv.Nodes) > 0 })
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.marks[service]
	if len(m) == 0 {
		return found
	}
	live := make(map[string]struct{})
	for _, sv := range ss {
		if sv == nil {
			continue
		}
		for _, n := range sv.Nodes {
			if n != nil {
				live[n.Id] = struct{}{}
			}
		}
	}
	for id := range m {
		if _, ok := live[id]; !ok {
			delete(m, id)
		}
	}
	if len(m) == 0 {
		delete(s.marks, service)
	}
	return found
}

// blacklisted reports whether node id of service is skipped at now. s.mu
// must be held.
func (s *registrySelector) blacklisted(service, id string, now time.Time) bool {
	if s.opts.BlacklistThreshold <= 0 {
		return false
	}
	m := s.marks[service][id]
	return m != nil && m.failures >= s.opts.BlacklistThreshold && now.Before(m.until)
}

func (s *registrySelector) Mark(service string, node *registry.Node, err error) {
	if node == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if m := s.marks[service]; m != nil {
			delete(m, node.Id)
			if len(m) == 0 {
				delete(s.marks, service)
			}
		}
		return
	}
	if s.opts.BlacklistThreshold <= 0 {
		return
	}
	m := s.marks[service]
	if m == nil {
		m = make(map[string]*mark)
		s.marks[service] = m
	}
	rec := m[node.Id]
	if rec == nil {
		rec = &mark{}
		m[node.Id] = rec
	}
	rec.failures++
	if rec.failures >= s.opts.BlacklistThreshold {
		rec.until = s.opts.now().Add(s.opts.BlacklistPeriod)
	}
}

func (s *registrySelector) Reset(service string) {
	s.mu.Lock()
	delete(s.marks, service)
	s.mu.Unlock()
}

func (s *registrySelector) Close() error {
	if s.cache != nil {
		return s.cache.Close()
	}
	return nil
}

var _ Selector = (*registrySelector)(nil)
