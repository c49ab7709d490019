package registrytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/openmicro/go-micro/registry"
)

func testRegisterGet(s *suite) {
	name := s.name("get")
	if s.r.String() == "" {
		s.Error("String() is empty")
	}
	if _, err := s.r.GetService(s.Context(), name); !errors.Is(err, registry.ErrNotFound) {
		s.Errorf("GetService of an unknown service: err = %v, want registry.ErrNotFound", err)
	}

	svc := service(name, "1.0.0",
		node("a", 1001, map[string]string{"zone": "z1"}),
		node("b", 1002, nil))
	svc.Metadata = map[string]string{"team": "core"}
	s.register(svc)

	ss := s.waitNodes(name, want{"1.0.0": {"a", "b"}})
	if got, want := canonical(ss[0]), canonical(svc); got != want {
		s.Errorf("GetService returned\n%s\nwant\n%s", got, want)
	}
}

func testListServices(s *suite) {
	a, b := s.name("list-a"), s.name("list-b")
	s.register(service(a, "1", node("a1", 1001, nil)))
	s.register(service(a, "2", node("a2", 1002, nil)))
	s.register(service(b, "1", node("b1", 1003, nil)))

	want := []string{a + "@1", a + "@2", b + "@1"}
	slices.Sort(want)
	s.eventually("ListServices", 0, func() error {
		ss, err := s.r.ListServices(s.Context())
		if err != nil {
			return err
		}
		var got []string
		for _, svc := range ss {
			if svc != nil && (svc.Name == a || svc.Name == b) {
				got = append(got, svc.Name+"@"+svc.Version)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("have %v, want %v (one entry per name and version)", got, want)
		}
		return nil
	})
}

func testVersions(s *suite) {
	name := s.name("versions")
	s.register(service(name, "v1", node("a", 1001, map[string]string{"v": "1"})))
	s.register(service(name, "v2", node("b", 1002, map[string]string{"v": "2"})))

	ss := s.waitNodes(name, want{"v1": {"a"}, "v2": {"b"}})
	if n := findNode(ss, "v1", "a"); n.Address != "127.0.0.1:1001" || n.Metadata["v"] != "1" {
		s.Errorf("v1 node a = %+v", n)
	}
	if n := findNode(ss, "v2", "b"); n.Address != "127.0.0.1:1002" || n.Metadata["v"] != "2" {
		s.Errorf("v2 node b = %+v", n)
	}

	s.deregister(service(name, "v1", node("a", 1001, nil)))
	s.waitNodes(name, want{"v2": {"b"}})
}

func testDeregisterOneNode(s *suite) {
	name := s.name("dereg-one")
	svc := service(name, "1", node("a", 1001, nil), node("b", 1002, nil), node("c", 1003, nil))
	s.register(svc)
	s.waitNodes(name, want{"1": {"a", "b", "c"}})

	// Only the id matters to Deregister.
	s.deregister(service(name, "1", &registry.Node{Id: "b"}))
	ss := s.waitNodes(name, want{"1": {"a", "c"}})
	if got := findNode(ss, "1", "a").Address; got != "127.0.0.1:1001" {
		s.Errorf("node a address = %q after deregistering b", got)
	}
	if got := findNode(ss, "1", "c").Address; got != "127.0.0.1:1003" {
		s.Errorf("node c address = %q after deregistering b", got)
	}
}

func testDeregisterLastNode(s *suite) {
	name := s.name("dereg-last")
	s.register(service(name, "1", node("a", 1001, nil), node("b", 1002, nil)))
	s.waitNodes(name, want{"1": {"a", "b"}})

	s.deregister(service(name, "1", node("a", 1001, nil)))
	s.waitNodes(name, want{"1": {"b"}})
	s.deregister(service(name, "1", node("b", 1002, nil)))
	s.waitGone(name, 0)
	s.waitUnlisted(name)
}

func testDeregisterUnknown(s *suite) {
	name := s.name("dereg-unknown")
	s.register(service(name, "1", node("a", 1001, nil)))
	s.waitNodes(name, want{"1": {"a"}})

	for _, svc := range []*registry.Service{
		service(name, "1", node("zz", 1009, nil)),
		service(s.name("nobody"), "1", node("a", 1001, nil)),
	} {
		if err := s.r.Deregister(s.Context(), svc); err != nil {
			s.Errorf("Deregister(%s) of an unregistered node: %v", describe(svc), err)
		}
	}
	s.register(service(name, "1", node("b", 1002, nil)))
	s.waitNodes(name, want{"1": {"a", "b"}})
}

func testReRegister(s *suite) {
	name := s.name("reregister")
	first := service(name, "1", node("a", 1001, map[string]string{"n": "1", "stale": "yes"}))
	first.Metadata = map[string]string{"gen": "1", "old": "x"}
	first.Endpoints = []*registry.Endpoint{{
		Name:    "Greeter.Hello",
		Request: &registry.Value{Name: "HelloRequest", Type: "HelloRequest"},
	}}
	s.register(first)
	s.waitNodes(name, want{"1": {"a"}})

	second := service(name, "1", node("a", 2001, map[string]string{"n": "2"}))
	second.Metadata = map[string]string{"gen": "2"}
	second.Endpoints = []*registry.Endpoint{{
		Name:     "Greeter.Bye",
		Response: &registry.Value{Name: "ByeResponse", Type: "ByeResponse"},
		Metadata: map[string]string{"stream": "false"},
	}}
	s.register(second)

	want := canonical(second)
	s.eventually("re-registration replaces address, metadata and endpoints", 0, func() error {
		ss, err := s.r.GetService(s.Context(), name)
		if err != nil {
			return err
		}
		if len(ss) != 1 {
			return fmt.Errorf("%d versions, want 1", len(ss))
		}
		if got := canonical(ss[0]); got != want {
			return fmt.Errorf("have\n%s\nwant\n%s", got, want)
		}
		return nil
	})
}

// richService returns a service exercising every field: metadata with
// awkward keys and values, several endpoints with nested Value trees.
func richService(name string) *registry.Service {
	md := map[string]string{
		"key.with.dots":  "value=with,separators;and:colons",
		"key with space": "line1\nline2",
		"ünïcödé":        "日本語",
		"empty":          "",
		"quote":          `"json" {braces}`,
	}
	tree := &registry.Value{Name: "req", Type: "Request", Values: []*registry.Value{
		{Name: "id", Type: "string"},
		{Name: "user", Type: "User", Values: []*registry.Value{
			{Name: "name", Type: "string"},
			{Name: "address", Type: "Address", Values: []*registry.Value{
				{Name: "street", Type: "string"},
				{Name: "geo", Type: "Geo", Values: []*registry.Value{
					{Name: "lat", Type: "double"},
					{Name: "lng", Type: "double"},
				}},
			}},
			{Name: "tags", Type: "[]string"},
		}},
		{Name: "page", Type: "int32"},
	}}
	return &registry.Service{
		Name:     name,
		Version:  "2.3.4-beta.1+build",
		Metadata: md,
		Endpoints: []*registry.Endpoint{
			{Name: "Users.Create", Request: tree, Response: &registry.Value{Name: "rsp", Type: "Response"}, Metadata: map[string]string{"auth": "required"}},
			{Name: "Users.Stream", Request: &registry.Value{Name: "req", Type: "Empty"}, Metadata: map[string]string{"stream": "true"}},
			{Name: "Users.Ping"},
		},
		Nodes: []*registry.Node{
			{Id: "n1", Address: "127.0.0.1:1001", Metadata: md},
			{Id: "n2", Address: "127.0.0.1:1002", Metadata: map[string]string{"protocol": "mucp", "transport": "http"}},
		},
	}
}

func testRoundTrip(s *suite) {
	name := s.name("roundtrip")
	svc := richService(name)
	s.register(svc)
	ss := s.waitNodes(name, want{svc.Version: {"n1", "n2"}})
	if got, want := canonical(ss[0]), canonical(svc); got != want {
		s.Errorf("GetService returned\n%s\nwant\n%s", got, want)
	}
}

func testTTLExpiry(s *suite) {
	ttl := s.o.ttl
	name, alone := s.name("ttl"), s.name("ttl-alone")
	// The node may expire before GetService could see it on a slow
	// machine; the watcher proves it was registered.
	st := s.watch([]registry.WatchOption{registry.WatchService(name)})
	stAlone := s.watch([]registry.WatchOption{registry.WatchService(alone)})
	s.register(service(name, "1", node("short", 1001, nil)), registry.RegisterTTL(ttl))
	s.register(service(name, "1", node("forever", 1002, nil)))
	st.expect(registry.Create, name, "1", "short")
	st.expect(registry.Create, name, "1", "forever")
	// The TTL node goes, the other stays.
	s.waitNodesFor(name, want{"1": {"forever"}}, ttl)

	// A service whose only node expires disappears.
	s.register(service(alone, "1", node("x", 1003, nil)), registry.RegisterTTL(ttl))
	stAlone.expect(registry.Create, alone, "1", "x")
	s.waitGone(alone, ttl)
	s.waitUnlisted(alone)
	st.expect(registry.Delete, name, "1", "short")
}

// waitUnlisted polls ListServices until name is not in it.
func (s *suite) waitUnlisted(name string) {
	s.Helper()
	s.eventually("ListServices without "+name, 0, func() error {
		ss, err := s.r.ListServices(s.Context())
		if err != nil {
			return err
		}
		for _, svc := range ss {
			if svc != nil && svc.Name == name {
				return fmt.Errorf("still listed: %s", describe(svc))
			}
		}
		return nil
	})
}

func testTTLRefresh(s *suite) {
	ttl := s.o.ttl
	// Longer than anything this subtest waits for.
	long := max(time.Minute, 60*ttl, 4*(s.o.wait+ttl))
	name, canary := s.name("ttl-refresh"), s.name("ttl-canary")
	s.register(service(name, "1", node("longer", 1001, nil)), registry.RegisterTTL(ttl))
	s.register(service(name, "1", node("shorter", 1002, nil)), registry.RegisterTTL(long))
	s.register(service(name, "1", node("cleared", 1003, nil)), registry.RegisterTTL(ttl))
	s.register(service(name, "1", node("expires", 1004, nil)), registry.RegisterTTL(ttl))
	// Registering again replaces the TTL: with a longer one, with a
	// shorter one, and with none.
	s.register(service(name, "1", node("longer", 1001, nil)), registry.RegisterTTL(long))
	s.register(service(name, "1", node("shorter", 1002, nil)), registry.RegisterTTL(ttl))
	s.register(service(name, "1", node("cleared", 1003, nil)))
	// A canary registered with the short TTL after those changes: once it
	// is gone, the short TTL has passed since the changes, and the nodes
	// whose TTL was lengthened or cleared must still be there.
	s.register(service(canary, "1", node("c", 1005, nil)), registry.RegisterTTL(ttl))
	s.waitGone(canary, ttl)
	s.waitNodesFor(name, want{"1": {"longer", "cleared"}}, ttl)
}

func testWatchEvents(s *suite) {
	name := s.name("watch")
	st := s.watch(nil, name)

	svc := service(name, "1", node("a", 1001, map[string]string{"k": "1"}))
	svc.Metadata = map[string]string{"m": "1"}
	s.register(svc)
	ev := st.expect(registry.Create, name, "1", "a")
	if got, want := canonical(ev), canonical(svc); got != want {
		s.Errorf("Create carries\n%s\nwant\n%s", got, want)
	}

	// A registration that changes nothing (a heartbeat) yields no event:
	// the next one must be the Create of b.
	s.register(svc)
	b := service(name, "1", node("b", 1002, nil))
	b.Metadata = map[string]string{"m": "1"}
	s.register(b)
	ev = st.expect(registry.Create, name, "1", "b")
	if got := nodeAddr(ev, "b"); got != "127.0.0.1:1002" {
		s.Errorf("Create of b carries address %q", got)
	}

	// A node registered again with a new address is updated.
	moved := service(name, "1", node("a", 1003, map[string]string{"k": "1"}))
	moved.Metadata = map[string]string{"m": "1"}
	s.register(moved)
	ev = st.expect(registry.Update, name, "1", "a")
	if got := nodeAddr(ev, "a"); got != "127.0.0.1:1003" {
		s.Errorf("Update of a carries address %q, want 127.0.0.1:1003", got)
	}

	// New node metadata is an update.
	remd := service(name, "1", node("a", 1003, map[string]string{"k": "2"}))
	remd.Metadata = map[string]string{"m": "1"}
	s.register(remd)
	ev = st.expect(registry.Update, name, "1", "a")
	if got := ev.Nodes[0].Metadata["k"]; got != "2" {
		s.Errorf("Update of a carries node metadata k=%q, want 2", got)
	}

	// New service metadata is an update of the nodes registered with it.
	resvc := service(name, "1", node("a", 1003, map[string]string{"k": "2"}))
	resvc.Metadata = map[string]string{"m": "2"}
	s.register(resvc)
	ev = st.expect(registry.Update, name, "1", "a")
	if got := ev.Metadata["m"]; got != "2" {
		s.Errorf("Update carries service metadata m=%q, want 2", got)
	}

	s.deregister(service(name, "1", node("a", 1003, nil)))
	ev = st.expect(registry.Delete, name, "1", "a")
	s.deregister(service(name, "1", node("b", 1002, nil)))
	st.expect(registry.Delete, name, "1", "b")
	_ = ev

	// Another version is its own service: Create again, nothing stray
	// before it.
	s.register(service(name, "2", node("c", 1004, nil)))
	st.expect(registry.Create, name, "2", "c")
}

func testWatchTTLExpiry(s *suite) {
	ttl := s.o.ttl
	name := s.name("watch-ttl")
	st := s.watch([]registry.WatchOption{registry.WatchService(name)})
	s.register(service(name, "1", node("a", 1001, nil)), registry.RegisterTTL(ttl))
	st.expect(registry.Create, name, "1", "a")
	ev := st.expectFor(ttl, registry.Delete, name, "1", "a")
	if ev.Name != name {
		s.Errorf("Delete on expiry names service %q", ev.Name)
	}
	s.waitGone(name, 0)
}

func testWatchService(s *suite) {
	a, b := s.name("watch-a"), s.name("watch-b")
	onlyA := s.watch([]registry.WatchOption{registry.WatchService(a)})
	all := s.watch(nil, a, b)

	s.register(service(b, "1", node("b1", 1001, nil)))
	s.register(service(a, "1", node("a1", 1002, nil)))
	all.expect(registry.Create, b, "1", "b1")
	all.expect(registry.Create, a, "1", "a1")
	// Anything about b reaching onlyA fails expect.
	onlyA.expect(registry.Create, a, "1", "a1")

	s.deregister(service(b, "1", node("b1", 1001, nil)))
	s.deregister(service(a, "1", node("a1", 1002, nil)))
	all.expect(registry.Delete, b, "1", "b1")
	all.expect(registry.Delete, a, "1", "a1")
	onlyA.expect(registry.Delete, a, "1", "a1")

	// Names that are prefixes of one another are different services.
	short := s.name("greeter")
	long := short + ".v2"
	onlyShort := s.watch([]registry.WatchOption{registry.WatchService(short)})
	onlyLong := s.watch([]registry.WatchOption{registry.WatchService(long)})
	s.register(service(long, "1", node("l", 1003, nil)))
	s.register(service(short, "1", node("s", 1004, nil)))
	s.deregister(service(long, "1", node("l", 1003, nil)))
	s.deregister(service(short, "1", node("s", 1004, nil)))
	onlyShort.expect(registry.Create, short, "1", "s")
	onlyShort.expect(registry.Delete, short, "1", "s")
	onlyLong.expect(registry.Create, long, "1", "l")
	onlyLong.expect(registry.Delete, long, "1", "l")
	// The last change of each name, as a marker: nothing else came
	// before it.
	s.register(service(short, "1", node("end", 1005, nil)))
	s.register(service(long, "1", node("end", 1006, nil)))
	onlyShort.expect(registry.Create, short, "1", "end")
	onlyLong.expect(registry.Create, long, "1", "end")
}

// testWatchBacklog makes many changes while nobody reads the watcher; every
// one must then be read, in order.
func testWatchBacklog(s *suite) {
	const n = 100
	name := s.name("backlog")
	st := s.watch([]registry.WatchOption{registry.WatchService(name)})
	for i := range n {
		s.register(service(name, "1", node(fmt.Sprintf("n%03d", i), 1000+i, nil)))
	}
	for i := range n {
		s.deregister(service(name, "1", node(fmt.Sprintf("n%03d", i), 1000+i, nil)))
	}
	for i := range n {
		st.expect(registry.Create, name, "1", fmt.Sprintf("n%03d", i))
	}
	for i := range n {
		st.expect(registry.Delete, name, "1", fmt.Sprintf("n%03d", i))
	}
}

// nextWithin calls w.Next and fails the test when it does not return within
// the wait. (A Next that never returns leaks its goroutine, but the test has
// failed by then.)
func (s *suite) nextWithin(w registry.Watcher, what string) (*registry.Result, error) {
	s.Helper()
	type out struct {
		res *registry.Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := w.Next()
		ch <- out{res, err}
	}()
	timer := time.NewTimer(s.o.wait)
	defer timer.Stop()
	select {
	case o := <-ch:
		return o.res, o.err
	case <-timer.C:
		s.Fatalf("%s: Next did not return within %v", what, s.o.wait)
		return nil, nil
	}
}

func testWatchStop(s *suite) {
	// Stop unblocks a pending Next.
	w, err := s.r.Watch(s.Context())
	if err != nil {
		s.Fatalf("Watch: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next()
		errc <- err
	}()
	w.Stop()
	select {
	case err := <-errc:
		if !errors.Is(err, registry.ErrWatcherStopped) {
			s.Errorf("pending Next after Stop: err = %v, want registry.ErrWatcherStopped", err)
		}
	case <-time.After(s.o.wait):
		s.Fatalf("pending Next did not return within %v of Stop", s.o.wait)
	}

	// Stop is idempotent and Next keeps reporting the stop.
	w.Stop()
	if _, err := s.nextWithin(w, "Next after a second Stop"); !errors.Is(err, registry.ErrWatcherStopped) {
		s.Errorf("Next after a second Stop: err = %v, want registry.ErrWatcherStopped", err)
	}

	// A watcher stopped before any change reports the stop, not changes
	// made afterwards.
	name := s.name("watch-stop")
	w2, err := s.r.Watch(s.Context(), registry.WatchService(name))
	if err != nil {
		s.Fatalf("Watch: %v", err)
	}
	w2.Stop()
	s.register(service(name, "1", node("a", 1001, nil)))
	if res, err := s.nextWithin(w2, "Next after Stop"); !errors.Is(err, registry.ErrWatcherStopped) {
		s.Errorf("Next after Stop = %+v, %v; want registry.ErrWatcherStopped", res, err)
	}
}

func testWatchContext(s *suite) {
	name := s.name("watch-ctx")
	ctx, cancel := context.WithCancel(s.Context())
	defer cancel()
	w, err := s.r.Watch(ctx, registry.WatchService(name))
	if err != nil {
		s.Fatalf("Watch: %v", err)
	}
	defer w.Stop()

	s.register(service(name, "1", node("a", 1001, nil)))
	res, err := s.nextWithin(w, "Next before cancel")
	if err != nil || res == nil || res.Action != registry.Create {
		s.Fatalf("Next before cancel = %+v, %v; want a Create", res, err)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := w.Next()
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, registry.ErrWatcherStopped) {
			s.Errorf("Next after the watch context ended: err = %v, want registry.ErrWatcherStopped", err)
		}
	case <-time.After(s.o.wait):
		s.Fatalf("Next did not return within %v of the context ending", s.o.wait)
	}
	w.Stop() // still allowed
}

// mutate changes every part of svc that a shallow copy would share.
func mutate(svc *registry.Service) {
	svc.Name += "-mutated"
	svc.Version += "-mutated"
	svc.Metadata["team"] = "mutated"
	svc.Metadata["added"] = "mutated"
	for _, n := range svc.Nodes {
		n.Address = "mutated"
		if n.Metadata == nil {
			n.Metadata = map[string]string{}
		}
		n.Metadata["zone"] = "mutated"
	}
	svc.Nodes[0] = &registry.Node{Id: "replaced"}
	for _, e := range svc.Endpoints {
		e.Name = "mutated"
		e.Metadata["auth"] = "mutated"
		if e.Request != nil {
			e.Request.Name = "mutated"
			if len(e.Request.Values) > 0 {
				e.Request.Values[0].Name = "mutated"
				e.Request.Values[0].Values = append(e.Request.Values[0].Values, &registry.Value{Name: "extra"})
			}
		}
	}
	svc.Endpoints[0].Request = nil
}

func copyService(name string) *registry.Service {
	svc := service(name, "1",
		node("a", 1001, map[string]string{"zone": "z1"}),
		node("b", 1002, map[string]string{"zone": "z2"}))
	svc.Metadata = map[string]string{"team": "core"}
	svc.Endpoints = []*registry.Endpoint{{
		Name:     "Greeter.Hello",
		Metadata: map[string]string{"auth": "none"},
		Request: &registry.Value{Name: "req", Type: "Req", Values: []*registry.Value{
			{Name: "user", Type: "User", Values: []*registry.Value{{Name: "id", Type: "string"}}},
		}},
	}}
	return svc
}

func testCopySafety(s *suite) {
	name := s.name("copy")
	golden := canonical(copyService(name))
	w1 := s.watch([]registry.WatchOption{registry.WatchService(name)})
	w2 := s.watch([]registry.WatchOption{registry.WatchService(name)})

	// What was registered is not kept by reference.
	svc := copyService(name)
	if err := s.r.Register(s.Context(), svc); err != nil {
		s.Fatalf("Register: %v", err)
	}
	s.deregisterAtEnd(copyService(name))
	mutate(svc)

	check := func(when string) {
		s.Helper()
		ss := s.waitNodes(name, want{"1": {"a", "b"}})
		if got := canonical(ss[0]); got != golden {
			s.Errorf("%s: GetService returned\n%s\nwant\n%s", when, got, golden)
		}
	}
	check("after mutating the registered service")

	// What GetService returned is the caller's.
	ss, err := s.r.GetService(s.Context(), name)
	if err != nil {
		s.Fatalf("GetService: %v", err)
	}
	mutate(ss[0])
	check("after mutating GetService's result")

	// What ListServices returned is the caller's.
	all, err := s.r.ListServices(s.Context())
	if err != nil {
		s.Fatalf("ListServices: %v", err)
	}
	for _, svc := range all {
		if svc != nil && svc.Name == name && len(svc.Nodes) > 0 && len(svc.Endpoints) > 0 {
			mutate(svc)
		}
	}
	check("after mutating ListServices' result")

	// A watch result is its receiver's: another watcher sees the original.
	// Mutate the Result exactly as handed out, not a copy of it.
	for pending := map[string]bool{"a": true, "b": true}; len(pending) > 0; {
		raw := w1.next(0)
		if raw.Action != registry.Create || len(raw.Service.Nodes) == 0 || len(raw.Service.Endpoints) == 0 {
			s.Fatalf("first watcher: got %s %s, want the Create of a and b", raw.Action, describe(raw.Service))
		}
		for _, n := range raw.Service.Nodes {
			delete(pending, n.Id)
		}
		mutate(raw.Service)
	}
	ev2 := w2.expect(registry.Create, name, "1", "a", "b")
	if got := canonical(ev2); got != golden {
		s.Errorf("second watcher's Create after mutating the first's:\n%s\nwant\n%s", got, golden)
	}
	check("after mutating a watch result")
}

func testInvalidInput(s *suite) {
	name := s.name("invalid")
	st := s.watch([]registry.WatchOption{registry.WatchService(name)})
	s.register(service(name, "1", node("ok", 1001, nil)))
	st.expect(registry.Create, name, "1", "ok")

	// Each invalid service also carries node "ok" with another address, so
	// that a partly applied Register would update it and a partly applied
	// Deregister would delete it.
	moved := func() *registry.Node { return node("ok", 9999, nil) }
	loop := &registry.Value{Name: "loop", Type: "Loop"}
	loop.Values = []*registry.Value{{Name: "next", Type: "Loop", Values: []*registry.Value{loop}}}
	cyclic := service(name, "1", moved())
	cyclic.Endpoints = []*registry.Endpoint{{Name: "Loop.Call", Request: loop}}
	cases := []struct {
		what string
		svc  *registry.Service
	}{
		{"nil service", nil},
		{"empty name", service("", "1", moved())},
		{"no nodes", service(name, "1")},
		{"nil node", service(name, "1", moved(), nil)},
		{"empty node id", service(name, "1", moved(), node("", 1002, nil))},
		{"duplicate node id", service(name, "1", moved(), moved())},
		{"Value tree containing itself", cyclic},
	}
	for _, tc := range cases {
		if err := s.r.Register(s.Context(), tc.svc); !errors.Is(err, registry.ErrInvalidService) {
			s.Errorf("Register(%s): err = %v, want registry.ErrInvalidService", tc.what, err)
		}
		if err := s.r.Deregister(s.Context(), tc.svc); !errors.Is(err, registry.ErrInvalidService) {
			s.Errorf("Deregister(%s): err = %v, want registry.ErrInvalidService", tc.what, err)
		}
	}

	// Nothing changed: the next event is the sentinel's Create.
	s.register(service(name, "1", node("sentinel", 1003, nil)))
	st.expect(registry.Create, name, "1", "sentinel")
	ss := s.waitNodes(name, want{"1": {"ok", "sentinel"}})
	if got := findNode(ss, "1", "ok").Address; got != "127.0.0.1:1001" {
		s.Errorf("node ok address = %q after invalid calls, want 127.0.0.1:1001", got)
	}
}

func testCancelledContext(s *suite) {
	name := s.name("cancelled")
	st := s.watch([]registry.WatchOption{registry.WatchService(name)})
	s.register(service(name, "1", node("a", 1001, nil)))
	st.expect(registry.Create, name, "1", "a")

	ctx, cancel := context.WithCancel(s.Context())
	cancel()
	isCanceled := func(call string, err error) {
		s.Helper()
		if !errors.Is(err, context.Canceled) {
			s.Errorf("%s with a cancelled context: err = %v, want context.Canceled", call, err)
		}
	}
	isCanceled("Register", s.r.Register(ctx, service(name, "1", node("a", 9999, nil), node("b", 1002, nil))))
	isCanceled("Deregister", s.r.Deregister(ctx, service(name, "1", node("a", 1001, nil))))
	_, err := s.r.GetService(ctx, name)
	isCanceled("GetService", err)
	_, err = s.r.ListServices(ctx)
	isCanceled("ListServices", err)
	w, err := s.r.Watch(ctx)
	isCanceled("Watch", err)
	if w != nil {
		w.Stop()
	}

	s.register(service(name, "1", node("sentinel", 1003, nil)))
	st.expect(registry.Create, name, "1", "sentinel")
	ss := s.waitNodes(name, want{"1": {"a", "sentinel"}})
	if got := findNode(ss, "1", "a").Address; got != "127.0.0.1:1001" {
		s.Errorf("node a address = %q after a cancelled Register, want 127.0.0.1:1001", got)
	}
}

func testConcurrent(s *suite) {
	const goroutines, perGoroutine = 8, 8
	name := s.name("concurrent")
	st := s.watch([]registry.WatchOption{registry.WatchService(name)})

	all := service(name, "1")
	ids := make([]string, 0, goroutines*perGoroutine)
	for g := range goroutines {
		for i := range perGoroutine {
			id := fmt.Sprintf("n-%d-%d", g, i)
			ids = append(ids, id)
			all.Nodes = append(all.Nodes, node(id, 2000+g*perGoroutine+i, map[string]string{"g": fmt.Sprint(g)}))
		}
	}
	s.deregisterAtEnd(all)

	var wg sync.WaitGroup
	for g := range goroutines {
		mine := all.Nodes[g*perGoroutine : (g+1)*perGoroutine]
		wg.Go(func() {
			for _, n := range mine {
				svc := service(name, "1", registry.CopyNode(n))
				// Twice: the second registration is a heartbeat.
				for range 2 {
					if err := s.r.Register(s.Context(), svc); err != nil {
						s.Errorf("Register(%s): %v", describe(svc), err)
					}
				}
				if _, err := s.r.GetService(s.Context(), name); err != nil && !errors.Is(err, registry.ErrNotFound) {
					s.Errorf("GetService: %v", err)
				}
				if _, err := s.r.ListServices(s.Context()); err != nil {
					s.Errorf("ListServices: %v", err)
				}
			}
		})
	}
	// Watchers come and go meanwhile.
	for range 2 {
		wg.Go(func() {
			for range 10 {
				w, err := s.r.Watch(s.Context())
				if err != nil {
					s.Errorf("Watch: %v", err)
					return
				}
				w.Stop()
			}
		})
	}
	wg.Wait()

	st.expect(registry.Create, name, "1", ids...)
	s.waitNodes(name, want{"1": ids})

	for g := range goroutines {
		mine := all.Nodes[g*perGoroutine : (g+1)*perGoroutine]
		wg.Go(func() {
			for _, n := range mine {
				if err := s.r.Deregister(s.Context(), service(name, "1", n)); err != nil {
					s.Errorf("Deregister(%s): %v", n.Id, err)
				}
			}
		})
	}
	wg.Wait()
	st.expect(registry.Delete, name, "1", ids...)
	s.waitGone(name, 0)
}
