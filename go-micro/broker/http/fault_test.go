package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/cache"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
)

// counter is a handler that counts its messages by id header.
type counter struct {
	mu  sync.Mutex
	ids map[string]int
	n   atomic.Int64
}

func newCounter() *counter { return &counter{ids: make(map[string]int)} }

func (c *counter) handle(_ context.Context, e broker.Event) error {
	c.mu.Lock()
	c.ids[e.Message().Header["id"]]++
	c.mu.Unlock()
	c.n.Add(1)
	return nil
}

// dupes returns the ids c got more than once.
func (c *counter) dupes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id, k := range c.ids {
		if k != 1 {
			out = append(out, fmt.Sprintf("%s x%d", id, k))
		}
	}
	return out
}

func msg(id string) *broker.Message {
	return &broker.Message{Header: map[string]string{"id": id}, Body: []byte(id)}
}

// doomed returns a connected broker whose process is made to "die" by
// kill: its HTTP server closes abruptly, every connection with it, while
// the registry still lists its subscribers.
func doomed(t *testing.T, reg registry.Registry) (b *httpBroker, kill func()) {
	t.Helper()
	b = newTest(t, reg, defaultConfig())
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Disconnect(ctx) // the server is gone: Shutdown may complain
		select {
		case <-b.last.stopped:
		case <-ctx.Done():
			t.Error("killed broker's goroutines did not end")
		}
	})
	s := b.sess
	return b, func() {
		if err := s.srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// sees waits until pub's cache lists n subscribers of topic.
func sees(t *testing.T, pub *httpBroker, topic string, n int) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("publisher to see %d subscribers of %s", n, topic), func() bool {
		ss, err := pub.sess.cache.GetService(t.Context(), ServicePrefix+topic)
		k := 0
		for _, s := range ss {
			k += len(s.Nodes)
		}
		return err == nil && k == n
	})
}

func TestDeadQueueMemberFailsOver(t *testing.T) {
	reg := memory.New()
	pub := connected(t, reg, defaultConfig())
	dead, kill := doomed(t, reg)
	live := connected(t, reg, defaultConfig())
	dc, lc := newCounter(), newCounter()
	if _, err := dead.Subscribe(t.Context(), "t", dc.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Subscribe(t.Context(), "t", lc.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	sees(t, pub, "t", 2)
	// Until the doomed member has taken a message the publisher may hold
	// no connection to it; afterwards it holds a kept-alive one that the
	// kill breaks.
	for i := 0; dc.n.Load() == 0; i++ {
		if err := pub.Publish(t.Context(), "t", msg(fmt.Sprint("warm-", i))); err != nil {
			t.Fatal(err)
		}
	}
	kill()
	before, deadBefore := lc.n.Load(), dc.n.Load()
	const n = 50
	for i := range n {
		if err := pub.Publish(t.Context(), "t", msg(fmt.Sprint("m-", i))); err != nil {
			t.Fatalf("Publish %d with a dead group member: %v", i, err)
		}
		if got := lc.n.Load() - before; got != int64(i+1) {
			t.Fatalf("after %d publishes the live member has %d messages", i+1, got)
		}
	}
	if dc.n.Load() != deadBefore {
		t.Errorf("dead member handled %d messages after it died", dc.n.Load()-deadBefore)
	}
	if d := lc.dupes(); len(d) > 0 {
		t.Errorf("live member got duplicates: %v", d)
	}
}

func TestDeadPlainSubscriberReportedOthersServed(t *testing.T) {
	reg := memory.New()
	pub := connected(t, reg, defaultConfig())
	dead, kill := doomed(t, reg)
	b1, b2 := connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig())
	dc, c1, c2, qc := newCounter(), newCounter(), newCounter(), newCounter()
	if _, err := dead.Subscribe(t.Context(), "t", dc.handle); err != nil {
		t.Fatal(err)
	}
	deadID := nodes(t, reg, "t")[0].Id
	for _, s := range []struct {
		b    *httpBroker
		c    *counter
		opts []broker.SubscribeOption
	}{{b1, c1, nil}, {b2, c2, nil}, {b2, qc, []broker.SubscribeOption{broker.Queue("g")}}} {
		if _, err := s.b.Subscribe(t.Context(), "t", s.c.handle, s.opts...); err != nil {
			t.Fatal(err)
		}
	}
	sees(t, pub, "t", 4)
	if err := pub.Publish(t.Context(), "t", msg("warm")); err != nil {
		t.Fatal(err)
	}
	kill()
	const n = 10
	for i := range n {
		err := pub.Publish(t.Context(), "t", msg(fmt.Sprint("m-", i)))
		var de *DeliveryError
		if !errors.As(err, &de) || de.Subscriber != deadID || de.Queue != "" {
			t.Fatalf("Publish %d: %v; want a DeliveryError naming %s", i, err, deadID)
		}
		if !strings.Contains(err.Error(), deadID) {
			t.Fatalf("Publish %d: error %q does not name the dead subscriber", i, err)
		}
		if joined, ok := errors.Unwrap(err).(interface{ Unwrap() []error }); !ok || len(joined.Unwrap()) != 1 {
			t.Fatalf("Publish %d: %v; want exactly one delivery error", i, err)
		}
	}
	for name, c := range map[string]*counter{"plain 1": c1, "plain 2": c2, "queue": qc} {
		if got := c.n.Load(); got != n+1 {
			t.Errorf("%s subscriber got %d messages, want %d", name, got, n+1)
		}
		if d := c.dupes(); len(d) > 0 {
			t.Errorf("%s subscriber got duplicates: %v", name, d)
		}
	}
	if dc.n.Load() != 1 {
		t.Errorf("dead subscriber handled %d messages, want only the one before it died", dc.n.Load())
	}
}

var errUnreachable = errors.New("test: registry unreachable")

// switchable wraps a registry that can be made unreachable: then every
// call fails and running watches end.
type switchable struct {
	registry.Registry
	down     atomic.Bool
	failures atomic.Int64 // calls refused while down

	mu       sync.Mutex
	watchers map[*switchWatcher]struct{}
}

func newSwitchable(r registry.Registry) *switchable {
	return &switchable{Registry: r, watchers: make(map[*switchWatcher]struct{})}
}

func (s *switchable) setDown(down bool) {
	s.down.Store(down)
	if !down {
		return
	}
	s.mu.Lock()
	var ws []*switchWatcher
	for w := range s.watchers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
}

func (s *switchable) refuse() error {
	if s.down.Load() {
		s.failures.Add(1)
		return errUnreachable
	}
	return nil
}

func (s *switchable) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	if err := s.refuse(); err != nil {
		return err
	}
	return s.Registry.Register(ctx, svc, opts...)
}

