package consul

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// Watch returns a watcher fed by consul's blocking queries, and by the
// registry's own writes. See the package documentation (Watching) for what
// it reports and its limits.
func (r *consulRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	o := registry.NewWatchOptions(opts...)
	w := &watcher{
		r:       r,
		service: o.Service,
		views:   make(map[string]*view),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	// The state the watcher starts from, read before Watch returns: every
	// change after that is reported.
	bctx, cancel := r.callCtx(ctx)
	err := w.baseline(bctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("consul: watch: %w", err)
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		w.cancel()
		return nil, ErrClosed
	}
	r.wg.Add(1)
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	w.unroot = context.AfterFunc(r.root, w.cancel)
	go w.run()
	return w, nil
}

// poke hands the watchers interested in name a fresh read of it, right
// after the registry changed it: so a watcher sees every change made
// through its registry, in order, however its own blocking query is
// timed. Errors are ignored: the watchers' queries catch up.
func (r *consulRegistry) poke(ctx context.Context, name string) {
	ws := r.watchersOf(name)
	if len(ws) == 0 {
		return
	}
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	// Decode only what changed since the first watcher's view.
	snap, err := r.fetch(ctx, name, 0, ws[0].prev(name))
	if err != nil {
		return
	}
	feed(ws, name, snap)
}

// share reconciles snap, a read of name made for GetService, with the
// watchers interested in name, and returns what GetService answers with.
//
// A watcher gets snap when it is newer than its view: otherwise it could
// skip a state its registry's reader has seen (a node registered and
// removed between two of the watcher's own reads is no change to it, but a
// cache that read the node in between would keep it, since no event says it
// went). GetService gets the newest view instead when a watcher has read
// further than snap: consul can answer a plain read with an older index
// than a blocking query has already returned (seen on consul 1.13, whose
// blocking health queries are served by streaming), and a cache that
// refetches on a watcher's Delete must not store the node the watcher just
// reported gone.
func (r *consulRegistry) share(name string, snap *snapshot) *snapshot {
	ws := r.watchersOf(name)
	newest := snap
	for _, w := range ws {
		w.viewMu.Lock()
		if v := w.views[name]; v != nil && v.index > newest.index {
			newest = &snapshot{index: v.index, insts: v.insts}
		}
		w.push(w.apply(name, snap))
		w.viewMu.Unlock()
	}
	return newest
}

// watchersOf returns the watchers interested in name.
func (r *consulRegistry) watchersOf(name string) []*watcher {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ws []*watcher
	for w := range r.watchers {
		if w.service == "" || w.service == name {
			ws = append(ws, w)
		}
	}
	return ws
}

// feed reports to each of ws what changed from its view of name to snap,
// unless snap is older than that view.
func feed(ws []*watcher, name string, snap *snapshot) {
	for _, w := range ws {
		w.viewMu.Lock()
		w.push(w.apply(name, snap))
		w.viewMu.Unlock()
	}
}

type watcher struct {
	r       *consulRegistry
	service string // "" watches every service

	ctx    context.Context
	cancel context.CancelFunc
	unroot func() bool
	done   chan struct{} // closed when run returns

	// Owned by run (and baseline before it).
	index uint64    // of the watcher's own blocking query
	rows  checkRows // when watching every service

	viewMu sync.Mutex       // views is shared with the registry's pokes
	views  map[string]*view // by service name

	mu      sync.Mutex
	queue   []*registry.Result
	stopped bool
	wake    chan struct{} // capacity 1
	once    sync.Once
}

// view is what a watcher last reported of one service.
type view struct {
	index uint64               // consul's index for the service when read
	insts map[string]*instance // by consul service ID, healthy or not
}

// apply returns the changes from the watcher's view of name to snap and
// makes snap the view, unless snap is older than the view (a blocking
// query that returned before a poke did). w.viewMu is held.
func (w *watcher) apply(name string, snap *snapshot) []event {
	v := w.views[name]
	var old map[string]*instance
	if v != nil {
		if snap.index < v.index {
			return nil
		}
		old = v.insts
	}
	w.views[name] = &view{index: snap.index, insts: snap.insts}
	return diff(old, snap)
}

// prev returns the instances of the view of name, to reuse their decoding.
func (w *watcher) prev(name string) map[string]*instance {
	w.viewMu.Lock()
	defer w.viewMu.Unlock()
	if v := w.views[name]; v != nil {
		return v.insts
	}
	return nil
}

func (w *watcher) baseline(ctx context.Context) error {
	if w.service != "" {
		snap, err := w.r.fetch(ctx, w.service, 0, nil)
		if err != nil {
			return err
		}
		w.views[w.service] = &view{index: snap.index, insts: snap.insts}
		w.index = max(snap.index, 1)
		return nil
	}
	rows, idx, err := w.r.checks(ctx, 0)
	if err != nil {
		return err
	}
	names := make(map[string]bool)
	for _, row := range rows {
		if row.serviceID != "" {
			names[row.service] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		snap, err := w.r.fetch(ctx, name, 0, nil)
		if err != nil {
			return err
		}
		w.views[name] = &view{index: snap.index, insts: snap.insts}
	}
	w.rows, w.index = rows, max(idx, 1)
	return nil
}

func (w *watcher) run() {
	defer w.r.wg.Done()
	defer close(w.done)
	defer w.unroot()
	defer func() {
		w.r.mu.Lock()
		delete(w.r.watchers, w)
		w.r.mu.Unlock()
	}()
	for failures := 0; w.ctx.Err() == nil; {
		var err error
		if w.service != "" {
			err = w.pollService()
		} else {
			err = w.pollAll()
		}
		if err == nil {
			failures = 0
			continue
		}
		if w.ctx.Err() != nil {
			return
		}
		// The agent may be restarting, and consul's indexes start again
		// from 1 when its state is lost: forget the indexes seen, wait,
		// then read afresh (not blocking).
		w.index = 0
		w.viewMu.Lock()
		for _, v := range w.views {
			v.index = 0
		}
		w.viewMu.Unlock()
		t := time.NewTimer(backoff(failures))
		failures++
		select {
		case <-w.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (w *watcher) pollService() error {
	name := w.service
	w.viewMu.Lock()
	index := w.index
	if v := w.views[name]; v != nil && w.index > 0 {
		index = max(index, v.index) // a poke may have read further
	}
	prev := w.views[name]
	w.viewMu.Unlock()
	var insts map[string]*instance
	if prev != nil {
		insts = prev.insts
	}
	snap, err := w.r.fetch(w.ctx, name, index, insts)
	if err != nil {
		return err
	}
	w.viewMu.Lock()
	if v := w.views[name]; v != nil && snap.index < index {
		// consul's index went backwards (the agent lost its state):
		// start again from this read.
		v.index = 0
	}
	w.push(w.apply(name, snap))
	w.viewMu.Unlock()
	w.index = max(snap.index, 1)
	return nil
}

func (w *watcher) pollAll() error {
	rows, idx, err := w.r.checks(w.ctx, w.index)
	if err != nil {
		return err
	}
	w.viewMu.Lock()
	if idx < w.index {
		// consul's index went backwards (the agent lost its state):
		// the indexes of the views are from before; start again.
		for _, v := range w.views {
			v.index = 0
		}
	}
	names := dirtyNames(w.rows, rows, w.views)
	w.viewMu.Unlock()
	snaps := make(map[string]*snapshot, len(names))
	for _, name := range names {
		snap, ferr := w.r.fetch(w.ctx, name, 0, w.prev(name))
		if ferr != nil {
			// The names read so far are reported; the rows are kept, so
			// the next round reads the others again.
			err = ferr
			break
		}
		snaps[name] = snap
	}
	var events []event
	w.viewMu.Lock()
	for name, snap := range snaps {
		events = append(events, w.apply(name, snap)...)
	}
	sortEvents(events)
	w.push(events)
	w.viewMu.Unlock()
	if err != nil {
		return err
	}
	w.rows, w.index = rows, max(idx, 1)
	return nil
}

// dirtyNames returns the services that have an instance whose checks
// changed between old and cur, or that live on a node whose checks did.
func dirtyNames(old, cur checkRows, views map[string]*view) []string {
	names := make(map[string]bool)
	nodes := make(map[string]bool)
	mark := func(row checkRow) {
		if row.serviceID == "" {
			nodes[row.node] = true
		} else {
			names[row.service] = true
		}
	}
	for k, o := range old {
		if c, ok := cur[k]; !ok || c != o {
			mark(o)
			if ok {
				mark(c)
			}
		}
	}
	for k, c := range cur {
		if _, ok := old[k]; !ok {
			mark(c)
		}
	}
	if len(nodes) > 0 {
		for name, v := range views {
			for _, inst := range v.insts {
				if nodes[inst.node] {
					names[name] = true
				}
			}
		}
		for _, row := range cur {
			if row.serviceID != "" && nodes[row.node] {
				names[row.service] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// event is one Result and where it goes in the order of its read.
type event struct {
	key uint64 // raft index of the change; MaxUint64 when unknown
	tie uint64 // the node's registration index
	id  string
	res *registry.Result
}

// diff returns the changes from the instances old (as last read) to snap:
// Create for a node that became healthy, Update for a healthy node whose
// registration changed, Delete for a node that is gone or no longer
// healthy; in the order of the raft index of each change. A removal leaves
// no index, so removals come last, oldest registration first.
func diff(old map[string]*instance, snap *snapshot) []event {
	var out []event
	add := func(action registry.Action, inst *instance, key uint64) {
		out = append(out, event{key: key, tie: inst.create, id: inst.id,
			res: &registry.Result{Action: action, Service: registry.Copy(inst.svc)}})
	}
	for id, n := range snap.insts {
		if !n.healthy {
			continue
		}
		switch o := old[id]; {
		case o == nil || !o.healthy:
			add(registry.Create, n, n.key)
		case o.text != n.text:
			add(registry.Update, n, n.key)
		}
	}
	for id, o := range old {
		if !o.healthy {
			continue
		}
		switch n := snap.insts[id]; {
		case n == nil:
			add(registry.Delete, o, math.MaxUint64)
		case !n.healthy:
			add(registry.Delete, o, n.key)
		}
	}
	sortEvents(out)
	return out
}

// sortEvents puts events in the order of their changes.
func sortEvents(events []event) {
	slices.SortFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.tie, b.tie), cmp.Compare(a.id, b.id))
	})
}

func (w *watcher) push(events []event) {
	if len(events) == 0 {
		return
	}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	for _, e := range events {
		w.queue = append(w.queue, e.res)
	}
	w.mu.Unlock()
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the next change, waiting for one; registry.ErrWatcherStopped
// after Stop, the end of the watch's context, or Close of the registry.
func (w *watcher) Next() (*registry.Result, error) {
	for {
		w.mu.Lock()
		if w.stopped || w.ctx.Err() != nil {
			w.mu.Unlock()
			return nil, registry.ErrWatcherStopped
		}
		if len(w.queue) > 0 {
			res := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			more := len(w.queue) > 0
			if !more {
				w.queue = nil
			}
			w.mu.Unlock()
			if more {
				w.signal() // another Next may be waiting
			}
			return res, nil
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.ctx.Done():
		}
	}
}

// Stop ends the watch and waits for its goroutine; it is idempotent.
func (w *watcher) Stop() {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopped = true
		w.queue = nil
		w.mu.Unlock()
		w.cancel()
		<-w.done
	})
}
