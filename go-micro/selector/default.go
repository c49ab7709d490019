package selector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
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
// After Close, Select fails with [ErrClosed]; a Next obtained before keeps
// working, and Mark and Reset stay safe to call.
//
// Over a cache (its own or one passed in) a Select copies no service: it
// reads the cache's read-only snapshot ([cache.Cache.Snapshot]), keeps the
// sorted, de-duplicated node list it derives from it until the registry
// changes, and copies only the node that Next hands out.
func New(opts ...Option) (Selector, error) {
	o := NewOptions(opts...)
	if o.Registry == nil {
		return nil, ErrNoRegistry
	}
	s := &registrySelector{opts: o, reg: o.Registry}
	if _, cached := o.Registry.(*cache.Cache); !cached && !o.NoCache {
		s.cache = cache.New(o.Registry, cache.TTL(o.CacheTTL), cache.Logger(o.Logger))
		s.reg = s.cache
	}
	if sn, ok := s.reg.(snapshotter); ok && !o.NoCache {
		s.snap = sn
	}
	s.states.Store(&map[string]*serviceState{})
	return s, nil
}

// snapshotter is the read-only, uncopied read of a registry/cache.
type snapshotter interface {
	Snapshot(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, uint64, error)
}

type registrySelector struct {
	opts  Options
	reg   registry.Registry
	snap  snapshotter  // reg, when it can answer without copying
	cache *cache.Cache // created by New and closed by Close; nil otherwise

	closed   atomic.Bool
	optsPool sync.Pool // of *SelectOptions

	mu     sync.Mutex                               // serialises additions to states
	states atomic.Pointer[map[string]*serviceState] // copy on write; read without a lock
}

// maxCounters bounds the round-robin counters kept per service: one per
// distinct set of usable nodes (filters and blacklisting make sets).
const maxCounters = 64

// serviceState is what the selector keeps of one service name.
type serviceState struct {
	view atomic.Pointer[view] // the latest node list derived from the registry

	// black holds the nodes blacklisted now or lately: node id -> the end
	// of its blacklisting. It is never modified once stored (Mark stores a
	// new map), so Select and Next read it without a lock; nil when empty.
	black   atomic.Pointer[map[string]time.Time]
	records atomic.Int64 // len(marks), so that a Mark of success on a clean service takes no lock

	counters atomic.Pointer[map[uint64]*atomic.Uint64] // node set fingerprint -> turn; copy on write

	mu    sync.Mutex       // guards marks, and the stores of black, records and counters
	marks map[string]*mark // node id -> failure record
}

// mark is the failure record of one node.
type mark struct {
	failures int       // consecutive failed calls
	until    time.Time // skipped until then once failures reach the threshold
}

// view is what one answer of the registry for a service yields. It is
// never modified once built; Selects of one cache generation share it.
type view struct {
	gen      uint64                    // the cache generation; 0 when not from a cache
	services []*registry.Service       // the answer itself; read-only
	nodes    []*registry.Node          // the nodes, de-duplicated by id, sorted (see nodeOrder)
	hashes   []uint64                  // idHash of each of nodes
	all      uint64                    // the fingerprint of nodes: the sum of hashes
	pos      map[*registry.Node]int    // index in nodes of each node kept
	ids      map[string]struct{}       // the ids of nodes
	version  map[*registry.Node]string // the version of each node of services
	notFound bool                      // no node at all
}

func (s *registrySelector) String() string { return s.opts.name }

func (s *registrySelector) Select(ctx context.Context, service string, opts ...SelectOption) (Next, error) {
	return s.sel(ctx, service, false, opts)
}

// SelectShared is Select whose Next returns the stored nodes, not copies,
// for a caller that only reads them (the client, for a call no wrapper
// sees); see internal/shared.
func (s *registrySelector) SelectShared(ctx context.Context, service string, opts ...SelectOption) (Next, error) {
	return s.sel(ctx, service, true, opts)
}