func (s *switchable) Deregister(ctx context.Context, svc *registry.Service, opts ...registry.DeregisterOption) error {
	if err := s.refuse(); err != nil {
		return err
	}
	return s.Registry.Deregister(ctx, svc, opts...)
}

func (s *switchable) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if err := s.refuse(); err != nil {
		return nil, err
	}
	return s.Registry.GetService(ctx, name, opts...)
}

func (s *switchable) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := s.refuse(); err != nil {
		return nil, err
	}
	inner, err := s.Registry.Watch(ctx, opts...)
	if err != nil {
		return nil, err
	}
	w := &switchWatcher{s: s, inner: inner}
	s.mu.Lock()
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	return w, nil
}

type switchWatcher struct {
	s     *switchable
	inner registry.Watcher
}

func (w *switchWatcher) Next() (*registry.Result, error) { return w.inner.Next() }

func (w *switchWatcher) Stop() {
	w.inner.Stop()
	w.s.mu.Lock()
	delete(w.s.watchers, w)
	w.s.mu.Unlock()
}

func TestPublishWithRegistryUnreachable(t *testing.T) {
	mem := memory.New()
	reg := newSwitchable(mem)
	pub := newTest(t, reg, defaultConfig())
	// A TTL this short makes every Publish ask the registry again.
	pub.cacheOpts = []cache.Option{cache.TTL(time.Nanosecond), cache.Backoff(time.Millisecond, 2*time.Millisecond)}
	if err := pub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Disconnect(context.Background()) })
	sb := connected(t, mem, defaultConfig())
	plain, group := newCounter(), newCounter()
	if _, err := sb.Subscribe(t.Context(), "t", plain.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Subscribe(t.Context(), "t", group.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), "t", msg("first")); err != nil {
		t.Fatal(err)
	}
	if plain.n.Load() != 1 || group.n.Load() != 1 {
		t.Fatalf("first publish: plain %d, group %d", plain.n.Load(), group.n.Load())
	}
	reg.setDown(true)
	t.Cleanup(func() { reg.setDown(false) })
	const n = 30
	for i := range n {
		if err := pub.Publish(t.Context(), "t", msg(fmt.Sprint("m-", i))); err != nil {
			t.Fatalf("Publish %d with the registry unreachable: %v", i, err)
		}
	}
	if plain.n.Load() != n+1 || group.n.Load() != n+1 {
		t.Errorf("plain got %d, group got %d; want %d each", plain.n.Load(), group.n.Load(), n+1)
	}
	// The cache serves its last answer at once and asks the registry in
	// the background: that ask must come, or the test proves nothing.
	testenv.WaitFor(t, "the publisher's cache to ask the unreachable registry", func() bool { return reg.failures.Load() > 0 })
	// A topic the cache never saw has no last known nodes: that fails.
	if err := pub.Publish(t.Context(), "other", msg("x")); !errors.Is(err, errUnreachable) {
		t.Errorf("Publish to an unknown topic with the registry unreachable: %v", err)
	}
	// Disconnect cannot deregister (nothing is registered through reg) but
	// must still return.
	reg.setDown(false)
}

