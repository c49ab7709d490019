package registrytest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// Option adjusts [Run] to an implementation.
type Option func(*options)

type options struct {
	wait  time.Duration
	ttl   time.Duration
	noTTL bool
}

// Wait sets how long the suite waits for a change to become visible through
// GetService, ListServices or a Watcher before failing. Default: 10s.
func Wait(d time.Duration) Option { return func(o *options) { o.wait = d } }

// TTL sets the TTL used by the expiry tests. Default: 1s.
func TTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithoutTTL skips the tests of [registry.RegisterTTL], for a backend that
// cannot expire nodes. Default: TTL is tested.
func WithoutTTL() Option { return func(o *options) { o.noTTL = true } }

// Run runs the conformance suite as parallel subtests of t. newRegistry is
// called once per subtest and may return registries that share a backend;
// closing or releasing it is newRegistry's business (through t.Cleanup).
func Run(t *testing.T, newRegistry func(t *testing.T) registry.Registry, opts ...Option) {
	t.Helper()
	o := options{wait: 10 * time.Second, ttl: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	tests := []struct {
		name string
		fn   func(*suite)
		ttl  bool // needs TTL support
	}{
		{"RegisterGet", testRegisterGet, false},
		{"ListServices", testListServices, false},
		{"Versions", testVersions, false},
		{"DeregisterOneNode", testDeregisterOneNode, false},
		{"DeregisterLastNode", testDeregisterLastNode, false},
		{"DeregisterUnknown", testDeregisterUnknown, false},
		{"ReRegister", testReRegister, false},
		{"RoundTrip", testRoundTrip, false},
		{"TTLExpiry", testTTLExpiry, true},
		{"TTLRefresh", testTTLRefresh, true},
		{"WatchEvents", testWatchEvents, false},
		{"WatchTTLExpiry", testWatchTTLExpiry, true},
		{"WatchService", testWatchService, false},
		{"WatchBacklog", testWatchBacklog, false},
		{"WatchStop", testWatchStop, false},
		{"WatchContext", testWatchContext, false},
		{"CopySafety", testCopySafety, false},
		{"InvalidInput", testInvalidInput, false},
		{"CancelledContext", testCancelledContext, false},
		{"Concurrent", testConcurrent, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ttl && o.noTTL {
				t.Skip("registrytest: WithoutTTL given")
			}
			t.Parallel()
			r := newRegistry(t)
			if r == nil {
				t.Fatal("registrytest: newRegistry returned nil")
			}
			tc.fn(&suite{T: t, r: r, o: o})
		})
	}
}

// suite is the state of one subtest.
type suite struct {
	*testing.T
	r registry.Registry
	o options
}

// name returns a service name unique to this subtest run.
func (s *suite) name(label string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "rt-" + label + "-" + hex.EncodeToString(b[:])
}

func node(id string, port int, md map[string]string) *registry.Node {
	return &registry.Node{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", port), Metadata: md}
}

func service(name, version string, nodes ...*registry.Node) *registry.Service {
	return &registry.Service{Name: name, Version: version, Nodes: nodes}
}

// cleanupCtx is a context for t.Cleanup, which runs after t.Context ends.
func (s *suite) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.o.wait)
}

// register registers svc and deregisters its nodes when the subtest ends.
func (s *suite) register(svc *registry.Service, opts ...registry.RegisterOption) {
	s.Helper()
	if err := s.r.Register(s.Context(), registry.Copy(svc), opts...); err != nil {
		s.Fatalf("Register(%s): %v", describe(svc), err)
	}
	s.deregisterAtEnd(svc)
}

func (s *suite) deregisterAtEnd(svc *registry.Service) {
	svc = registry.Copy(svc)
	s.Cleanup(func() {
		ctx, cancel := s.cleanupCtx()
		defer cancel()
		_ = s.r.Deregister(ctx, svc)
	})
}

func (s *suite) deregister(svc *registry.Service) {
	s.Helper()
	if err := s.r.Deregister(s.Context(), registry.Copy(svc)); err != nil {
		s.Fatalf("Deregister(%s): %v", describe(svc), err)
	}
}

// eventually calls check until it returns nil or the wait passes.
func (s *suite) eventually(what string, extra time.Duration, check func() error) {
	s.Helper()
	deadline := time.Now().Add(s.o.wait + extra)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Fatalf("%s: still not true after %v: %v", what, s.o.wait+extra, err)
		}
		select {
		case <-tick.C:
		case <-s.Context().Done():
			s.Fatalf("%s: test ended: %v", what, err)
		}
	}
}

// want describes the expected state of a service: version -> node ids.
type want map[string][]string

// waitNodes polls GetService until name has exactly the versions and node
// ids of w, and returns the services seen, sorted by version.
func (s *suite) waitNodes(name string, w want) []*registry.Service {
	s.Helper()
	return s.waitNodesFor(name, w, 0)
}

func (s *suite) waitNodesFor(name string, w want, extra time.Duration) []*registry.Service {
	s.Helper()
	var got []*registry.Service
	s.eventually("GetService("+name+")", extra, func() error {
		ss, err := s.r.GetService(s.Context(), name)
		if err != nil {
			return err
		}
		if have := nodeIDs(ss); !sameIDs(have, w) {
			return fmt.Errorf("have %v, want %v", have, w)
		}
		got = ss
		return nil
	})
	sortServices(got)
	return got
}

// waitGone polls GetService until name is not found.
func (s *suite) waitGone(name string, extra time.Duration) {
	s.Helper()
	s.eventually("GetService("+name+") not found", extra, func() error {
		ss, err := s.r.GetService(s.Context(), name)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("error %w does not wrap registry.ErrNotFound", err)
		default:
			return fmt.Errorf("still there: %v", nodeIDs(ss))
		}
	})
}

func nodeIDs(ss []*registry.Service) map[string][]string {
	m := make(map[string][]string)
	for _, svc := range ss {
		if svc == nil {
			continue
		}
		ids := m[svc.Version]
		for _, n := range svc.Nodes {
			if n != nil {
				ids = append(ids, n.Id)
			}
		}
		slices.Sort(ids)
		m[svc.Version] = ids
	}
	return m
}

func sameIDs(have map[string][]string, w want) bool {
	if len(have) != len(w) {
		return false
	}
	for v, ids := range w {
		h, ok := have[v]
		if !ok {
			return false
		}
		ids = slices.Clone(ids)
		slices.Sort(ids)
		if !slices.Equal(h, ids) {
			return false
		}
	}
	return true
}

func sortServices(ss []*registry.Service) {
	slices.SortFunc(ss, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	for _, svc := range ss {
		slices.SortFunc(svc.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
	}
}

// findNode returns the node with id in ss, or nil.
func findNode(ss []*registry.Service, version, id string) *registry.Node {
	for _, svc := range ss {
		if svc.Version != version {
			continue
		}
		for _, n := range svc.Nodes {
			if n != nil && n.Id == id {
				return n
			}
		}
	}
	return nil
}

// canonical renders v as JSON, so that nil and empty maps and slices compare
// equal, as they do after a trip through any serialising backend.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unmarshalable: " + err.Error()
	}
	return string(b)
}

func describe(svc *registry.Service) string {
	if svc == nil {
		return "<nil>"
	}
	var ids []string
	for _, n := range svc.Nodes {
		if n == nil {
			ids = append(ids, "<nil>")
			continue
		}
		ids = append(ids, n.Id)
	}
	return fmt.Sprintf("%s@%s[%s]", svc.Name, svc.Version, strings.Join(ids, ","))
}
