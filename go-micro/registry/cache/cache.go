package cache

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// ErrNoRegistry is returned by every method of a Cache built over a nil
// registry.
var ErrNoRegistry = errors.New("registry/cache: no registry")

// errFetchTimeout is the cause of the end of a fetch the cache makes on its
// own (in the background, or after a watch event) that outlasts the fetch
// timeout. Unlike the end of Close or of an eviction, it counts as a
// failure of the registry.
var errFetchTimeout = errors.New("registry/cache: fetch timed out")

// forever is the servable-until time of an answer whose background refetch
// is running: it is served until that refetch (or an invalidation) changes
// the entry.
var forever = time.Unix(1<<62, 0)

// Cache is a [registry.Registry] that serves GetService from memory and
// keeps it fresh through one watch per service name. Build one with [New];
// the zero value is not usable.
type Cache struct {
	r    registry.Registry
	opts options
	log  *slog.Logger

	ctx    context.Context // root of every watch and of every fetch the cache makes on its own
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per watch, background fetch and sweep goroutine

	// epoch is the clock's reading at New; entries keep their last read as
	// an offset from it. grain is how stale the last read that Snapshot's
	// fast path records may be (see entry.markRead).
	epoch time.Time
	grain time.Duration

	// index is a copy of entries for Snapshot's fast path to read without
	// c.mu. It is replaced, never modified, under c.mu whenever an entry is
	// added or evicted: that copies the map, which is fine because entries
	// come and go rarely while reads are constant.
	index atomic.Pointer[map[string]*entry]

	mu      sync.Mutex
	closed  bool
	sweeper bool   // the idle sweep goroutine has been started
	seq     uint64 // orders fetches and invalidations
	entries map[string]*entry
}

// entry is what the cache knows of one service name. Its fields are guarded
// by Cache.mu, except read and pub, which are atomic; services is never
// modified once stored (a new fetch replaces the slice), so it may be copied
// outside the lock.
type entry struct {
	ctx     context.Context // ends on Close or when the entry is evicted
	cancel  context.CancelFunc
	ready   chan struct{}    // closed once the first watch attempt has finished
	watcher registry.Watcher // the running watch, stopped by Close or eviction
	early   bool             // a fetch began before the first watch was running
	evicted bool             // dropped from Cache.entries; its watch must end
	read    atomic.Int64     // when GetService last asked for it, as an offset from Cache.epoch
	pub     atomic.Pointer[published]

	hasData   bool                // a fetch has answered (found or not found)
	services  []*registry.Service // the last answer; nil when not found
	err       error               // the not-found error of the last answer, or nil
	dataGen   uint64              // ticket of the fetch that produced the answer
	fetched   time.Time           // when that answer was stored
	invalid   uint64              // seq of the last invalidation
	failedGen uint64              // ticket of the last failed fetch newer than the answer
	failures  int                 // consecutive failed fetches
	retryAt   time.Time           // no new fetch before this after a failure

	inflight *call // the fetch others may join
	bg       *call // the background refetch running, if any (at most one)
}

// published is an immutable copy of the answer of an entry and of when it
// may be served without taking Cache.mu. Snapshot's fast path reads it
// without Cache.mu; every change of the fields of the entry it derives from
// publishes a new one under Cache.mu (see Cache.publish). An entry that
// cannot be served without c.mu (no answer, invalidated and not within a
// retry delay, evicted, or the cache closed) publishes nil.
type published struct {
	services []*registry.Service
	err      error
	gen      uint64
	// until is when the fast path stops serving the answer: the later of
	// the end of its TTL (unless invalidated since its fetch began) and the
	// end of the delay after a failed fetch, or forever while a background
	// refetch runs (see entry.revalidating). Snapshot under c.mu serves the
	// entry at least while now is before it, and also when it is stale but
	// may be revalidated in the background (see entry.fresh, entry.retryAt
	// and entry.settled).
	until time.Time
}

// call is one fetch that concurrent callers share.
type call struct {
	ticket    uint64
	done      chan struct{} // closed when services and err are set
	services  []*registry.Service
	gen       uint64 // the dataGen of services; 0 with an error and no data
	err       error
	abandoned bool // the leader's context ended; waiters should try again
	joined    int  // callers waiting on this fetch besides the leader
}

