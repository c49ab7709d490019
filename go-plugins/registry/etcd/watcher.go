package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/openmicro/go-micro/registry"
)

// Watch watches the keys under the prefix (under the service's own prefix
// with registry.WatchService) from the store revision current when Watch
// returns, so no later change is missed. See the package doc for how etcd
// events become Results.
func (r *etcdRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	o := registry.NewWatchOptions(opts...)
	prefix := r.cfg.prefix
	if o.Service != "" {
		prefix = serviceKey(prefix, o.Service)
	}

	before := r.maxRev.Load()
	gctx, cancel := r.reqCtx(ctx)
	// One key's lookup, for the store revision alone.
	resp, err := r.client.Get(gctx, prefix, clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return nil, r.fail(ctx, "watch", err)
	}
	rev := resp.Header.Revision
	r.seen(before, rev)

	wctx, wcancel := context.WithCancel(ctx)
	w := &watcher{r: r, ctx: wctx, cancel: wcancel, done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		wcancel()
		return nil, ErrClosed
	}
	w.lost = r.lost
	r.watchers[w] = struct{}{}
	r.startKeeperLocked()
	r.mu.Unlock()

	w.ch = r.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(rev+1))
	// No goroutine of ours per watcher: the end of ctx calls Stop. The
	// callback may run before AfterFunc returns, hence the lock.
	stop := context.AfterFunc(ctx, w.Stop)
	w.smu.Lock()
	w.stopCtx = stop
	w.smu.Unlock()
	return w, nil
}

// watcher turns one etcd watch into Results.
type watcher struct {
	r      *etcdRegistry
	ctx    context.Context // ends with Stop or the caller's context
	cancel context.CancelFunc
	ch     clientv3.WatchChan
	lost   <-chan struct{} // closed when etcd is found to have lost its data
	done   chan struct{}   // closed by Stop
	once   sync.Once

	smu     sync.Mutex
	stopCtx func() bool // releases the context.AfterFunc registration

	mu      sync.Mutex // held through Next: one reader at a time
	pending []*clientv3.Event
	err     error // once set, every Next returns it
}

func (w *watcher) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return w.ctx.Err() != nil
	}
}

// Next returns the next change. Events that change nothing a Result would
// show (a node written again as it was, with another lease) are skipped.
func (w *watcher) Next() (*registry.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.stopped() {
			return nil, registry.ErrWatcherStopped
		}
		if w.err != nil {
			return nil, w.err
		}
		for len(w.pending) > 0 {
			ev := w.pending[0]
			w.pending[0] = nil
			w.pending = w.pending[1:]
			if res := w.result(ev); res != nil {
				return res, nil
			}
		}
		select {
		case <-w.done:
		case <-w.lost:
			w.err = fmt.Errorf("%w (watch ended)", ErrDataLost)
		case resp, ok := <-w.ch:
			switch {
			case w.stopped():
			case !ok:
				w.err = errors.New("registry/etcd: watch closed by the etcd client")
			case resp.Err() != nil:
				w.err = fmt.Errorf("registry/etcd: watch: %w", resp.Err())
			default:
				w.pending = resp.Events
			}
		}
	}
}

// result maps one etcd event to a Result, or nil for an event to skip.
func (w *watcher) result(ev *clientv3.Event) *registry.Result {
	prefix := w.r.cfg.prefix
	switch ev.Type {
	case clientv3.EventTypePut:
		s, err := decodeKV(prefix, ev.Kv.Key, ev.Kv.Value)
		if err != nil {
			w.r.log.Debug("registry/etcd: skipping a key", "key", string(ev.Kv.Key), "err", err)
			// A node overwritten with what does not decode is gone for
			// GetService: say so.
			if ev.PrevKv != nil {
				if prev, err := decodeKV(prefix, ev.PrevKv.Key, ev.PrevKv.Value); err == nil {
					return &registry.Result{Action: registry.Delete, Service: prev}
				}
			}
			return nil
		}
		if ev.IsCreate() {
			return &registry.Result{Action: registry.Create, Service: s}
		}
		if ev.PrevKv != nil && bytes.Equal(ev.PrevKv.Value, ev.Kv.Value) {
			return nil // a heartbeat, or a new lease
		}
		return &registry.Result{Action: registry.Update, Service: s}
	case clientv3.EventTypeDelete:
		if ev.PrevKv != nil {
			if s, err := decodeKV(prefix, ev.PrevKv.Key, ev.PrevKv.Value); err == nil {
				return &registry.Result{Action: registry.Delete, Service: s}
			}
			return nil // it held no node: nothing was announced
		}
		// Without the old value (compacted away), the key still names
		// the node.
		name, version, id, ok := parseKey(prefix, string(ev.Kv.Key))
		if !ok {
			return nil
		}
		return &registry.Result{Action: registry.Delete, Service: &registry.Service{
			Name: name, Version: version, Nodes: []*registry.Node{{Id: id}},
		}}
	}
	return nil
}

// Stop ends the watch; it is idempotent and unblocks a pending Next.
func (w *watcher) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.cancel()
		w.smu.Lock()
		stop := w.stopCtx
		w.smu.Unlock()
		if stop != nil {
			stop()
		}
		w.r.mu.Lock()
		delete(w.r.watchers, w)
		w.r.mu.Unlock()
	})
}
