package etcd

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmicro/go-micro/registry"
)

func init() {
	registry.Register("etcd", NewRegistry)
}

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("registry/etcd: registry closed")
	// ErrUnreachable is wrapped by the error of a call that etcd did not
	// answer within the timeout, or that failed because etcd could not be
	// reached or had no leader. Calls succeed again once etcd is back.
	ErrUnreachable = errors.New("registry/etcd: etcd unreachable")
	// ErrDataLost is wrapped by the error Watcher.Next returns once the
	// registry finds that etcd lost its data (restarted without it: its
	// revision went back). The watch cannot resume on the new store: watch
	// again and look the services up afresh.
	ErrDataLost = errors.New("registry/etcd: etcd lost its data; watch again")
)

// etcdRegistry is the registry. Requests to etcd are bounded by timeout and
// by the caller's context; nothing is cached but what this registry
// registered itself (held), which the keeper puts back should etcd lose it.
type etcdRegistry struct {
	client  *clientv3.Client
	cfg     config
	addrs   []string
	timeout time.Duration
	log     *slog.Logger

	ctx    context.Context // ends with Close
	cancel context.CancelFunc

	locks  keyLocks     // one Register/Deregister/restore at a time per key
	maxRev atomic.Int64 // the highest store revision seen
	down   atomic.Bool  // the keeper's last check failed

	mu       sync.Mutex
	closed   bool
	held     map[string]*held // key -> what this registry put there
	watchers map[*watcher]struct{}
	lost     chan struct{} // closed when etcd is found to have lost its data, then replaced
	keeping  bool          // the keeper goroutine runs
	kick     chan struct{} // capacity 1: the check interval may have changed
	wg       sync.WaitGroup
}

// held is one node registered by this registry. Values are replaced, never
// changed, so a pointer identifies one registration.
type held struct {
	value    []byte
	ttl      time.Duration    // as asked; 0 for none
	deadline time.Time        // latest Register + ttl; zero without ttl
	lease    clientv3.LeaseID // 0 without ttl
	leaseTTL int64            // seconds the lease was granted for
}

// NewRegistry returns a registry that keeps services in etcd. It reads
// [registry.Addrs] (etcd endpoints, "host:port" or a URL; default
// [DefaultAddr]), [registry.Timeout] (the bound of each request; default
// [DefaultTimeout]), [registry.TLS] and this package's own options
// ([Prefix], [Auth], [CheckInterval], [Logger]).
//
// NewRegistry does not wait for etcd (except to authenticate, with [Auth]):
// it returns at once, and each call fails after the timeout while etcd
// cannot be reached, then succeeds once it can. The registry holds a
// connection and, while it holds nodes or watchers, a goroutine: call
// Close (the value implements io.Closer) to release them.
func NewRegistry(opts ...registry.Option) (registry.Registry, error) {
	o := registry.NewOptions(opts...)
	cfg := newConfig(&o)
	var addrs []string
	for _, a := range o.Addrs {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		addrs = []string{DefaultAddr}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cc := clientv3.Config{
		Endpoints:   addrs,
		DialTimeout: timeout,
		Username:    cfg.username,
		Password:    cfg.password,
		Logger:      zap.NewNop(),
		// Pings on idle streams find an etcd that vanished without closing
		// the connection; etcd refuses pings more often than every 5s.
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: timeout,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   maxReconnectDelay,
			},
			MinConnectTimeout: timeout,
		})},
	}
	if o.TLS != nil {
		cc.TLS = o.TLS.Clone()
	}
	client, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("registry/etcd: connect to %s: %w", strings.Join(addrs, ","), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &etcdRegistry{
		client:   client,
		cfg:      cfg,
		addrs:    addrs,
		timeout:  timeout,
		log:      cfg.logger,
		ctx:      ctx,
		cancel:   cancel,
		held:     make(map[string]*held),
		watchers: make(map[*watcher]struct{}),
		lost:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
	}, nil
}

func (r *etcdRegistry) String() string { return "etcd" }

// Close stops the registry's goroutine and watchers and closes its
// connection. It does not deregister anything: nodes registered with a TTL
// expire when it passes, others stay until deregistered. Close is
// idempotent; every other method returns ErrClosed afterwards.
func (r *etcdRegistry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ws := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	r.cancel()
	for _, w := range ws {
		w.Stop()
	}
	r.wg.Wait()
	if err := r.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("registry/etcd: close: %w", err)
	}
	return nil
}

