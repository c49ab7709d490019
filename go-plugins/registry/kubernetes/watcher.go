package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/openmicro/go-micro/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Backoff bounds between attempts to re-establish a watch that the API
// server ended or that failed.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Watch lists the pods of the namespace that carry services (or the named
// service), then watches them from the resource version of that list, so
// that the watcher sees every change made after Watch returns. A pod
// added, changed, made unready or deleted becomes Create, Update and Delete
// results for the nodes concerned; a node whose TTL passes is reported
// deleted by the watcher's own clock. When the API server ends the watch
// (it does so every few minutes) or the connection breaks, the watcher
// lists and watches again, with backoff, and reports what changed in
// between.
func (r *k8sRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	selector := TypeLabel + "=" + TypeValue
	if o.Service != "" {
		selector = SelectorPrefix + serviceKey(o.Service) + "=" + TypeValue
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{
		r:        r,
		service:  o.Service,
		selector: selector,
		cancel:   cancel,
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		pods:     make(map[string]view),
	}
	pods, kw, err := w.listWatch(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("registry/kubernetes: watch: %w", err)
	}
	now := time.Now().UnixNano()
	for i := range pods {
		if v := w.view(&pods[i], now); len(v) > 0 {
			w.pods[pods[i].Name] = v
		}
	}
	go w.run(wctx, kw)
	// The context's end stops the watcher; the callback may run before
	// AfterFunc returns, hence the lock.
	stop := context.AfterFunc(ctx, w.Stop)
	w.mu.Lock()
	w.stopCtx = stop
	w.mu.Unlock()
	return w, nil
}

// view is what one pod holds of the watched services: name -> version ->
// record, with only the nodes alive at the time it was taken.
type view map[string]map[string]*record

// item is one change received from the API server: a pod event, or a
// fresh list of the pods after the watch had to be established again.
type item struct {
	at   int64 // when it was received, in Unix nanoseconds
	typ  watch.EventType
	pod  *corev1.Pod
	list []corev1.Pod // when resync
}

const resync watch.EventType = "RESYNC"

type watcher struct {
	r        *k8sRegistry
	service  string // "" watches every service
	selector string
	cancel   context.CancelFunc // ends run
	done     chan struct{}      // closed when run returns
	quit     chan struct{}      // closed by Stop
	wake     chan struct{}      // capacity 1: an item was queued since Next looked
	once     sync.Once

	mu      sync.Mutex
	queue   []item // filled by run, emptied by Next
	stopped bool
	stopCtx func() bool

	// Owned by Next, under nextMu.
	nextMu sync.Mutex
	pods   map[string]view    // by pod name, as last reported
	out    []*registry.Result // computed, not yet returned
}

// listWatch lists the selected pods and starts a watch from that list.
func (w *watcher) listWatch(ctx context.Context) ([]corev1.Pod, watch.Interface, error) {
	lctx, cancel := w.r.callCtx(ctx)
	list, err := w.r.pods.List(lctx, metav1.ListOptions{LabelSelector: w.selector})
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("list pods in %s: %w", w.r.ns, err)
	}
	kw, err := w.r.pods.Watch(ctx, metav1.ListOptions{
		LabelSelector:   w.selector,
		ResourceVersion: list.ResourceVersion,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("watch pods in %s: %w", w.r.ns, err)
	}
	return list.Items, kw, nil
}

// run moves the API server's events into the queue, doing no more than
// that so that it keeps up, and establishes the watch again whenever it
// ends, until ctx ends.
func (w *watcher) run(ctx context.Context, kw watch.Interface) {
	defer close(w.done)
	backoff := minBackoff
	for {
		if kw == nil {
			pods, next, err := w.listWatch(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.r.log.Warn("watch failed; retrying", "in", backoff, "err", err)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = minBackoff
			kw = next
			w.push(item{at: time.Now().UnixNano(), typ: resync, list: pods})
		}
		select {
		case <-ctx.Done():
			kw.Stop()
			return
		case ev, ok := <-kw.ResultChan():
			if !ok {
				kw = nil // ended by the server: list and watch again
				continue
			}
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				if pod, ok := ev.Object.(*corev1.Pod); ok {
					w.push(item{at: time.Now().UnixNano(), typ: ev.Type, pod: pod})
				}
			case watch.Error:
				// Typically 410 Gone: the resource version is too old.
				w.r.log.Debug("watch error; listing again", "status", ev.Object)
				kw.Stop()
				kw = nil
			}
		}
	}
}

func (w *watcher) push(it item) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, it)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the next change, waiting for one if none is pending.
func (w *watcher) Next() (*registry.Result, error) {
	w.nextMu.Lock()
	defer w.nextMu.Unlock()
	for {
		w.mu.Lock()
		stopped, items := w.stopped, w.queue
		w.queue = nil
		w.mu.Unlock()
		if stopped {
			return nil, registry.ErrWatcherStopped
		}
		for _, it := range items {
			// Expiries that happened before the change came are
			// reported before it.
			w.expire(it.at)
			w.apply(it)
		}
		w.expire(time.Now().UnixNano())
		if len(w.out) > 0 {
			res := w.out[0]
			w.out[0] = nil
			w.out = w.out[1:]
			return res, nil
		}
		if len(items) > 0 {
			continue
		}

		w.wait()
	}
}