// New returns a Cache over r. It starts nothing: watches begin with the
// first GetService of each name (and with them one goroutine that evicts
// idle entries). Call Close to stop them.
func New(r registry.Registry, opts ...Option) *Cache {
	ctx, cancel := context.WithCancel(context.Background())
	o := newOptions(opts...)
	return &Cache{
		r:       r,
		opts:    o,
		log:     o.logger.With("component", "registry/cache"),
		ctx:     ctx,
		cancel:  cancel,
		epoch:   o.now(),
		grain:   min(maxReadGrain, o.idle/8),
		entries: make(map[string]*entry),
	}
}

// maxReadGrain bounds how often Snapshot's fast path records that an entry
// was read: at most once per grain per entry, so that parallel readers of
// one entry do not all write to it.
const maxReadGrain = time.Second

// String names the implementation: "cache(" plus the underlying registry's
// name and ")".
func (c *Cache) String() string {
	if c.r == nil {
		return "cache"
	}
	return "cache(" + c.r.String() + ")"
}

// Register registers s with the underlying registry and invalidates the
// cached entry of s.Name, so that the next GetService sees the change.
func (c *Cache) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if c.r == nil {
		return ErrNoRegistry
	}
	err := c.r.Register(ctx, s, opts...)
	if s != nil {
		c.invalidate(s.Name)
	}
	return err
}

// Deregister deregisters s from the underlying registry and invalidates the
// cached entry of s.Name.
func (c *Cache) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if c.r == nil {
		return ErrNoRegistry
	}
	err := c.r.Deregister(ctx, s, opts...)
	if s != nil {
		c.invalidate(s.Name)
	}
	return err
}

// ListServices passes through to the underlying registry.
func (c *Cache) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if c.r == nil {
		return nil, ErrNoRegistry
	}
	return c.r.ListServices(ctx, opts...)
}

// Watch passes through to the underlying registry.
func (c *Cache) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if c.r == nil {
		return nil, ErrNoRegistry
	}
	return c.r.Watch(ctx, opts...)
}

// GetService returns a deep copy of the cached service, fetching it on a
// miss or after an invalidation. Concurrent callers that miss share one
// fetch. An answer older than the TTL is returned at once, and one fetch
// of the name is started in the background to replace it. When the
// underlying registry fails, the last known answer is returned instead of
// the error. The options of the caller that leads a fetch (or starts a
// background one) are passed on; cached answers ignore them.
func (c *Cache) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	ss, gen, err := c.Snapshot(ctx, name, opts...)
	if gen == 0 {
		return ss, err // not the cache's: the caller owns it already
	}
	return registry.CopyServices(ss), err
}

// Snapshot is GetService without the copy, for readers on a hot path (the
// selector calls it on every Select). It answers exactly as GetService does
// but returns the cache's own stored services, which the caller must treat
// as read-only: neither the slice nor anything reachable from it (nodes,
// endpoints, values, metadata maps) may be modified. The cache never
// modifies a stored answer; a refetch replaces it with a new one.
//
// gen identifies the answer: it is non-zero for an answer the cache
// stored, and two calls on one Cache that return the same non-zero gen
// return the same slice, so a caller may keep work derived from it (a
// sorted node list, say) until gen changes. A later answer has a larger
// gen. gen is 0 when the answer is not the cache's: after Close (the
// underlying registry's own result, which the caller owns) or with an
// error and nothing cached.
func (c *Cache) Snapshot(ctx context.Context, name string, opts ...registry.GetOption) (ss []*registry.Service, gen uint64, err error) {
	if c.r == nil {
		return nil, 0, ErrNoRegistry
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	// The fast path: a stored answer that may be served, read without c.mu.
	// Anything else (a miss, an invalidation, a stale answer with no
	// refetch running yet, a fetch to lead or to wait for, a closed cache)
	// takes the path below.
	if e := c.lookup(name); e != nil {
		if p := e.pub.Load(); p != nil {
			if now := c.opts.now(); now.Before(p.until) {
				e.markRead(c.offset(now), c.grain)
				return p.services, p.gen, p.err
			}
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			ss, err := c.r.GetService(ctx, name, opts...)
			return ss, 0, err
		}
		now := c.opts.now()
		e := c.entries[name]
		if e == nil {
			e = c.newEntry(name)
		}
		e.markRead(c.offset(now), 0)
		if e.hasData {
			serve := e.fresh(now, c.opts.ttl) || now.Before(e.retryAt)
			if !serve && e.settled() {
				// Stale: served at once while a fetch runs in the
				// background (stale-while-revalidate).
				c.revalidate(name, e, opts...)
				serve = true
			}
			if serve {
				ss, gen, err := e.services, e.dataGen, e.err
				c.mu.Unlock()
				return ss, gen, err
			}
		}
		cl := e.inflight
		if cl == nil || cl.ticket <= e.invalid {
			cl = c.newCall(e)
			c.mu.Unlock()
			c.awaitWatch(ctx, e)
			c.fetch(ctx, name, e, cl, opts...)
			return cl.services, cl.gen, cl.err
		}
		cl.joined++
		c.mu.Unlock()

		select {
		case <-cl.done:
			if cl.abandoned {
				continue // the leader gave up; lead a fetch of our own
			}
			return cl.services, cl.gen, cl.err
		case <-ctx.Done():
			c.mu.Lock()
			ss, gen, err, ok := e.services, e.dataGen, e.err, e.hasData
			c.mu.Unlock()
			if ok {
				return ss, gen, err
			}
			return nil, 0, ctx.Err()
		}
	}
}

// Close stops every watch and waits for their goroutines. It is idempotent.
// Afterwards GetService passes through to the underlying registry.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var ws []registry.Watcher
	for _, e := range c.entries {
		c.publish(e)
		if e.watcher != nil {
			ws = append(ws, e.watcher)
		}
	}
	c.mu.Unlock()

	c.cancel()
	for _, w := range ws {
		w.Stop()
	}
	c.wg.Wait()
	return nil
}

