package consul

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/openmicro/go-micro/registry"
)

func init() {
	registry.Register("consul", NewRegistry)
}

// ErrClosed is returned by the methods of a Registry after Close.
var ErrClosed = errors.New("consul: registry closed")

// NewRegistry returns a Registry that keeps services in consul, through
// the consul agent at the address given by registry.Addrs (default
// [DefaultAddr]). It does not dial: a missing agent shows as an error
// from the first call that needs it. The returned value also implements
// io.Closer (see the package documentation).
//
// Addresses are host:port, http://host:port, https://host:port or
// unix:///path; with more than one, calls go to the first that answers
// and move on to the next when an agent cannot be reached. registry.TLS
// makes addresses without a scheme https; registry.Timeout bounds each
// request (blocking watch queries excepted, which [WatchWait] bounds).
func NewRegistry(opts ...registry.Option) (registry.Registry, error) {
	o := registry.NewOptions(opts...)
	set := newSettings(o)
	r := &consulRegistry{
		set:      set,
		held:     make(map[string]*held),
		watchers: make(map[*watcher]struct{}),
	}
	for _, addr := range set.addrs {
		c, tr, err := newClient(addr, o, set)
		if err != nil {
			return nil, err
		}
		r.agents = append(r.agents, agent{addr: addr, c: c})
		r.transports = append(r.transports, tr)
	}
	r.root, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

func newClient(addr string, o registry.Options, set settings) (*api.Client, *http.Transport, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if o.TLS != nil {
		tr.TLSClientConfig = o.TLS.Clone()
	}
	cfg := &api.Config{
		Datacenter: set.datacenter,
		Token:      set.token,
		HttpClient: &http.Client{Transport: tr},
		Scheme:     "http",
	}
	scheme, rest, found := strings.Cut(addr, "://")
	if !found {
		scheme, rest = "", addr
	}
	switch scheme {
	case "":
		if o.TLS != nil {
			cfg.Scheme = "https"
		}
	case "http", "https":
		cfg.Scheme = scheme
	case "unix":
		path := rest
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		rest = "localhost"
	default:
		return nil, nil, fmt.Errorf("consul: address %q: unknown scheme %q (want http, https or unix)", addr, scheme)
	}
	if rest == "" {
		return nil, nil, fmt.Errorf("consul: empty address %q", addr)
	}
	cfg.Address = rest
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("consul: address %q: %w", addr, err)
	}
	return c, tr, nil
}

type agent struct {
	addr string
	c    *api.Client
}

type consulRegistry struct {
	set        settings
	agents     []agent
	transports []*http.Transport
	cur        atomic.Int32 // index into agents of the one in use

	root   context.Context // ends at Close; keepers and watchers derive from it
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	held     map[string]*held // by consul service ID
	watchers map[*watcher]struct{}
	wg       sync.WaitGroup // keepers, watchers and requests in flight
}

func (r *consulRegistry) String() string { return "consul" }

// Close stops the registry's goroutines (the keepers of its nodes and its
// watchers, whose Next then returns registry.ErrWatcherStopped) and
// releases its connections. It does not deregister anything: nodes
// registered with a TTL expire when it lapses, and nodes registered
// without one when their keepalive check does ([KeepaliveTTL]), as if
// the process had stopped. Close is idempotent and returns nil.
func (r *consulRegistry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	for _, tr := range r.transports {
		tr.CloseIdleConnections()
	}
	return nil
}

// enter accounts for a goroutine that Close waits for; false after Close.
func (r *consulRegistry) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}

func (r *consulRegistry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// callCtx bounds one request by the Timeout option.
func (r *consulRegistry) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.set.timeout > 0 {
		return context.WithTimeout(ctx, r.set.timeout)
	}
	return context.WithCancel(ctx)
}

// do runs f against the agent in use; when that agent cannot be reached it
// tries the next ones in turn and keeps the first that answers. Errors name
// the agent's address.
//
// Close waits for the requests in flight and ends them (they return
// ErrClosed), so that none leaves a connection behind; after Close no
// request starts.
func (r *consulRegistry) do(ctx context.Context, f func(ctx context.Context, c *api.Client) error) error {
	if !r.enter() {
		return ErrClosed
	}
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.root, cancel)()
	if err := r.call(ctx, f); err != nil {
		if r.root.Err() != nil {
			return ErrClosed
		}
		return err
	}
	return nil
}

func (r *consulRegistry) call(ctx context.Context, f func(ctx context.Context, c *api.Client) error) error {
	n := len(r.agents)
	start := int(r.cur.Load())
	var err error
	for i := range n {
		k := (start + i) % n
		a := r.agents[k]
		err = f(ctx, a.c)
		if err == nil {
			if k != start {
				r.cur.Store(int32(k))
			}
			return nil
		}
		err = fmt.Errorf("consul agent at %s: %w", a.addr, err)
		if ctx.Err() != nil || !unreachable(err) {
			return err
		}
	}
	return err
}