func (s *registrySelector) sel(ctx context.Context, service string, shared bool, opts []SelectOption) (Next, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("selector: %s: %w", service, err)
	}
	var so *SelectOptions
	if len(opts) > 0 {
		// Pooled: applying options to a fresh value costs an allocation.
		so, _ = s.optsPool.Get().(*SelectOptions)
		if so == nil {
			so = new(SelectOptions)
		}
		defer s.putOptions(so)
		for _, opt := range opts {
			if opt != nil {
				opt(so)
			}
		}
	} else {
		so = &SelectOptions{}
	}
	strategy := s.opts.Strategy
	if so.Strategy != nil {
		strategy = so.Strategy
	}
	st := s.state(service)
	v, err := s.view(ctx, service, st)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, service)
		}
		return nil, fmt.Errorf("selector: %s: %w", service, err)
	}
	if v.notFound {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, service)
	}

	nodes, fp := v.nodes, v.all
	if len(so.Filters) > 0 {
		nodes, fp = v.filter(so.Filters)
		if len(nodes) == 0 {
			return nil, fmt.Errorf("%w: %s: every node filtered out", ErrNoneAvailable, service)
		}
	}
	black := st.black.Load()
	if black != nil {
		nodes, fp = withoutBlacklisted(nodes, fp, *black, s.opts.now())
		if len(nodes) == 0 {
			return nil, fmt.Errorf("%w: %s: every node blacklisted", ErrNoneAvailable, service)
		}
	}

	it := &iter{
		s:       s,
		st:      st,
		service: service,
		black:   black,
		shared:  shared,
		order:   strategy(Pick{Service: service, Key: so.Key, Nodes: nodes, Counter: st.counter(fp)}),
	}
	return it.next, nil
}

// putOptions clears so and returns it to the pool.
func (s *registrySelector) putOptions(so *SelectOptions) {
	clear(so.Filters)
	*so = SelectOptions{Filters: so.Filters[:0]}
	s.optsPool.Put(so)
}