// newEntry adds the entry of name and starts its watch, and the idle sweep
// with the first entry. c.mu must be held and c.closed false.
func (c *Cache) newEntry(name string) *entry {
	ctx, cancel := context.WithCancel(c.ctx)
	e := &entry{ctx: ctx, cancel: cancel, ready: make(chan struct{})}
	c.entries[name] = e
	c.reindex()
	c.wg.Add(1)
	go c.watch(name, e)
	if !c.sweeper {
		c.sweeper = true
		c.wg.Add(1)
		go c.sweepLoop()
	}
	return e
}

// awaitWatch lets the first watch of e start before the first fetch, so
// that no change can fall between the fetch and the watch. It waits no
// longer than watchWait (or ctx): a registry whose Watch hangs must not
// stall GetService. If the fetch goes ahead of the watch, the watch
// refetches once it runs.
func (c *Cache) awaitWatch(ctx context.Context, e *entry) {
	t := time.NewTimer(c.opts.watchWait)
	defer t.Stop()
	select {
	case <-e.ready:
		return
	case <-ctx.Done():
	case <-t.C:
	}
	c.mu.Lock()
	if e.watcher == nil {
		e.early = true
	}
	c.mu.Unlock()
}

// sweepLoop evicts idle entries every quarter of the idle time until Close.
func (c *Cache) sweepLoop() {
	defer c.wg.Done()
	t := time.NewTicker(max(c.opts.idle/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// sweep drops every entry that GetService has not asked for during the
// idle time and that no fetch is using, and stops its watch.
func (c *Cache) sweep() {
	now := c.opts.now()
	var dropped []*entry
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	// A read the fast path recorded may be up to c.grain older than the
	// read itself; the grain is added so that no entry read during the idle
	// time is evicted.
	at := c.offset(now)
	for name, e := range c.entries {
		if e.inflight != nil || e.bg != nil || time.Duration(at-e.read.Load()) < c.opts.idle+c.grain {
			continue
		}
		delete(c.entries, name)
		e.evicted = true
		c.publish(e)
		dropped = append(dropped, e)
	}
	if len(dropped) > 0 {
		c.reindex()
	}
	ws := make([]registry.Watcher, 0, len(dropped))
	for _, e := range dropped {
		if e.watcher != nil {
			ws = append(ws, e.watcher)
		}
	}
	c.mu.Unlock()
	for _, e := range dropped {
		e.cancel()
	}
	for _, w := range ws {
		w.Stop()
	}
}

// fresh reports whether e may be served without a fetch. c.mu must be held.
func (e *entry) fresh(now time.Time, ttl time.Duration) bool {
	return e.dataGen > e.invalid && now.Sub(e.fetched) < ttl
}

// settled reports whether a fetch begun after the last invalidation of e
// has finished: its answer (or, after a failure, the answer before it) may
// be served while it is revalidated in the background. An entry that has
// been invalidated since is not settled: its callers wait for a fetch, so
// that they read their own writes and what the watch reported. c.mu must
// be held.
func (e *entry) settled() bool {
	return e.dataGen > e.invalid || e.failedGen > e.invalid
}

// revalidating reports whether the stored answer of e is being served while
// its background refetch runs. c.mu must be held.
func (e *entry) revalidating() bool {
	return e.bg != nil && e.hasData && e.settled()
}

// revalidate starts the background refetch of e unless a fetch of it is
// already running; callers keep getting the stored answer meanwhile. The
// fetch runs on a goroutine that Close waits for, under the fetch timeout
// and e.ctx. c.mu must be held, c.closed false and e.hasData true.
func (c *Cache) revalidate(name string, e *entry, opts ...registry.GetOption) {
	if e.bg != nil || e.inflight != nil {
		return
	}
	cl := c.newCall(e)
	e.bg = cl
	c.publish(e)
	ctx, cancel := c.fetchContext(e)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		c.fetch(ctx, name, e, cl, opts...)
	}()
}

// fetchContext returns the context of a fetch the cache makes on its own:
// it ends with e.ctx (Close or eviction) or after the fetch timeout, whose
// end fetch counts as a failure of the registry.
func (c *Cache) fetchContext(e *entry) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(e.ctx, c.opts.fetchTimeout, errFetchTimeout)
}

// publish makes the current answer of e, and what decides whether it may be
// served, visible to Snapshot's fast path. It must be called under c.mu
// after every change of hasData, services, err, dataGen, fetched, invalid,
// failedGen, retryAt, bg or evicted, and of c.closed.
func (c *Cache) publish(e *entry) {
	// now.Sub(fetched) < ttl is now.Before(fetched.Add(ttl)), and the
	// later of two times bounds the union of the two intervals before them.
	until := e.retryAt
	if e.dataGen > e.invalid {
		if stale := e.fetched.Add(c.opts.ttl); stale.After(until) {
			until = stale
		}
	}
	if e.revalidating() {
		// Until the refetch ends (and publishes again), every reader would
		// be served this answer under c.mu too: spare them the lock.
		until = forever
	}
	if !e.hasData || e.evicted || c.closed || until.IsZero() {
		e.pub.Store(nil)
		return
	}
	e.pub.Store(&published{services: e.services, err: e.err, gen: e.dataGen, until: until})
}

// lookup returns the entry of name from the index, or nil. It needs no lock.
func (c *Cache) lookup(name string) *entry {
	if m := c.index.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// reindex publishes a copy of c.entries as the index. c.mu must be held.
func (c *Cache) reindex() {
	m := maps.Clone(c.entries)
	c.index.Store(&m)
}

// offset returns t as an offset from c.epoch, the form of entry.read.
func (c *Cache) offset(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// markRead records a read of e at offset at. It writes only when that moves
// the recorded read forward by more than grain, so the record may be up to
// grain older than the last read, and it never moves the record back.
func (e *entry) markRead(at int64, grain time.Duration) {
	for {
		old := e.read.Load()
		if at-old <= int64(grain) {
			return
		}
		if e.read.CompareAndSwap(old, at) {
			return
		}
	}
}

// newCall starts a fetch that others may join. c.mu must be held.
func (c *Cache) newCall(e *entry) *call {
	c.seq++
	cl := &call{ticket: c.seq, done: make(chan struct{})}
	e.inflight = cl
	return cl
}

// invalidate makes the next GetService of name fetch again.
func (c *Cache) invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[name]; e != nil {
		c.seq++
		e.invalid = c.seq
		e.retryAt = time.Time{}
		c.publish(e)
	}
}

// fetch asks the underlying registry for name, stores the answer in e and
// completes cl.
func (c *Cache) fetch(ctx context.Context, name string, e *entry, cl *call, opts ...registry.GetOption) {
	ss, err := c.r.GetService(ctx, name, opts...)
	ss = registry.CopyServices(ss) // the registry may keep what it returned

	c.mu.Lock()
	defer func() {
		c.publish(e)
		c.mu.Unlock()
		close(cl.done)
	}()
	if e.inflight == cl {
		e.inflight = nil
	}
	if e.bg == cl {
		e.bg = nil
	}
	now := c.opts.now()
	switch {
	case err == nil || errors.Is(err, registry.ErrNotFound):
		if cl.ticket > e.dataGen {
			if err != nil {
				ss = nil
			}
			e.hasData, e.services, e.err = true, ss, err
			e.dataGen, e.fetched = cl.ticket, now
			if e.failures > 0 {
				c.log.Info("registry reachable again", "service", name)
			}
			e.failures, e.retryAt = 0, time.Time{}
		}
		cl.services, cl.gen, cl.err = e.services, e.dataGen, e.err
		return
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), errFetchTimeout):
		// The caller gave up, or the cache closed or dropped the entry;
		// that says nothing about the registry. Waiters ask again.
		cl.abandoned = true
	case cl.ticket > e.dataGen:
		e.failedGen = max(e.failedGen, cl.ticket)
		e.failures++
		e.retryAt = now.Add(c.backoff(e.failures))
		if e.failures == 1 {
			c.log.Warn("cannot fetch service, serving last known nodes",
				"service", name, "stale", e.hasData, "error", err)
		}
	}
	if e.hasData {
		cl.services, cl.gen, cl.err = e.services, e.dataGen, e.err
	} else {
		cl.err = err
	}
}