// wait blocks until an item is queued, the watcher stops or the next node
// expires.
func (w *watcher) wait() {
	var expiry <-chan time.Time
	if at := w.nextExpiry(); at > 0 {
		t := time.NewTimer(time.Until(time.Unix(0, at)))
		defer t.Stop()
		expiry = t.C
	}
	select {
	case <-w.wake:
	case <-w.quit:
	case <-expiry:
	}
}

// Stop ends the watch; it is idempotent and safe to call from any
// goroutine. It returns once the watch's goroutine has.
func (w *watcher) Stop() {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopped = true
		w.queue = nil
		stopCtx := w.stopCtx
		w.mu.Unlock()
		close(w.quit)
		if stopCtx != nil {
			stopCtx()
		}
		w.cancel()
		<-w.done
	})
}

// view returns what pod holds of the watched services at now.
func (w *watcher) view(pod *corev1.Pod, now int64) view {
	v := make(view)
	for name, recs := range podRecords(pod, w.service, w.r.badAnnotation(pod.Name)) {
		for _, rec := range recs {
			rec.Nodes = slices.DeleteFunc(rec.Nodes, func(n *nodeRecord) bool { return !n.alive(now) })
			if len(rec.Nodes) == 0 {
				continue
			}
			if v[name] == nil {
				v[name] = make(map[string]*record)
			}
			v[name][rec.Version] = rec
		}
	}
	return v
}

// apply turns one item into results, and records the new state.
func (w *watcher) apply(it item) {
	switch it.typ {
	case resync:
		seen := make(map[string]bool, len(it.list))
		for i := range it.list {
			p := &it.list[i]
			seen[p.Name] = true
			w.set(p.Name, w.view(p, it.at))
		}
		for _, name := range slices.Sorted(maps.Keys(w.pods)) {
			if !seen[name] {
				w.set(name, nil)
			}
		}
	case watch.Deleted:
		w.set(it.pod.Name, nil)
	default:
		w.set(it.pod.Name, w.view(it.pod, it.at))
	}
}

// set records that pod now holds v, queuing the results of the change.
func (w *watcher) set(pod string, v view) {
	old := w.pods[pod]
	if len(v) == 0 {
		delete(w.pods, pod)
	} else {
		w.pods[pod] = v
	}
	for _, name := range unionKeys(old, v) {
		for _, version := range unionKeys(old[name], v[name]) {
			w.diff(old[name][version], v[name][version])
		}
	}
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys[M ~map[string]V, V any](a, b M) []string {
	m := maps.Clone(a)
	if m == nil {
		m = make(M, len(b))
	}
	maps.Copy(m, b)
	return slices.Sorted(maps.Keys(m))
}

// diff queues the results that turn old into cur (either may be nil).
func (w *watcher) diff(old, cur *record) {
	oldNodes := make(map[string]*nodeRecord)
	if old != nil {
		for _, n := range old.Nodes {
			oldNodes[n.Id] = n
		}
	}
	// A registration that changed the header updates the nodes registered
	// with it: they carry the new Updated as their Rev.
	headerChanged := old != nil && cur != nil && !sameHeader(old.header(), cur.header())
	var created, updated, deleted []*registry.Node
	if cur != nil {
		for _, n := range cur.Nodes {
			o, ok := oldNodes[n.Id]
			delete(oldNodes, n.Id)
			switch {
			case !ok:
				created = append(created, n.node())
			case o.Address != n.Address || !maps.Equal(o.Metadata, n.Metadata) ||
				headerChanged && n.Rev == cur.Updated:
				updated = append(updated, n.node())
			}
		}
	}
	for _, n := range oldNodes {
		deleted = append(deleted, n.node())
	}
	w.emit(registry.Create, cur, created)
	w.emit(registry.Update, cur, updated)
	w.emit(registry.Delete, cmp.Or(cur, old), deleted)
}

func (w *watcher) emit(action registry.Action, rec *record, nodes []*registry.Node) {
	if len(nodes) == 0 {
		return
	}
	slices.SortFunc(nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
	s := rec.header()
	s.Nodes = nodes
	w.out = append(w.out, &registry.Result{Action: action, Service: s})
}

// expire removes the nodes whose TTL passed by now and reports them
// deleted.
func (w *watcher) expire(now int64) {
	for _, pod := range slices.Sorted(maps.Keys(w.pods)) {
		v := w.pods[pod]
		for _, name := range slices.Sorted(maps.Keys(v)) {
			for _, version := range slices.Sorted(maps.Keys(v[name])) {
				rec := v[name][version]
				var gone []*registry.Node
				rec.Nodes = slices.DeleteFunc(rec.Nodes, func(n *nodeRecord) bool {
					if n.alive(now) {
						return false
					}
					gone = append(gone, n.node())
					return true
				})
				w.emit(registry.Delete, rec, gone)
				if len(rec.Nodes) == 0 {
					delete(v[name], version)
				}
			}
			if len(v[name]) == 0 {
				delete(v, name)
			}
		}
		if len(v) == 0 {
			delete(w.pods, pod)
		}
	}
}

// nextExpiry returns when the next node expires, or 0 for never.
func (w *watcher) nextExpiry() int64 {
	var next int64
	for _, v := range w.pods {
		for _, versions := range v {
			for _, rec := range versions {
				for _, n := range rec.Nodes {
					if n.Expires != 0 && (next == 0 || n.Expires < next) {
						next = n.Expires
					}
				}
			}
		}
	}
	return next
}
