package etcd

import (
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxTxnOps bounds the reads in one check transaction (etcd refuses more
// than 128 operations in one transaction by default).
const maxTxnOps = 64

// The keeper is the registry's one goroutine. It runs while the registry
// holds nodes or has watchers, and each check interval it
//
//   - forgets held nodes whose TTL passed since they were last registered
//     (they expired, or are about to, as they should);
//   - reads the keys of the others in read-only transactions, and puts
//     back any that etcd no longer has (etcd restarted without its data);
//   - compares etcd's revision with the highest one seen: a lower one
//     means etcd lost its data, and every open watcher ends with
//     ErrDataLost, since its watch cannot resume on the new store.
//
// It never renews a lease: a node registered with a TTL lives TTL past its
// latest Register, as registry.RegisterTTL says, and a restored one is put
// back with a lease of what was left of it.

// startKeeperLocked starts the keeper unless it runs. r.mu must be held.
func (r *etcdRegistry) startKeeperLocked() {
	if r.keeping || r.closed {
		return
	}
	r.keeping = true
	r.wg.Add(1)
	go r.keep()
}

func (r *etcdRegistry) keep() {
	defer r.wg.Done()
	last := time.Now()
	timer := time.NewTimer(r.interval())
	defer timer.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
			// A shorter TTL may shorten the interval.
			timer.Reset(time.Until(last.Add(r.interval())))
			continue
		case <-timer.C:
		}
		r.check()
		last = time.Now()
		r.mu.Lock()
		if len(r.held) == 0 && len(r.watchers) == 0 {
			r.keeping = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		timer.Reset(r.interval())
	}
}

// interval is the time between two checks.
func (r *etcdRegistry) interval() time.Duration {
	if r.cfg.checkInterval > 0 {
		return r.cfg.checkInterval
	}
	d := DefaultCheckInterval
	r.mu.Lock()
	for _, h := range r.held {
		if h.ttl > 0 {
			d = min(d, h.ttl/3)
		}
	}
	r.mu.Unlock()
	return max(d, minCheckInterval)
}

type heldKey struct {
	key string
	h   *held
}

// check runs one round of the keeper.
func (r *etcdRegistry) check() {
	now := time.Now()
	var items []heldKey
	r.mu.Lock()
	for k, h := range r.held {
		if h.ttl > 0 && !now.Before(h.deadline) {
			delete(r.held, k) // its TTL passed: no longer ours to keep
			continue
		}
		items = append(items, heldKey{k, h})
	}
	r.mu.Unlock()

	before := r.maxRev.Load()
	ctx, cancel := r.reqCtx(r.ctx)
	defer cancel()
	var rev int64
	var missing []heldKey
	if len(items) == 0 {
		// One key's lookup, for the revision alone.
		resp, err := r.client.Get(ctx, r.cfg.prefix, clientv3.WithKeysOnly())
		if err != nil {
			r.unreachable(err)
			return
		}
		rev = resp.Header.Revision
	}
	for chunk := range chunks(items, maxTxnOps) {
		ops := make([]clientv3.Op, len(chunk))
		for i, it := range chunk {
			ops[i] = clientv3.OpGet(it.key, clientv3.WithKeysOnly())
		}
		resp, err := r.client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			r.unreachable(err)
			return
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, rr := range resp.Responses {
			if rg := rr.GetResponseRange(); rg != nil && len(rg.Kvs) == 0 {
				missing = append(missing, chunk[i])
			}
		}
	}
	r.reachable()
	r.seen(before, rev)
	for _, it := range missing {
		r.restore(it.key, it.h)
	}
}

func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			m := min(n, len(s))
			if !yield(s[:m]) {
				return
			}
			s = s[m:]
		}
	}
}

// seen records a revision read by a linearizable request sent when before
// was the highest revision seen. Such a request sees every revision seen
// before it was sent, so a lower one means the store is not the one it was:
// etcd lost its data. Open watchers are then told.
func (r *etcdRegistry) seen(before, rev int64) {
	if rev < before {
		r.log.Warn("registry/etcd: etcd lost its data (its revision went back); watchers must watch again",
			"addrs", r.addrs, "from", before, "to", rev)
		r.mu.Lock()
		close(r.lost)
		r.lost = make(chan struct{})
		r.mu.Unlock()
		r.maxRev.Store(rev)
		return
	}
	for {
		cur := r.maxRev.Load()
		if rev <= cur || r.maxRev.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// restore puts back a held node that etcd no longer has, unless it was
// registered again or deregistered meanwhile, or its TTL has passed.
func (r *etcdRegistry) restore(key string, h *held) {
	unlock, err := r.locks.lock(r.ctx, key)
	if err != nil {
		return
	}
	defer unlock()
	if r.heldAt(key) != h {
		return
	}
	ctx, cancel := r.reqCtx(r.ctx)
	defer cancel()
	next := *h
	var opts []clientv3.OpOption
	if h.ttl > 0 {
		left := time.Until(h.deadline)
		if left <= 0 {
			r.mu.Lock()
			if r.held[key] == h {
				delete(r.held, key)
			}
			r.mu.Unlock()
			return
		}
		lease, err := r.client.Grant(ctx, leaseSeconds(left))
		if err != nil {
			r.unreachable(err)
			return
		}
		next.lease, next.leaseTTL = lease.ID, leaseSeconds(left)
		opts = append(opts, clientv3.WithLease(lease.ID))
	}
	// Only where the key is still missing: whoever wrote it meanwhile wins.
	resp, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(h.value), opts...)).
		Commit()
	if err != nil || !resp.Succeeded {
		if next.lease != 0 {
			r.revoke(ctx, next.lease)
		}
		if err != nil {
			r.unreachable(err)
		}
		return
	}
	r.mu.Lock()
	if r.held[key] == h {
		r.held[key] = &next
	}
	r.mu.Unlock()
	r.log.Info("registry/etcd: put back a node etcd had lost", "key", key)
}

// unreachable notes a failed check; the first failure after a success is
// logged.
func (r *etcdRegistry) unreachable(err error) {
	if r.ctx.Err() != nil {
		return
	}
	if r.down.CompareAndSwap(false, true) {
		r.log.Warn("registry/etcd: cannot reach etcd; will keep trying", "addrs", r.addrs, "err", err)
	}
}

func (r *etcdRegistry) reachable() {
	if r.down.CompareAndSwap(true, false) {
		r.log.Info("registry/etcd: etcd reachable again", "addrs", r.addrs)
	}
}