func (r *etcdRegistry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// reqCtx bounds one request made for ctx by the timeout and by Close.
func (r *etcdRegistry) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	stop := context.AfterFunc(r.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// fail wraps the error of a request made for op under the caller's ctx,
// saying plainly when etcd did not answer in time.
func (r *etcdRegistry) fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("registry/etcd: %s: %w: %w", op, cerr, err)
	}
	if r.ctx.Err() != nil {
		return fmt.Errorf("registry/etcd: %s: %w", op, ErrClosed)
	}
	addrs := strings.Join(r.addrs, ",")
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer from %s within %v: %w", ErrUnreachable, op, addrs, r.timeout, err)
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %s: %s: %w", ErrUnreachable, op, addrs, err)
	}
	return fmt.Errorf("registry/etcd: %s: %w", op, err)
}

// unavailable reports whether err says etcd could not be reached or could
// not serve (no leader): gRPC's Unavailable, raw or as etcd's own error.
func unavailable(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	return status.Code(err) == codes.Unavailable
}

// leaseSeconds rounds a TTL up to etcd's whole seconds; 0 means no lease.
func leaseSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	// Not (d + time.Second - 1) / time.Second: that overflows near the
	// largest Duration into a negative TTL, which etcd raises to its minimum.
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// Register writes one key per node (see the package doc). Registering a
// node again that this registry holds with the same TTL reuses its lease:
// the lease is renewed, and the key is written only when the node changed.
func (r *etcdRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	if err := checkUTF8(s); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	ttl := registry.NewRegisterOptions(opts...).TTL
	values := make([][]byte, len(s.Nodes))
	for i, n := range s.Nodes {
		v, err := encodeNode(s, n)
		if err != nil {
			return err
		}
		values[i] = v
	}
	for i, n := range s.Nodes {
		key := nodeKey(r.cfg.prefix, s.Name, s.Version, n.Id)
		if err := r.registerNode(ctx, key, values[i], ttl); err != nil {
			return r.fail(ctx, fmt.Sprintf("register %s@%s node %q", s.Name, s.Version, n.Id), err)
		}
	}
	return nil
}

func (r *etcdRegistry) registerNode(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	unlock, err := r.locks.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	rctx, cancel := r.reqCtx(ctx)
	defer cancel()

	start := time.Now()
	prev := r.heldAt(key)
	next := &held{value: value, ttl: ttl}
	want := leaseSeconds(ttl)
	if want == 0 {
		if prev != nil && prev.lease == 0 && bytes.Equal(prev.value, value) {
			// A heartbeat: write only when etcd lost or changed the key.
			resp, err := r.client.Get(rctx, key)
			if err != nil {
				return err
			}
			if len(resp.Kvs) == 1 && resp.Kvs[0].Lease == 0 && bytes.Equal(resp.Kvs[0].Value, value) {
				r.hold(key, next)
				return nil
			}
		}
		if _, err := r.client.Put(rctx, key, string(value)); err != nil {
			return err
		}
		r.hold(key, next)
		if prev != nil && prev.lease != 0 {
			r.revoke(rctx, prev.lease)
		}
		return nil
	}

	next.deadline = start.Add(ttl)
	if prev != nil && prev.lease != 0 && prev.leaseTTL == want {
		// The same TTL again: renew the lease, rewrite only a change.
		_, err := r.client.KeepAliveOnce(rctx, prev.lease)
		if err == nil && !bytes.Equal(prev.value, value) {
			_, err = r.client.Put(rctx, key, string(value), clientv3.WithLease(prev.lease))
		}
		if err == nil {
			next.lease, next.leaseTTL = prev.lease, want
			r.hold(key, next)
			return nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return err
		}
		// The lease is gone (expired, or etcd lost it): grant another.
	}
	lease, err := r.client.Grant(rctx, want)
	if err != nil {
		return err
	}
	if _, err := r.client.Put(rctx, key, string(value), clientv3.WithLease(lease.ID)); err != nil {
		r.revoke(rctx, lease.ID)
		return err
	}
	next.lease, next.leaseTTL = lease.ID, want
	r.hold(key, next)
	if prev != nil && prev.lease != 0 && prev.lease != lease.ID {
		r.revoke(rctx, prev.lease)
	}
	return nil
}