// unreachable reports whether err means that the agent could not be
// reached at all (as opposed to an answer that is an error).
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// statusCode returns the HTTP status of an error answer of the agent, or 0.
func statusCode(err error) int {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func (r *consulRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	ttl := max(registry.NewRegisterOptions(opts...).TTL, 0)
	// Encode every node first, so that a node too large changes nothing.
	regs := make([]*nodeReg, len(s.Nodes))
	for i, n := range s.Nodes {
		nr, err := r.build(s, n, ttl)
		if err != nil {
			return err
		}
		regs[i] = nr
	}
	defer r.poke(ctx, s.Name)
	for _, nr := range regs {
		if err := r.registerNode(ctx, nr); err != nil {
			return err
		}
	}
	return nil
}

// nodeReg is what registering one node sends to the agent.
type nodeReg struct {
	id   string // consul service ID
	name string
	node string        // registry node id
	ttl  time.Duration // 0: registered without TTL, kept alive by the registry
	hash string        // identifies the registration, TTL included
	svc  api.AgentServiceRegistration
}

func (r *consulRegistry) build(s *registry.Service, n *registry.Node, ttl time.Duration) (*nodeReg, error) {
	meta, text, err := encodeNode(s, n)
	if err != nil {
		return nil, err
	}
	nr := &nodeReg{
		id:   serviceID(s.Name, s.Version, n.Id),
		name: s.Name,
		node: n.Id,
		ttl:  ttl,
	}
	nr.svc = api.AgentServiceRegistration{
		ID:   nr.id,
		Name: s.Name,
		Tags: []string{tagMicro, tagVersionPrefix + s.Version},
		Meta: meta,
	}
	// consul's own address and port, for consul's DNS and UI; the
	// registry's address is the one in the metadata.
	if host, port, err := net.SplitHostPort(n.Address); err == nil {
		if p, err := strconv.Atoi(port); err == nil && p >= 0 && p < 1<<16 {
			nr.svc.Address, nr.svc.Port = host, p
		}
	}
	h := hashOf(text, nr.svc.Address, strconv.Itoa(nr.svc.Port), nr.svc.Tags[1], ttl.String())
	nr.hash = h
	return nr, nil
}

// The name of the plugin's checks, and how their notes start: what tells
// the plugin's instances from others in the health checks.
const (
	checkName        = "micro registration"
	checkNotesPrefix = checkName + " "
)

// check returns the instance's TTL check with the given TTL.
func (r *consulRegistry) check(nr *nodeReg, ttl time.Duration) *api.AgentServiceCheck {
	return &api.AgentServiceCheck{
		CheckID: checkID(nr.id),
		Name:    checkName,
		TTL:     ttl.String(),
		Status:  api.HealthPassing,
		// The hash makes every change of the registration a change of
		// the check too, which is how watchers of every service notice
		// it (they watch the checks).
		Notes:                          checkNotesPrefix + nr.hash,
		DeregisterCriticalServiceAfter: r.set.deregisterAfter.String(),
	}
}

// held is one node the registry registered and keeps.
type held struct {
	id     string
	ctx    context.Context // the keeper's; ends at Deregister, lapse or Close
	cancel context.CancelFunc
	kick   chan struct{} // capacity 1: the registration changed, so may the keeper's pace

	mu         sync.Mutex // serialises the agent calls about this node
	gone       bool       // dropped from r.held; a Register takes a new one
	nr         *nodeReg   // the last registration sent
	registered bool       // nr is in the agent as far as we know
	lease      time.Time  // when a TTL registration lapses
	keeping    bool       // the keeper runs
	failing    bool       // the keeper's last call failed (it logs changes only)
}

// hold returns the held entry of id, new if there is none, or nil after
// Close.
func (r *consulRegistry) hold(id string) *held {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	h, ok := r.held[id]
	if !ok {
		h = &held{id: id, kick: make(chan struct{}, 1)}
		h.ctx, h.cancel = context.WithCancel(r.root)
		r.held[id] = h
	}
	return h
}

// drop removes h from the held nodes and stops its keeper; h.mu is held.
func (r *consulRegistry) drop(h *held) {
	r.mu.Lock()
	if r.held[h.id] == h {
		delete(r.held, h.id)
	}
	r.mu.Unlock()
	h.gone = true
	h.cancel()
}

func (r *consulRegistry) registerNode(ctx context.Context, nr *nodeReg) error {
	for {
		h := r.hold(nr.id)
		if h == nil {
			return ErrClosed
		}
		h.mu.Lock()
		if h.gone {
			h.mu.Unlock()
			continue
		}
		err := r.refresh(ctx, h, nr)
		h.mu.Unlock()
		return err
	}
}

// refresh registers nr, or only passes its check when the agent already
// has this very registration (a heartbeat, one cheap call that writes
// nothing to consul's catalog). h.mu is held.
func (r *consulRegistry) refresh(ctx context.Context, h *held, nr *nodeReg) error {
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	if h.registered && h.nr.hash == nr.hash {
		err := r.do(ctx, func(ctx context.Context, c *api.Client) error {
			return c.Agent().UpdateTTLOpts(checkID(nr.id), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
		})
		switch code := statusCode(err); {
		case err == nil:
			h.lease = time.Now().Add(nr.ttl)
			r.keep(h)
			return nil
		case code == 0 || code == http.StatusForbidden:
			return fmt.Errorf("consul: refreshing node %q of %s: %w", nr.node, nr.name, err)
		}
		// The agent lost the node (restarted, or reaped it after its
		// check stayed critical): register it again.
	}
	if err := r.put(ctx, nr, r.ttlOf(nr)); err != nil {
		h.registered = false
		return fmt.Errorf("consul: registering node %q of %s: %w", nr.node, nr.name, err)
	}
	h.nr, h.registered = nr, true
	h.lease = time.Now().Add(nr.ttl)
	select {
	case h.kick <- struct{}{}:
	default:
	}
	r.keep(h)
	return nil
}

// ttlOf is the TTL of nr's check.
func (r *consulRegistry) ttlOf(nr *nodeReg) time.Duration {
	if nr.ttl > 0 {
		return nr.ttl
	}
	return r.set.keepalive
}

// put registers nr with the agent, with a check of the given TTL.
func (r *consulRegistry) put(ctx context.Context, nr *nodeReg, ttl time.Duration) error {
	reg := nr.svc
	reg.Check = r.check(nr, ttl)
	return r.do(ctx, func(ctx context.Context, c *api.Client) error {
		return c.Agent().ServiceRegisterOpts(&reg, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx))
	})
}

func (r *consulRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	defer r.poke(ctx, s.Name)
	for _, n := range s.Nodes {
		if err := r.deregisterNode(ctx, serviceID(s.Name, s.Version, n.Id)); err != nil {
			return fmt.Errorf("consul: deregistering node %q of %s: %w", n.Id, s.Name, err)
		}
	}
	return nil
}

// deregisterNode removes the node id from the agent. Its held entry stays
// in r.held, locked, until the agent has answered, so that a Register of
// the node racing this call waits and then registers it anew (with a new
// keeper) after the removal, never before it with a keeper that would
// outlive it.
func (r *consulRegistry) deregisterNode(ctx context.Context, id string) error {
	for {
		h := r.hold(id)
		if h == nil {
			return ErrClosed
		}
		h.cancel() // ends a keeper's pending call before taking the lock
		h.mu.Lock()
		if h.gone {
			h.mu.Unlock()
			continue
		}
		err := r.deregisterID(ctx, id)
		r.drop(h)
		h.mu.Unlock()
		return err
	}
}

func (r *consulRegistry) deregisterID(ctx context.Context, id string) error {
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	err := r.do(ctx, func(ctx context.Context, c *api.Client) error {
		return c.Agent().ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx))
	})
	if statusCode(err) == http.StatusNotFound {
		return nil // not registered with this agent: nothing to do
	}
	return err
}

func (r *consulRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty name", registry.ErrNotFound)
	}
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	snap, err := r.fetch(ctx, name, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("consul: getting %s: %w", name, err)
	}
	snap = r.share(name, snap)
	out := snap.services()
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q", registry.ErrNotFound, name)
	}
	return out, nil
}

// listFilter selects, among all health checks, those of this plugin's
// instances and those of nodes (which every instance on the node shares).
const listFilter = `ServiceName == "" or "` + tagMicro + `" in ServiceTags`

func (r *consulRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, ErrClosed
	}
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	rows, _, err := r.checks(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("consul: listing services: %w", err)
	}
	type nv struct{ name, version string }
	seen := make(map[nv]bool)
	for _, inst := range rows.instances() {
		if inst.healthy {
			seen[nv{inst.name, inst.version}] = true
		}
	}
	out := make([]*registry.Service, 0, len(seen))
	for k := range seen {
		out = append(out, &registry.Service{Name: k.name, Version: k.version})
	}
	slices.SortFunc(out, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

var _ registry.Registry = (*consulRegistry)(nil)