// refresh fetches name again after a change reported by its watch. Callers
// that ask meanwhile wait for this fetch instead of reading the old answer;
// it is bounded by the fetch timeout, after which they get the old answer.
func (c *Cache) refresh(name string, e *entry) {
	c.mu.Lock()
	if c.closed || e.evicted {
		c.mu.Unlock()
		return
	}
	c.seq++
	e.invalid = c.seq
	e.retryAt = time.Time{}
	c.publish(e)
	cl := c.newCall(e)
	c.mu.Unlock()
	ctx, cancel := c.fetchContext(e)
	defer cancel()
	c.fetch(ctx, name, e, cl)
}

// watch runs the watch of one service name until Close or the eviction of
// e: it refetches on every change and re-establishes a broken watch with
// backoff. Close and sweep stop the watcher it runs (found in e.watcher)
// and end e.ctx; a watcher it gets after that is stopped here, so a Watch
// that returns late cannot leave a watcher running.
func (c *Cache) watch(name string, e *entry) {
	defer c.wg.Done()
	ready := sync.OnceFunc(func() { close(e.ready) })
	defer ready()

	first := true // the first attempt runs before the first fetch
	attempt := 0
	for {
		w, err := c.r.Watch(e.ctx, registry.WatchService(name))
		early := false
		if err == nil && w == nil {
			err = errors.New("registry/cache: registry returned a nil watcher")
		}
		if err == nil {
			c.mu.Lock()
			if c.closed || e.evicted {
				c.mu.Unlock()
				w.Stop()
				return
			}
			e.watcher = w
			early, e.early = e.early, false
			c.mu.Unlock()
		}
		ready()
		if err != nil {
			if e.ctx.Err() != nil {
				return
			}
			attempt++
			c.logWatch(name, attempt, err)
			first = false
			if !sleep(e.ctx, c.backoff(attempt)) {
				return
			}
			continue
		}
		if !first || early {
			// Changes may have happened while no watch ran.
			c.refresh(name, e)
		}
		first = false
		attempt = 0
		for {
			res, err := w.Next()
			if err != nil {
				if e.ctx.Err() == nil {
					attempt++
					c.logWatch(name, attempt, err)
				}
				break
			}
			if res != nil && res.Service != nil && res.Service.Name != name {
				continue
			}
			c.refresh(name, e)
		}
		w.Stop()
		c.mu.Lock()
		if e.watcher == w {
			e.watcher = nil
		}
		c.mu.Unlock()
		if e.ctx.Err() != nil || !sleep(e.ctx, c.backoff(attempt)) {
			return
		}
	}
}

func (c *Cache) logWatch(name string, attempt int, err error) {
	level := slog.LevelDebug
	if attempt == 1 {
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, "watch failed, retrying", "service", name, "attempt", attempt, "error", err)
}

// backoff returns the jittered delay before retry number attempt (from 1).
func (c *Cache) backoff(attempt int) time.Duration {
	d := c.opts.minBackoff
	for i := 1; i < attempt && d < c.opts.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.maxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var _ registry.Registry = (*Cache)(nil)
