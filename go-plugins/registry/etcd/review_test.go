package etcd

import (
	"errors"
	"math"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// TestLeaseSecondsHuge checks that a TTL near the largest Duration is not
// rounded into a negative lease, which etcd would raise to its 2s minimum:
// a node meant to live for centuries would vanish in two seconds.
func TestLeaseSecondsHuge(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Second/2, 290 * 365 * 24 * time.Hour} {
		if got, want := leaseSeconds(d), int64(d/time.Second); got < want {
			t.Errorf("leaseSeconds(%v) = %d, want at least %d", d, got, want)
		}
	}
}

// TestParseKeyCanonical checks that only the one spelling nodeKey writes is
// accepted: a key that unescapes to a name but is spelt otherwise is not
// under that name's serviceKey, so GetService and WatchService(name) would
// never see it while ListServices and Watch would.
func TestParseKeyCanonical(t *testing.T) {
	const p = "/micro/registry/"
	for _, key := range []string{
		p + "gr%65eter/1/a", // greeter
		p + "greeter/%31/a", // version 1
		p + "greeter/1/%61", // id a
		p + "a%2fb/1/a",     // a/b, lower-case escape
	} {
		if name, version, id, ok := parseKey(p, key); ok {
			t.Errorf("parseKey(%q) = %q, %q, %q, true; want rejected", key, name, version, id)
		}
	}
}

// TestForeignValuesListed checks that ListServices does not list what
// GetService says is not there: keys of the right shape whose values the
// registry did not write, or keys in another spelling.
func TestForeignValuesListed(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	r := newTestRegistry(t, te.Addr())
	p := r.cfg.prefix
	for key, value := range map[string]string{
		p + "ghost/1/a":     "not json",
		p + "ghost/2/a":     `{"name":"other","version":"2","nodes":[{"id":"a"}]}`,
		p + "gr%65eter/1/a": `{"name":"greeter","version":"1","nodes":[{"id":"a"}]}`,
		// go-micro v3's etcd registry shares the default prefix with keys
		// <domain>/<name>/<node id>: three parts, as here.
		p + "micro/greeter/greeter-1": v3Value,
	} {
		if _, err := raw.Put(opCtx(t), key, value); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := r.ListServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ss {
		names = append(names, s.Name+"@"+s.Version)
		if _, err := r.GetService(t.Context(), s.Name); err != nil {
			t.Errorf("ListServices lists %s@%s, GetService(%q): %v", s.Name, s.Version, s.Name, err)
		}
	}
	if len(names) != 0 {
		t.Errorf("ListServices = %v, want none", names)
	}
}

// TestWatchValueOverwritten checks what a watcher reports when someone
// overwrites a node's value with one that does not decode: the node is
// gone for GetService, so a watcher must say Delete, and the later delete
// of the foreign value is no second Delete.
func TestWatchValueOverwritten(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	r := newTestRegistry(t, te.Addr())
	ws := pump(t, mustWatch(t, r))
	node := svc("victim", "1", "a", "127.0.0.1:1")
	if err := r.Register(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "victim", "a")
	key := nodeKey(r.cfg.prefix, "victim", "1", "a")
	if _, err := raw.Put(opCtx(t), key, "garbage"); err != nil {
		t.Fatal(err)
	}
	if hasNodes(t, r, "victim", "a") {
		t.Fatal("GetService still returns the overwritten node")
	}
	ws.expect(t, registry.Delete, "victim", "a")
	if _, err := raw.Delete(opCtx(t), key); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc("victim", "1", "marker", "127.0.0.1:2")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "victim", "marker")
}

// v3Value is what go-micro v3's etcd registry writes under
// /micro/registry/micro/greeter/greeter-1.
const v3Value = `{"name":"greeter","version":"latest","metadata":null,"endpoints":[],"nodes":[{"id":"greeter-1","address":"10.0.0.1:9000","metadata":{"registry":"etcd"}}]}`

// TestWatchForeignDelete checks that deleting a foreign key of the right
// shape, whose value never made a Create, makes no Delete either: with
// go-micro v3 services sharing the prefix, each of their expiries would
// otherwise announce a node of a service "micro" that never existed.
func TestWatchForeignDelete(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	r := newTestRegistry(t, te.Addr())
	ws := pump(t, mustWatch(t, r))
	key := r.cfg.prefix + "micro/greeter/greeter-1"
	if _, err := raw.Put(opCtx(t), key, v3Value); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Delete(opCtx(t), key); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(t.Context(), svc("marker", "1", "m", "127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	ws.expect(t, registry.Create, "marker", "m")
}

// TestRegisterInvalidUTF8 checks names, versions and ids that are not
// valid UTF-8: JSON cannot carry them (encoding/json writes U+FFFD), so the
// stored value would not match its key and the node would be registered
// yet invisible. Register must refuse them clearly and write nothing.
func TestRegisterInvalidUTF8(t *testing.T) {
	te := etcdtest.Start(t)
	raw := rawClient(t, te.Addr())
	r := newTestRegistry(t, te.Addr())
	for _, s := range []*registry.Service{
		svc("bad\xffname", "1", "a", "127.0.0.1:1"),
		svc("badversion", "1\xff", "a", "127.0.0.1:1"),
		svc("badid", "1", "узел\x00\xff", "127.0.0.1:1"),
	} {
		err := r.Register(t.Context(), s)
		if err == nil {
			ss, gerr := r.GetService(t.Context(), s.Name)
			t.Errorf("Register(%q@%q node %q) = nil, then GetService = %v, %v", s.Name, s.Version, s.Nodes[0].Id, ss, gerr)
			continue
		}
		if !errors.Is(err, registry.ErrInvalidService) {
			t.Errorf("Register(%q@%q node %q) = %v, want ErrInvalidService", s.Name, s.Version, s.Nodes[0].Id, err)
		}
	}
	resp, err := raw.Get(opCtx(t), r.cfg.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Errorf("keys under the prefix after refused Registers: %d (%v), want 0", resp.Count, err)
	}
}
