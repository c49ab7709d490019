package registrytest

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// stream pumps a Watcher's results into a channel so that the suite can
// wait for them with a deadline. Its goroutine ends when the subtest does.
type stream struct {
	s     *suite
	w     registry.Watcher
	only  map[string]bool // when non-nil, results for other names are skipped
	ch    chan *registry.Result
	errc  chan error // the error that ended Next, once
	ended error
}

// watch starts a watcher with opts. When names are given, results for other
// service names are ignored: registries of other subtests may share the
// backend.
func (s *suite) watch(opts []registry.WatchOption, names ...string) *stream {
	s.Helper()
	w, err := s.r.Watch(s.Context(), opts...)
	if err != nil {
		s.Fatalf("Watch: %v", err)
	}
	st := &stream{s: s, w: w, ch: make(chan *registry.Result), errc: make(chan error, 1)}
	if len(names) > 0 {
		st.only = make(map[string]bool, len(names))
		for _, n := range names {
			st.only[n] = true
		}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			res, err := w.Next()
			if err != nil {
				st.errc <- err
				return
			}
			select {
			case st.ch <- res:
			case <-quit:
				return
			}
		}
	}()
	s.Cleanup(func() {
		close(quit)
		w.Stop()
		timer := time.NewTimer(s.o.wait)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			// A broken Stop must fail the test, not hang it.
			s.Errorf("Next did not return within %v of Stop", s.o.wait)
		}
	})
	return st
}

// next returns the next result of interest, failing the test when none
// comes within the wait (plus extra).
func (st *stream) next(extra time.Duration) *registry.Result {
	st.s.Helper()
	timer := time.NewTimer(st.s.o.wait + extra)
	defer timer.Stop()
	for {
		if st.ended != nil {
			st.s.Fatalf("watcher ended early: %v", st.ended)
		}
		select {
		case res := <-st.ch:
			if res == nil || res.Service == nil {
				st.s.Fatalf("Next returned a result without a service: %#v", res)
			}
			if st.only != nil && !st.only[res.Service.Name] {
				continue
			}
			return res
		case err := <-st.errc:
			st.ended = err
		case <-timer.C:
			st.s.Fatalf("no watch result within %v", st.s.o.wait+extra)
		}
	}
}

// expect consumes results until every node in ids has been reported with
// action for name@version, and returns a service holding the last result's
// header and every node reported. Any other result in between fails the
// test: the wrong action, service or version, or a node not in ids or
// reported twice.
func (st *stream) expect(action registry.Action, name, version string, ids ...string) *registry.Service {
	st.s.Helper()
	return st.expectFor(0, action, name, version, ids...)
}

func (st *stream) expectFor(extra time.Duration, action registry.Action, name, version string, ids ...string) *registry.Service {
	st.s.Helper()
	pending := make(map[string]bool, len(ids))
	for _, id := range ids {
		pending[id] = true
	}
	var merged *registry.Service
	for len(pending) > 0 {
		res := st.next(extra)
		got := res.Service
		if res.Action != action || got.Name != name || got.Version != version {
			st.s.Fatalf("watch: got %s %s, want %s %s@%s%v", res.Action, describe(got), action, name, version, ids)
		}
		if len(got.Nodes) == 0 {
			st.s.Fatalf("watch: %s %s carries no nodes", res.Action, describe(got))
		}
		for _, n := range got.Nodes {
			if n == nil || !pending[n.Id] {
				st.s.Fatalf("watch: got %s %s, want %s %s@%s%v: unexpected or repeated node", res.Action, describe(got), action, name, version, ids)
			}
			delete(pending, n.Id)
		}
		if merged == nil {
			merged = registry.Copy(got)
		} else {
			nodes := append(merged.Nodes, registry.Copy(got).Nodes...)
			merged = registry.Copy(got)
			merged.Nodes = nodes
		}
	}
	slices.SortFunc(merged.Nodes, func(a, b *registry.Node) int {
		return cmp.Compare(a.Id, b.Id)
	})
	return merged
}

// nodeAddr returns the address of node id in svc.
func nodeAddr(svc *registry.Service, id string) string {
	for _, n := range svc.Nodes {
		if n.Id == id {
			return n.Address
		}
	}
	return fmt.Sprintf("<no node %q>", id)
}