// revoke drops a lease no key needs any more. It is best effort: a lease
// left behind expires by itself.
func (r *etcdRegistry) revoke(ctx context.Context, id clientv3.LeaseID) {
	_, _ = r.client.Revoke(ctx, id)
}

func (r *etcdRegistry) heldAt(key string) *held {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[key]
}

// hold records what this registry put under key and makes sure the keeper
// runs.
func (r *etcdRegistry) hold(key string, h *held) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.held[key] = h
	r.startKeeperLocked()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *etcdRegistry) unhold(key string) *held {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.held[key]
	delete(r.held, key)
	return h
}

// Deregister deletes the nodes' keys and revokes the leases this registry
// granted them.
func (r *etcdRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	for _, n := range s.Nodes {
		key := nodeKey(r.cfg.prefix, s.Name, s.Version, n.Id)
		if err := r.deregisterNode(ctx, key); err != nil {
			return r.fail(ctx, fmt.Sprintf("deregister %s@%s node %q", s.Name, s.Version, n.Id), err)
		}
	}
	return nil
}

func (r *etcdRegistry) deregisterNode(ctx context.Context, key string) error {
	unlock, err := r.locks.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	rctx, cancel := r.reqCtx(ctx)
	defer cancel()
	// Forget it first: a node asked to go is never put back, even when
	// the delete below fails.
	h := r.unhold(key)
	if _, err := r.client.Delete(rctx, key); err != nil {
		return err
	}
	if h != nil && h.lease != 0 {
		r.revoke(rctx, h.lease)
	}
	return nil
}

// GetService reads every key of the service. Each version's metadata and
// endpoints are those of its most recently written node.
func (r *etcdRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	rctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Get(rctx, serviceKey(r.cfg.prefix, name), clientv3.WithPrefix())
	if err != nil {
		return nil, r.fail(ctx, fmt.Sprintf("get service %q", name), err)
	}
	type version struct {
		svc *registry.Service
		rev int64 // of the node whose header svc carries
	}
	versions := make(map[string]*version)
	for _, kv := range resp.Kvs {
		s, err := decodeKV(r.cfg.prefix, kv.Key, kv.Value)
		if err != nil {
			r.log.Debug("registry/etcd: skipping a key", "key", string(kv.Key), "err", err)
			continue
		}
		v, ok := versions[s.Version]
		if !ok {
			v = &version{svc: &registry.Service{Name: s.Name, Version: s.Version}}
			versions[s.Version] = v
		}
		if kv.ModRevision > v.rev {
			v.rev = kv.ModRevision
			v.svc.Metadata, v.svc.Endpoints = s.Metadata, s.Endpoints
		}
		v.svc.Nodes = append(v.svc.Nodes, s.Nodes[0])
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: %q", registry.ErrNotFound, name)
	}
	out := make([]*registry.Service, 0, len(versions))
	for _, v := range versions {
		slices.SortFunc(v.svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
		out = append(out, v.svc)
	}
	slices.SortFunc(out, func(a, b *registry.Service) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// ListServices reads every key under the prefix and returns one service per
// name and version, without nodes, metadata or endpoints. Values are read
// and checked as GetService checks them, so that a key of the right shape
// holding what the registry did not write lists no service GetService
// would not find.
func (r *etcdRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	rctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Get(rctx, r.cfg.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, r.fail(ctx, "list services", err)
	}
	seen := make(map[[2]string]bool)
	var out []*registry.Service
	for _, kv := range resp.Kvs {
		s, err := decodeKV(r.cfg.prefix, kv.Key, kv.Value)
		if err != nil {
			r.log.Debug("registry/etcd: skipping a key", "key", string(kv.Key), "err", err)
			continue
		}
		name, version := s.Name, s.Version
		if seen[[2]string{name, version}] {
			continue
		}
		seen[[2]string{name, version}] = true
		out = append(out, &registry.Service{Name: name, Version: version})
	}
	slices.SortFunc(out, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// keyLocks serialises the writers of one key: Register, Deregister and the
// keeper's restore, each a few requests long.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // capacity 1: holding the lock is having sent
	refs int
}

// lock takes the lock of key, or gives up when ctx ends.
func (l *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*keyLock)
	}
	k, ok := l.m[key]
	if !ok {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
		return func() {
			<-k.ch
			release()
		}, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

var _ registry.Registry = (*etcdRegistry)(nil)