func TestDisconnectWithBlockedHandler(t *testing.T) {
	reg := memory.New()
	pub := connected(t, reg, defaultConfig())
	// Let the publisher's cache start its watch of the topic now, so that
	// it is not counted as a leak below.
	if err := pub.Publish(t.Context(), "t", msg("nobody")); err != nil {
		t.Fatal(err)
	}
	// Everything started from here on must be gone at the end.
	opt := goleak.IgnoreCurrent()

	sb := newTest(t, reg, defaultConfig())
	if err := sb.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	handlerCtxErr := make(chan error, 1)
	if _, err := sb.Subscribe(t.Context(), "t", func(ctx context.Context, _ broker.Event) error {
		close(entered)
		<-release // ignores its context
		handlerCtxErr <- ctx.Err()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sees(t, pub, "t", 1)
	published := make(chan error, 1)
	go func() { published <- pub.Publish(t.Context(), "t", msg("x")) }()
	testenv.Wait(t, "handler to start", entered)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := sb.Disconnect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Disconnect with a blocked handler: %v, want a deadline error", err)
	}
	if ns := nodes(t, reg, "t"); len(ns) != 0 {
		t.Errorf("subscriber still registered after Disconnect: %+v", ns)
	}
	close(release)
	if err := testenv.Recv(t, "handler to return", handlerCtxErr); err == nil {
		t.Error("handler's context did not end on Disconnect")
	}
	if err := testenv.Recv(t, "Publish to return", published); err != nil {
		t.Errorf("Publish whose handler finished after Disconnect: %v", err)
	}
	// A second Disconnect waits for what is left, which now ends.
	if err := sb.Disconnect(t.Context()); err != nil {
		t.Fatalf("second Disconnect: %v", err)
	}
	pub.tr.CloseIdleConnections()
	goleak.VerifyNone(t, opt)
}

func TestHandlerPanicKeepsServing(t *testing.T) {
	reg := memory.New()
	b := connected(t, reg, defaultConfig())
	var calls atomic.Int64
	if _, err := b.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other := newCounter()
	if _, err := b.Subscribe(t.Context(), "u", other.handle); err != nil {
		t.Fatal(err)
	}
	id := nodes(t, reg, "t")[0].Id
	// Raw: the publisher is told 500 with an errors.Error body.
	body, _ := encode("t", nil, []byte("x"))
	rsp, err := nethttp.Post("http://"+b.Address()+Path+id, ContentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	nethttp.DefaultClient.CloseIdleConnections()
	if e := merrors.Parse(string(data)); rsp.StatusCode != 500 || e.Code != 500 || !strings.Contains(e.Detail, "panicked") {
		t.Fatalf("panicking handler answered %d %s", rsp.StatusCode, data)
	}
	// The broker keeps serving: the same subscriber and another one.
	for range 3 {
		if err := b.Publish(t.Context(), "t", msg("again")); err != nil {
			t.Fatalf("Publish after a panic: %v", err)
		}
	}
	if err := b.Publish(t.Context(), "u", msg("u")); err != nil || other.n.Load() != 1 {
		t.Fatalf("Publish to another subscriber after a panic: %v (got %d)", err, other.n.Load())
	}
	if calls.Load() != 4 {
		t.Errorf("panicking subscriber called %d times, want 4", calls.Load())
	}
}

func TestMaxSizeBoundary(t *testing.T) {
	reg := memory.New()
	c := defaultConfig()
	c.maxSize = 256
	b := connected(t, reg, c)
	got := newCounter()
	if _, err := b.Subscribe(t.Context(), "t", got.handle); err != nil {
		t.Fatal(err)
	}
	head, _ := encode("t", nil, nil)
	fits := make([]byte, c.maxSize-len(head))
	if err := b.Publish(t.Context(), "t", &broker.Message{Body: fits}); err != nil {
		t.Fatalf("Publish of exactly the maximum size: %v", err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{Body: append(fits, 0)}); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Publish of one byte over: %v, want ErrMessageTooLarge", err)
	}
	if got.n.Load() != 1 {
		t.Errorf("delivered %d messages, want 1", got.n.Load())
	}
}

func TestConcurrentPublishersExactCounts(t *testing.T) {
	reg := memory.New()
	pubs := []*httpBroker{connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig())}
	members := []*counter{newCounter(), newCounter(), newCounter()}
	plains := []*counter{newCounter(), newCounter()}
	for i, m := range members {
		b := connected(t, reg, defaultConfig())
		if _, err := b.Subscribe(t.Context(), "load", m.handle, broker.Queue("workers")); err != nil {
			t.Fatal(err)
		}
		if i < len(plains) {
			if _, err := b.Subscribe(t.Context(), "load", plains[i].handle); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range pubs {
		sees(t, p, "load", 5)
	}
	const publishers, each = 20, 200
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			pub := pubs[p%len(pubs)]
			for i := range each {
				if err := pub.Publish(t.Context(), "load", msg(fmt.Sprintf("%d-%d", p, i))); err != nil {
					t.Errorf("publisher %d message %d: %v", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	const total = publishers * each
	var group int64
	seen := make(map[string]int)
	for _, m := range members {
		group += m.n.Load()
		m.mu.Lock()
		for id, k := range m.ids {
			seen[id] += k
		}
		m.mu.Unlock()
	}
	if group != total || len(seen) != total {
		t.Errorf("queue group handled %d messages (%d distinct), want %d", group, len(seen), total)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("queue group handled %s %d times", id, k)
		}
	}
	for i, p := range plains {
		if got := p.n.Load(); got != total {
			t.Errorf("plain subscriber %d got %d messages, want %d", i, got, total)
		}
		if d := p.dupes(); len(d) > 0 {
			t.Errorf("plain subscriber %d got duplicates: %v", i, d[:min(len(d), 5)])
		}
	}
	for i, m := range members {
		if m.n.Load() == 0 {
			t.Errorf("queue member %d got nothing: the group does not spread", i)
		}
	}
}

// A service may start before its registry: Subscribe succeeds while the
// registry cannot be reached, and the subscriber is registered, and found
// by publishers, once the registry answers.
func TestSubscribeWithRegistryUnreachable(t *testing.T) {
	mem := memory.New()
	reg := newSwitchable(mem)
	reg.setDown(true)
	sb := connected(t, reg, defaultConfig())
	c := newCounter()
	sub, err := sb.Subscribe(t.Context(), "late", c.handle)
	if err != nil {
		t.Fatalf("Subscribe with the registry unreachable: %v", err)
	}
	if reg.failures.Load() == 0 {
		t.Fatal("Subscribe never asked the unreachable registry: the test proves nothing")
	}
	if ss, _ := mem.GetService(t.Context(), ServicePrefix+"late"); len(ss) != 0 {
		t.Fatalf("registered while the registry was down: %+v", ss)
	}
	reg.setDown(false)
	// The heartbeat retries within about a second, far sooner than the
	// 30s interval.
	testenv.WaitFor(t, "the subscriber registered after the registry came back", func() bool {
		ss, _ := mem.GetService(t.Context(), ServicePrefix+"late")
		return len(ss) == 1 && len(ss[0].Nodes) == 1
	})
	pub := connected(t, mem, defaultConfig())
	if err := pub.Publish(t.Context(), "late", msg("hello")); err != nil {
		t.Fatal(err)
	}
	if c.n.Load() != 1 {
		t.Errorf("subscriber got %d messages, want 1", c.n.Load())
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A Subscribe whose ctx ends before registration subscribes nothing.
func TestSubscribeCancelled(t *testing.T) {
	reg := newSwitchable(memory.New())
	reg.setDown(true)
	sb := connected(t, reg, defaultConfig())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sb.Subscribe(ctx, "gone", newCounter().handle); err == nil {
		t.Fatal("Subscribe with an ended ctx succeeded")
	}
	if n := len(sb.sessionSubs()); n != 0 {
		t.Errorf("%d subscribers kept after a cancelled Subscribe", n)
	}
}

// sessionSubs returns the subscribers of b's current session.
func (b *httpBroker) sessionSubs() []*subscriber {
	s, err := b.session()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var subs []*subscriber
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	return subs
}
