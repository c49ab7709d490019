package etcd

import (
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// watchStream pumps a watcher into channels so that a test can wait on it
// with a deadline. The pump ends with the watcher.
type watchStream struct {
	res  chan *registry.Result
	errc chan error
}

func pump(t *testing.T, w registry.Watcher) *watchStream {
	t.Helper()
	ws := &watchStream{res: make(chan *registry.Result, 1024), errc: make(chan error, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			res, err := w.Next()
			if err != nil {
				ws.errc <- err
				return
			}
			ws.res <- res
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		testenv.Wait(t, "the watcher's Next to return after Stop", done)
	})
	return ws
}

// expect waits for the next result and checks its action and node.
func (ws *watchStream) expect(t *testing.T, action registry.Action, name, id string) *registry.Result {
	t.Helper()
	select {
	case res := <-ws.res:
		if res.Action != action || res.Service.Name != name || len(res.Service.Nodes) != 1 || res.Service.Nodes[0].Id != id {
			t.Fatalf("watch: got %s %s %v, want %s %s node %s", res.Action, res.Service.Name, nodeIDs(res.Service), action, name, id)
		}
		return res
	case err := <-ws.errc:
		t.Fatalf("watch ended waiting for %s %s: %v", action, id, err)
	case <-time.After(testenv.Patience):
		t.Fatalf("no watch result within %v, want %s %s", testenv.Patience, action, id)
	}
	return nil
}

func nodeIDs(s *registry.Service) []string {
	var ids []string
	for _, n := range s.Nodes {
		ids = append(ids, n.Id)
	}
	return ids
}

// hasNodes reports whether GetService(name) through r has exactly the
// node ids given (any version).
func hasNodes(t *testing.T, r registry.Registry, name string, ids ...string) bool {
	t.Helper()
	ss, err := r.GetService(t.Context(), name)
	if err != nil {
		return len(ids) == 0 && errors.Is(err, registry.ErrNotFound)
	}
	var have []string
	for _, s := range ss {
		have = append(have, nodeIDs(s)...)
	}
	if len(have) != len(ids) {
		return false
	}
	for _, id := range ids {
		found := false
		for _, h := range have {
			found = found || h == id
		}
		if !found {
			return false
		}
	}
	return true
}

// keyOf returns the key/value etcd holds for a node, or nil.
func keyOf(t *testing.T, c *clientv3.Client, r *etcdRegistry, s *registry.Service) *clientv3.GetResponse {
	t.Helper()
	resp, err := c.Get(opCtx(t), nodeKey(r.cfg.prefix, s.Name, s.Version, s.Nodes[0].Id))
	if err != nil {
		t.Fatalf("get key: %v", err)
	}
	return resp
}

// TestHeartbeatReusesLease checks that registering a node again is cheap:
// the same TTL keeps the lease and does not write the key unless the node
// changed, and watchers see only real changes.
func TestHeartbeatReusesLease(t *testing.T) {
	te := etcdtest.Start(t)
	r := newTestRegistry(t, te.Addr())
	raw := rawClient(t, te.Addr())
	ws := pump(t, mustWatch(t, r, registry.WatchService("hb")))

	node := svc("hb", "1", "a", "127.0.0.1:1001")
	if err := r.Register(t.Context(), node, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "hb", "a")
	first := keyOf(t, raw, r, node).Kvs[0]
	if first.Lease == 0 {
		t.Fatal("a node registered with a TTL has no lease")
	}
	ttl, err := raw.TimeToLive(opCtx(t), clientv3.LeaseID(first.Lease))
	if err != nil || ttl.GrantedTTL != 60 {
		t.Fatalf("lease granted for %d s (%v), want 60", ttl.GrantedTTL, err)
	}

	steps := []struct {
		what      string
		svc       *registry.Service
		ttl       time.Duration
		sameLease bool
		rewritten bool
		event     registry.Action // "" for none
	}{
		{"heartbeat", svc("hb", "1", "a", "127.0.0.1:1001"), time.Minute, true, false, ""},
		{"heartbeat again", svc("hb", "1", "a", "127.0.0.1:1001"), time.Minute, true, false, ""},
		{"new address", svc("hb", "1", "a", "127.0.0.1:2002"), time.Minute, true, true, registry.Update},
		{"longer TTL", svc("hb", "1", "a", "127.0.0.1:2002"), 2 * time.Minute, false, true, ""},
		{"no TTL", svc("hb", "1", "a", "127.0.0.1:2002"), 0, false, true, ""},
		{"no TTL heartbeat", svc("hb", "1", "a", "127.0.0.1:2002"), 0, true, false, ""},
	}
	prev := first
	for _, st := range steps {
		if err := r.Register(t.Context(), st.svc, registry.RegisterTTL(st.ttl)); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		kv := keyOf(t, raw, r, node).Kvs[0]
		if got := kv.Lease == prev.Lease; got != st.sameLease {
			t.Errorf("%s: lease %x -> %x, want same=%v", st.what, prev.Lease, kv.Lease, st.sameLease)
		}
		if got := kv.ModRevision != prev.ModRevision; got != st.rewritten {
			t.Errorf("%s: key rewritten=%v, want %v", st.what, got, st.rewritten)
		}
		if st.ttl == 0 && kv.Lease != 0 {
			t.Errorf("%s: key still has lease %x", st.what, kv.Lease)
		}
		if !st.sameLease && prev.Lease != 0 {
			old, err := raw.TimeToLive(opCtx(t), clientv3.LeaseID(prev.Lease))
			if err != nil || old.TTL != -1 {
				t.Errorf("%s: the replaced lease is still alive (TTL %d, %v)", st.what, old.TTL, err)
			}
		}
		if st.event != "" {
			ws.expect(t, st.event, "hb", "a")
		}
		prev = kv
	}
	// Nothing else came: the next event is the marker's.
	if err := r.Register(t.Context(), svc("hb", "1", "marker", "127.0.0.1:3003")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "hb", "marker")
}

func mustWatch(t *testing.T, r registry.Registry, opts ...registry.WatchOption) registry.Watcher {
	t.Helper()
	w, err := r.Watch(t.Context(), opts...)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return w
}

// TestCrashedNodeExpires simulates a crash: the registry that registered
// a node stops (Close revokes nothing, as a killed process would not), so
// nothing renews the lease; another registry sees the node go when its TTL
// passes, with a Delete carrying the node, while a node without TTL stays.
func TestCrashedNodeExpires(t *testing.T) {
	te := etcdtest.Start(t)
	observer := newTestRegistry(t, te.Addr())
	ws := pump(t, mustWatch(t, observer, registry.WatchService("crash")))

	victim, err := NewRegistry(registry.Addrs(te.Addr()), registry.Timeout(testTimeout), Logger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.(*etcdRegistry).Close() })
	if err := victim.Register(t.Context(), svc("crash", "1", "leased", "127.0.0.1:1001"), registry.RegisterTTL(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := victim.Register(t.Context(), svc("crash", "1", "forever", "127.0.0.1:1002")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "crash", "leased")
	ws.expect(t, registry.Create, "crash", "forever")
	testenv.WaitFor(t, "both nodes visible", func() bool { return hasNodes(t, observer, "crash", "leased", "forever") })

	if err := victim.(*etcdRegistry).Close(); err != nil { // the crash
		t.Fatal(err)
	}
	res := ws.expect(t, registry.Delete, "crash", "leased")
	if got := res.Service.Nodes[0].Address; got != "127.0.0.1:1001" {
		t.Errorf("Delete on expiry carries address %q, want the node's", got)
	}
	if !hasNodes(t, observer, "crash", "forever") {
		t.Error("after the expiry GetService does not have exactly the node without TTL")
	}
}

// TestRestartWithData restarts etcd on its data: keys and leases survive,
// calls fail clearly while it is down and work once it is back, and
// watches resume without losing a change.
func TestRestartWithData(t *testing.T) {
	te := etcdtest.Start(t)
	r := newTestRegistry(t, te.Addr(), registry.Timeout(time.Second))
	observer := newTestRegistry(t, te.Addr())
	ws := pump(t, mustWatch(t, observer, registry.WatchService("restart")))

	if err := r.Register(t.Context(), svc("restart", "1", "x", "127.0.0.1:1001"), registry.RegisterTTL(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc("restart", "1", "y", "127.0.0.1:1002")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "restart", "x")
	ws.expect(t, registry.Create, "restart", "y")

	te.Stop()
	err := r.Register(t.Context(), svc("restart", "1", "z", "127.0.0.1:1003"))
	checkUnreachable(t, err, te.Addr())

	if err := te.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "Register to succeed once etcd is back", func() bool {
		return r.Register(t.Context(), svc("restart", "1", "z", "127.0.0.1:1003")) == nil
	})
	ws.expect(t, registry.Create, "restart", "z")
	testenv.WaitFor(t, "x, y and z after the restart", func() bool { return hasNodes(t, observer, "restart", "x", "y", "z") })
}

// checkUnreachable checks the error of a call made while etcd is down.
func checkUnreachable(t *testing.T, err error, addr string) {
	t.Helper()
	if err == nil {
		t.Fatal("a call succeeded while etcd was down")
	}
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error while etcd is down = %q, want one wrapping ErrUnreachable and naming %s", err, addr)
	}
}

// TestRestartWithoutData is the hard case: etcd comes back with an empty
// store. With no call from the service, the registry puts back the nodes
// it holds (the one with a TTL on a lease of what is left of it, restored
// to the full TTL by the next heartbeat), and watchers of another registry
// end with ErrDataLost.
func TestRestartWithoutData(t *testing.T) {
	te := etcdtest.Start(t)
	r := newTestRegistry(t, te.Addr(), CheckInterval(200*time.Millisecond), Logger(testLogger(t).With("registry", "holder")))
	observer := newTestRegistry(t, te.Addr(), CheckInterval(200*time.Millisecond), Logger(testLogger(t).With("registry", "observer")))
	raw := rawClient(t, te.Addr())

	leased := svc("lost", "1", "x", "127.0.0.1:1001")
	if err := r.Register(t.Context(), leased, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc("lost", "1", "y", "127.0.0.1:1002")); err != nil {
		t.Fatal(err)
	}
	// Move the revision well past what the new store will reach, as any
	// etcd in use has.
	for i := range 50 {
		if _, err := raw.Put(opCtx(t), "/elsewhere/counter", string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	ws := pump(t, mustWatch(t, observer, registry.WatchService("lost")))
	testenv.WaitFor(t, "x and y", func() bool { return hasNodes(t, observer, "lost", "x", "y") })

	t.Log("restarting etcd without its data")
	te.Stop()
	te.Wipe()
	if err := te.Start(); err != nil {
		t.Fatal(err)
	}
	t.Log("etcd restarted")
	testenv.WaitFor(t, "x and y put back by the registry", func() bool { return hasNodes(t, observer, "lost", "x", "y") })

	t.Log("x and y are back")
	select {
	case err := <-ws.errc:
		if !errors.Is(err, ErrDataLost) {
			t.Fatalf("the observer's watcher ended with %v, want ErrDataLost", err)
		}
	case res := <-ws.res:
		t.Fatalf("the observer's watcher reported %s %v from the new store, want ErrDataLost", res.Action, nodeIDs(res.Service))
	case <-time.After(testenv.Patience):
		t.Fatalf("the observer's watcher did not end within %v of etcd losing its data", testenv.Patience)
	}

	kv := keyOf(t, raw, r, leased).Kvs[0]
	left, err := raw.TimeToLive(opCtx(t), clientv3.LeaseID(kv.Lease))
	if err != nil || left.GrantedTTL < 1 || left.GrantedTTL > 60 {
		t.Fatalf("restored lease granted %d s (%v), want at most the 60 s that were left", left.GrantedTTL, err)
	}
	// The heartbeat restores the full TTL.
	if err := r.Register(t.Context(), leased, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	kv = keyOf(t, raw, r, leased).Kvs[0]
	full, err := raw.TimeToLive(opCtx(t), clientv3.LeaseID(kv.Lease))
	if err != nil || full.GrantedTTL != 60 {
		t.Fatalf("lease after a heartbeat granted %d s (%v), want 60", full.GrantedTTL, err)
	}

	// A new watch works on the new store.
	ws2 := pump(t, mustWatch(t, observer, registry.WatchService("lost")))
	if err := r.Register(t.Context(), svc("lost", "1", "z", "127.0.0.1:1003")); err != nil {
		t.Fatal(err)
	}
	ws2.expect(t, registry.Create, "lost", "z")
}

// TestDownAtStart builds the registry while nothing serves its address:
// NewRegistry returns, calls fail clearly, and Register works once etcd
// starts.
func TestDownAtStart(t *testing.T) {
	te := etcdtest.New(t)
	type built struct {
		r   registry.Registry
		err error
	}
	ch := make(chan built, 1)
	go func() {
		r, err := NewRegistry(registry.Addrs(te.Addr()), registry.Timeout(time.Second), Logger(testLogger(t)))
		ch <- built{r, err}
	}()
	b := testenv.Recv(t, "NewRegistry with etcd down", ch)
	if b.err != nil {
		t.Fatalf("NewRegistry with etcd down: %v", b.err)
	}
	r := b.r.(*etcdRegistry)
	t.Cleanup(func() { _ = r.Close() })

	s := svc("early", "1", "a", "127.0.0.1:1001")
	checkUnreachable(t, r.Register(t.Context(), s, registry.RegisterTTL(10*time.Second)), te.Addr())
	_, err := r.GetService(t.Context(), "early")
	checkUnreachable(t, err, te.Addr())
	_, err = r.Watch(t.Context())
	checkUnreachable(t, err, te.Addr())

	if err := te.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "Register to succeed once etcd is up", func() bool {
		return r.Register(t.Context(), s, registry.RegisterTTL(10*time.Second)) == nil
	})
	if !hasNodes(t, r, "early", "a") {
		t.Fatal("the node registered once etcd came up is not there")
	}
}

// TestRegisterRegrantsLostLease revokes a node's lease behind the
// registry's back (as etcd losing it would): the next heartbeat grants a
// new lease and writes the node again. The keeper is kept out of the way.
func TestRegisterRegrantsLostLease(t *testing.T) {
	te := etcdtest.Start(t)
	r := newTestRegistry(t, te.Addr(), CheckInterval(time.Hour))
	raw := rawClient(t, te.Addr())
	s := svc("regrant", "1", "a", "127.0.0.1:1001")
	if err := r.Register(t.Context(), s, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	old := keyOf(t, raw, r, s).Kvs[0].Lease
	if _, err := raw.Revoke(opCtx(t), clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	if n := len(keyOf(t, raw, r, s).Kvs); n != 0 {
		t.Fatalf("the key outlived its revoked lease (%d kvs)", n)
	}
	if err := r.Register(t.Context(), s, registry.RegisterTTL(time.Minute)); err != nil {
		t.Fatalf("heartbeat after the lease was lost: %v", err)
	}
	kvs := keyOf(t, raw, r, s).Kvs
	if len(kvs) != 1 || kvs[0].Lease == 0 || kvs[0].Lease == old {
		t.Fatalf("after the heartbeat: %v, want the key on a new lease", kvs)
	}
}