// state returns the state of service, adding it on first use.
func (s *registrySelector) state(service string) *serviceState {
	if st := (*s.states.Load())[service]; st != nil {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.states.Load()
	if st := old[service]; st != nil {
		return st
	}
	st := &serviceState{}
	m := make(map[string]*serviceState, len(old)+1)
	maps.Copy(m, old)
	m[service] = st
	s.states.Store(&m)
	return st
}

// view returns the view of the registry's current answer for service:
// the one derived before while the cache's generation is unchanged, a new
// one otherwise.
func (s *registrySelector) view(ctx context.Context, service string, st *serviceState) (*view, error) {
	var (
		ss  []*registry.Service
		gen uint64
		err error
	)
	if s.snap != nil {
		ss, gen, err = s.snap.Snapshot(ctx, service)
		if gen != 0 {
			if v := st.view.Load(); v != nil && v.gen == gen {
				return v, err
			}
		}
	} else {
		ss, err = s.reg.GetService(ctx, service)
	}
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	v := newView(ss, gen)
	st.install(v, s.opts.BlacklistThreshold)
	return v, nil
}

// newView derives the node list of one registry answer. It reads ss and
// never modifies it.
func newView(ss []*registry.Service, gen uint64) *view {
	v := &view{gen: gen, services: ss, version: make(map[*registry.Node]string)}
	for _, sv := range ss {
		if sv == nil {
			continue
		}
		for _, n := range sv.Nodes {
			if n != nil {
				v.version[n] = sv.Version
			}
		}
	}
	v.notFound = len(v.version) == 0
	v.nodes = sortedNodes(ss, v.version)
	v.hashes = make([]uint64, len(v.nodes))
	v.pos = make(map[*registry.Node]int, len(v.nodes))
	v.ids = make(map[string]struct{}, len(v.nodes))
	for i, n := range v.nodes {
		v.hashes[i] = idHash(n.Id)
		v.all += v.hashes[i]
		v.pos[n] = i
		v.ids[n.Id] = struct{}{}
	}
	return v
}

// sortedNodes returns the nodes of ss sorted by id, without nils or
// repeated ids. Of nodes sharing an id (one node id under two versions)
// the one kept is the first by address, then by version, so that the
// choice does not depend on the order the registry answered in.
func sortedNodes(ss []*registry.Service, version map[*registry.Node]string) []*registry.Node {
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
	slices.SortFunc(nodes, func(a, b *registry.Node) int {
		return cmp.Or(cmp.Compare(a.Id, b.Id), cmp.Compare(a.Address, b.Address), cmp.Compare(version[a], version[b]))
	})
	return slices.CompactFunc(nodes, func(a, b *registry.Node) bool { return a.Id == b.Id })
}

// filter applies filters to the view's services and returns the nodes
// left, in the view's order, with their fingerprint.
func (v *view) filter(filters []Filter) ([]*registry.Node, uint64) {
	ss := v.services
	for _, f := range filters {
		if f != nil {
			ss = f(ss)
		}
	}
	// Mark the nodes kept by their index in v.nodes, so that they come out
	// sorted and de-duplicated without sorting.
	var small [4]uint64
	set := small[:]
	if words := (len(v.nodes) + 63) / 64; words > len(small) {
		set = make([]uint64, words)
	}
	count := 0
	for _, sv := range ss {
		if sv == nil {
			continue
		}
		for _, n := range sv.Nodes {
			if n == nil {
				continue
			}
			i, ok := v.pos[n]
			if !ok {
				// A node the view dropped as a duplicate id, or one a filter
				// made: sort what the filters returned from scratch.
				return v.collect(ss)
			}
			if set[i/64]&(1<<(i%64)) == 0 {
				set[i/64] |= 1 << (i % 64)
				count++
			}
		}
	}
	if count == len(v.nodes) {
		return v.nodes, v.all
	}
	out := make([]*registry.Node, 0, count)
	var fp uint64
	for i, n := range v.nodes {
		if set[i/64]&(1<<(i%64)) != 0 {
			out = append(out, n)
			fp += v.hashes[i]
		}
	}
	return out, fp
}

// collect is the slow path of filter.
func (v *view) collect(ss []*registry.Service) ([]*registry.Node, uint64) {
	version := make(map[*registry.Node]string)
	for _, sv := range ss {
		if sv == nil {
			continue
		}
		for _, n := range sv.Nodes {
			if n != nil {
				version[n] = sv.Version
			}
		}
	}
	nodes := sortedNodes(ss, version)
	return nodes, fingerprint(nodes)
}

// withoutBlacklisted returns nodes without those black lists as skipped
// at now, and their fingerprint. It returns nodes itself when none is
// skipped and never modifies it.
func withoutBlacklisted(nodes []*registry.Node, fp uint64, black map[string]time.Time, now time.Time) ([]*registry.Node, uint64) {
	var out []*registry.Node
	for i, n := range nodes {
		until, ok := black[n.Id]
		skip := ok && now.Before(until)
		switch {
		case skip && out == nil:
			out = make([]*registry.Node, i, len(nodes))
			copy(out, nodes[:i])
		case !skip && out != nil:
			out = append(out, n)
		}
	}
	if out == nil {
		return nodes, fp
	}
	return out, fingerprint(out)
}

// fingerprint identifies a set of nodes by their ids, whatever their
// order: round-robin keeps one turn per set.
func fingerprint(nodes []*registry.Node) uint64 {
	var fp uint64
	for _, n := range nodes {
		fp += idHash(n.Id)
	}
	return fp
}

// idHash is the hash of a node id that fingerprints add up.
func idHash(id string) uint64 { return mix(fnvString(fnvOffset, id)) }

// install makes v the service's current view, unless a later one is
// there already, and forgets the marks of nodes v does not have.
func (st *serviceState) install(v *view, threshold int) {
	if cur := st.view.Load(); cur != nil && v.gen != 0 && cur.gen > v.gen {
		return
	}
	st.view.Store(v)
	if st.records.Load() == 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	changed := false
	for id := range st.marks {
		if _, ok := v.ids[id]; !ok {
			delete(st.marks, id)
			changed = true
		}
	}
	if changed {
		st.publish(threshold)
	}
}

// publish stores the blacklist and record count that st.marks imply.
// st.mu must be held.
func (st *serviceState) publish(threshold int) {
	st.records.Store(int64(len(st.marks)))
	var black map[string]time.Time
	for id, m := range st.marks {
		if threshold > 0 && m.failures >= threshold {
			if black == nil {
				black = make(map[string]time.Time)
			}
			black[id] = m.until
		}
	}
	if black == nil {
		st.black.Store(nil)
		return
	}
	st.black.Store(&black)
}

// counter returns the round-robin turn of the node set fp, adding it on
// first use.
func (st *serviceState) counter(fp uint64) *atomic.Uint64 {
	if m := st.counters.Load(); m != nil {
		if c := (*m)[fp]; c != nil {
			return c
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var old map[uint64]*atomic.Uint64
	if m := st.counters.Load(); m != nil {
		old = *m
	}
	if c := old[fp]; c != nil {
		return c
	}
	m := make(map[uint64]*atomic.Uint64, len(old)+1)
	if len(old) < maxCounters {
		maps.Copy(m, old)
	}
	c := new(atomic.Uint64)
	if len(old) > 0 {
		// Not the service's first set (a node joined or left, a filter or
		// the blacklist narrowed it): start anywhere, so that churn does
		// not favour the first node of each new set.
		c.Store(rand.Uint64())
	}
	m[fp] = c
	st.counters.Store(&m)
	return c
}

// iter is the state of one Next.
type iter struct {
	s       *registrySelector
	st      *serviceState
	service string
	black   *map[string]time.Time // the blacklist Select applied
	shared  bool                  // hand out the stored nodes, not copies
	order   []*registry.Node      // the strategy's order; read-only
	i       int
	seen    map[string]struct{} // ids handed out, once order[:i] is too long to scan
}

// scanLimit is how many handed-out nodes Next scans for a repeated id
// before it keeps a set instead.
const scanLimit = 32

func (it *iter) next() (*registry.Node, error) {
	for it.i < len(it.order) {
		n := it.order[it.i]
		it.i++
		if n == nil || it.repeated(n.Id) {
			continue
		}
		// A node may have been blacklisted since Select: the blacklist is
		// replaced on every change, so an unchanged pointer means no news.
		if b := it.st.black.Load(); b != nil && b != it.black {
			if until, ok := (*b)[n.Id]; ok && it.s.opts.now().Before(until) {
				continue
			}
		}
		if it.shared {
			return n, nil
		}
		return registry.CopyNode(n), nil
	}
	return nil, fmt.Errorf("%w: %s: every node tried", ErrNoneAvailable, it.service)
}

// repeated reports whether id was met before in order[:i-1]: a custom
// strategy may list a node twice.
func (it *iter) repeated(id string) bool {
	before := it.order[:it.i-1]
	if it.seen == nil && len(before) <= scanLimit {
		for _, n := range before {
			if n != nil && n.Id == id {
				return true
			}
		}
		return false
	}
	if it.seen == nil {
		it.seen = make(map[string]struct{}, len(it.order))
		for _, n := range before {
			if n != nil {
				it.seen[n.Id] = struct{}{}
			}
		}
	}
	if _, ok := it.seen[id]; ok {
		return true
	}
	it.seen[id] = struct{}{}
	return false
}

func (s *registrySelector) Mark(service string, node *registry.Node, err error) {
	if node == nil {
		return
	}
	if err == nil {
		st := (*s.states.Load())[service]
		if st == nil || st.records.Load() == 0 {
			return // nothing to forget: the common case takes no lock
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if _, ok := st.marks[node.Id]; ok {
			delete(st.marks, node.Id)
			st.publish(s.opts.BlacklistThreshold)
		}
		return
	}
	if s.opts.BlacklistThreshold <= 0 {
		return
	}
	st := s.state(service)
	st.mu.Lock()
	defer st.mu.Unlock()
	if v := st.view.Load(); v != nil && !v.notFound {
		if _, ok := v.ids[node.Id]; !ok {
			return // not a node of the service (any more): nothing to skip
		}
	}
	if st.marks == nil {
		st.marks = make(map[string]*mark)
	}
	rec := st.marks[node.Id]
	if rec == nil {
		rec = &mark{}
		st.marks[node.Id] = rec
	}
	rec.failures++
	if rec.failures >= s.opts.BlacklistThreshold {
		rec.until = s.opts.now().Add(s.opts.BlacklistPeriod)
	}
	st.publish(s.opts.BlacklistThreshold)
}

func (s *registrySelector) Reset(service string) {
	st := (*s.states.Load())[service]
	if st == nil {
		return
	}
	st.mu.Lock()
	st.marks = nil
	st.publish(s.opts.BlacklistThreshold)
	st.mu.Unlock()
}

// Close makes further Selects fail with ErrClosed and closes the cache New
// created. It is idempotent.
func (s *registrySelector) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.cache != nil {
		return s.cache.Close()
	}
	return nil
}

var _ Selector = (*registrySelector)(nil)
