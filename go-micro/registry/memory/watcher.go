package memory

import (
	"context"
	"sync"

	"github.com/openmicro/go-micro/registry"
)

func (r *memoryRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	w := &watcher{
		r:       r,
		service: o.Service,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	r.mu.Lock()
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	// No goroutine per watcher: the context's end calls Stop. The callback
	// may run before AfterFunc returns, hence the lock.
	stop := context.AfterFunc(ctx, w.Stop)
	w.mu.Lock()
	w.stopCtx = stop
	w.mu.Unlock()
	return w, nil
}

// notify queues a change for every interested watcher. The Result is shared
// between watchers and never modified; Next hands out copies. r.mu must be
// held, which keeps the order of events the order of changes.
func (r *memoryRegistry) notify(action registry.Action, rec *record, nodes []*registry.Node) {
	var res *registry.Result // built for the first interested watcher
	for w := range r.watchers {
		if w.service != "" && w.service != rec.name {
			continue
		}
		if res == nil {
			s := rec.header()
			s.Nodes = make([]*registry.Node, len(nodes))
			for i, n := range nodes {
				s.Nodes[i] = registry.CopyNode(n)
			}
			res = &registry.Result{Action: action, Service: s}
		}
		w.push(res)
	}
}

type watcher struct {
	r       *memoryRegistry
	service string // "" watches every service

	wake    chan struct{} // capacity 1: a push happened since Next last looked
	done    chan struct{} // closed by Stop
	once    sync.Once
	mu      sync.Mutex
	queue   []*registry.Result
	stopped bool
	stopCtx func() bool // releases the context.AfterFunc registration

	// beforeWait, when set (by tests only), runs in Next between finding
	// the queue empty and waiting for a wake-up.
	beforeWait func()
}

func (w *watcher) push(res *registry.Result) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, res)
	w.mu.Unlock()
	w.signal()
}

// signal leaves a wake-up token for a reader waiting in Next, unless one is
// already there.
func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the next queued change, waiting for one if none is queued.
func (w *watcher) Next() (*registry.Result, error) {
	for {
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return nil, registry.ErrWatcherStopped
		}
		if len(w.queue) > 0 {
			res := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			more := len(w.queue) > 0
			if !more {
				w.queue = nil // let the backing array go
			}
			w.mu.Unlock()
			if more {
				// Pass the wake-up on: pushes that found the token taken
				// may have left another reader waiting for these events.
				w.signal()
			}
			return &registry.Result{Action: res.Action, Service: registry.Copy(res.Service)}, nil
		}
		w.mu.Unlock()
		if w.beforeWait != nil {
			w.beforeWait()
		}
		select {
		case <-w.wake:
		case <-w.done:
		}
	}
}

// Stop ends the watch; it is idempotent and safe to call from any goroutine.
func (w *watcher) Stop() {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopped = true
		w.queue = nil
		stopCtx := w.stopCtx
		w.mu.Unlock()
		close(w.done)
		if stopCtx != nil {
			stopCtx()
		}
		w.r.mu.Lock()
		delete(w.r.watchers, w)
		w.r.mu.Unlock()
	})
}
