package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
)

// ProbeHeader marks the probe messages the suite publishes to find out that
// a subscription has taken effect.
const ProbeHeader = "Brokertest-Probe"

// NewBroker returns a new, unconnected broker. All the brokers it returns
// during one call of [Run] must share one bus. It may register cleanups on
// t; the suite disconnects every broker it gets before those run.
type NewBroker func(t *testing.T) broker.Broker

// Option tunes the suite.
type Option func(*config)

type config struct {
	timeout time.Duration
}

// Timeout bounds every wait of the suite, such as for a subscription to
// take effect or for all messages to arrive. Default: 10s.
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// Run runs the conformance suite against the brokers newBroker returns.
func Run(t *testing.T, newBroker NewBroker, opts ...Option) {
	t.Helper()
	c := config{timeout: 10 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"PubSub", testPubSub},
		{"FanOut", testFanOut},
		{"QueueGroups", testQueueGroups},
		{"PlainAndQueue", testPlainAndQueue},
		{"Unsubscribe", testUnsubscribe},
		{"QueueMemberUnsubscribe", testQueueMemberUnsubscribe},
		{"ManualAck", testManualAck},
		{"HandlerError", testHandlerError},
		{"NotConnected", testNotConnected},
		{"InvalidTopic", testInvalidTopic},
		{"Disconnect", testDisconnect},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"TopicIsolation", testTopicIsolation},
		{"MessagesAreCopies", testMessagesAreCopies},
		{"PublishFromHandler", testPublishFromHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, &suite{newBroker: newBroker, cfg: c})
		})
	}
}

type suite struct {
	newBroker NewBroker
	cfg       config
}

// connected returns a new broker, connected, disconnected at cleanup.
func (s *suite) connected(t *testing.T) broker.Broker {
	t.Helper()
	b := s.newBroker(t)
	if b == nil {
		t.Fatal("NewBroker returned nil")
	}
	if err := b.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
		defer cancel()
		if err := b.Disconnect(ctx); err != nil {
			t.Errorf("Disconnect at cleanup: %v", err)
		}
	})
	return b
}

// subscribe subscribes h and fails the test on error.
func subscribe(t *testing.T, b broker.Broker, topic string, h broker.Handler, opts ...broker.SubscribeOption) broker.Subscriber {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, h, opts...)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	return sub
}

// topic returns a topic name unique to this run of the subtest.
func topic(t *testing.T, suffix string) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '_'
	}, t.Name())
	return "brokertest." + name + "." + rand.Text()[:10] + suffix
}

// waitFor polls cond until it holds or the suite's timeout passes.
func (s *suite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(s.cfg.timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", s.cfg.timeout, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		}
	}
}

var probeSeq atomic.Int64

// sync publishes probes on topic through pub until every collector has seen
// a probe published by this call: the subscriptions behind them have taken
// effect and, as far as a broker orders anything, what was published before
// has arrived.
func (s *suite) sync(t *testing.T, pub broker.Broker, topic string, cs ...*collector) {
	t.Helper()
	first := probeSeq.Add(1)
	deadline := time.Now().Add(s.cfg.timeout)
	var lastErr error
	for {
		seq := probeSeq.Add(1)
		err := pub.Publish(t.Context(), topic, &broker.Message{
			Header: map[string]string{ProbeHeader: strconv.FormatInt(seq, 10)},
		})
		if err != nil {
			lastErr = err
		}
		// Give this probe a while before sending the next.
		until := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(until) {
			ready := true
			for _, c := range cs {
				if c.lastProbe() <= first {
					ready = false
					break
				}
			}
			if ready {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for probes on %q to arrive (last publish error: %v)",
					s.cfg.timeout, topic, lastErr)
			}
			select {
			case <-time.After(2 * time.Millisecond):
			case <-t.Context().Done():
				t.Fatal("test ended waiting for probes")
			}
		}
	}
}

// received is one non-probe message a collector got.
type received struct {
	topic string
	msg   *broker.Message
}

// collector records what its handlers receive. One collector may serve
// several subscribers, such as the members of a queue group.
type collector struct {
	fail error // returned by the handler when set

	mu    sync.Mutex
	msgs  []received
	probe int64 // highest probe sequence seen
	calls int   // handler calls, probes included
}

func (c *collector) handle(_ context.Context, e broker.Event) error {
	m := e.Message()
	c.mu.Lock()
	c.calls++
	if p, ok := m.Header[ProbeHeader]; ok {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil && n > c.probe {
			c.probe = n
		}
	} else {
		c.msgs = append(c.msgs, received{topic: e.Topic(), msg: &broker.Message{
			Header: maps.Clone(m.Header),
			Body:   bytes.Clone(m.Body),
		}})
	}
	c.mu.Unlock()
	return c.fail
}

func (c *collector) lastProbe() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.probe
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) snapshot() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// ids returns how often each value of the "Id" header arrived.
func (c *collector) ids() map[string]int {
	ids := make(map[string]int)
	for _, r := range c.snapshot() {
		ids[r.msg.Header["Id"]]++
	}
	return ids
}

// publishN publishes n messages with ids prefix0..prefix(n-1).
func publishN(t *testing.T, pub broker.Broker, topic, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := prefix + strconv.Itoa(i)
		if err := pub.Publish(t.Context(), topic, &broker.Message{
			Header: map[string]string{"Id": id},
			Body:   []byte("body " + id),
		}); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
}

// expectExactly checks that c got each of prefix0..prefix(n-1) once and
// nothing else.
func expectExactly(t *testing.T, name string, c *collector, prefix string, n int) {
	t.Helper()
	ids := c.ids()
	for i := range n {
		id := prefix + strconv.Itoa(i)
		if ids[id] != 1 {
			t.Errorf("%s: message %s arrived %d times, want 1", name, id, ids[id])
		}
		delete(ids, id)
	}
	for id, k := range ids {
		t.Errorf("%s: unexpected message %q arrived %d times", name, id, k)
	}
	for _, r := range c.snapshot() {
		if want := "body " + r.msg.Header["Id"]; string(r.msg.Body) != want {
			t.Errorf("%s: body %q, want %q", name, r.msg.Body, want)
		}
	}
}

func testPubSub(t *testing.T, s *suite) {
	pub, sb := s.connected(t), s.connected(t)
	tp := topic(t, "")
	c := &collector{}
	sub := subscribe(t, sb, tp, c.handle)
	if sub.Topic() != tp || sub.Queue() != "" {
		t.Errorf("subscriber Topic, Queue = %q, %q; want %q, \"\"", sub.Topic(), sub.Queue(), tp)
	}
	s.sync(t, pub, tp, c)

	want := []*broker.Message{
		{
			Header: map[string]string{"Id": "0", "Content-Type": "application/octet-stream", "lower-case-key": "Mixed Value", "Empty": ""},
			Body:   []byte{0, 1, 2, 0xff, 0xfe, '\n', 'x'},
		},
		{Header: map[string]string{"Id": "1"}},
		{Header: map[string]string{"Id": "2"}, Body: bytes.Repeat([]byte("0123456789abcdef"), 4096)},
	}
	for _, m := range want {
		if err := pub.Publish(t.Context(), tp, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	s.waitFor(t, "3 messages", func() bool { return c.count() >= len(want) })
	got := c.snapshot()
	byID := make(map[string]received)
	for _, r := range got {
		byID[r.msg.Header["Id"]] = r
	}
	for _, w := range want {
		id := w.Header["Id"]
		r, ok := byID[id]
		if !ok {
			t.Errorf("message %s missing", id)
			continue
		}
		if r.topic != tp {
			t.Errorf("message %s: Event.Topic() = %q, want %q", id, r.topic, tp)
		}
		for k, v := range w.Header {
			if gv, ok := r.msg.Header[k]; !ok || gv != v {
				t.Errorf("message %s: header %q = %q (present %v), want %q", id, k, gv, ok, v)
			}
		}
		if !bytes.Equal(r.msg.Body, w.Body) {
			t.Errorf("message %s: body of %d bytes differs from the %d published", id, len(r.msg.Body), len(w.Body))
		}
	}
}

func testFanOut(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	tp := topic(t, "")
	cs := []*collector{{}, {}, {}}
	subscribe(t, b1, tp, cs[0].handle)
	subscribe(t, b2, tp, cs[1].handle)
	subscribe(t, pub, tp, cs[2].handle)
	s.sync(t, pub, tp, cs...)
	const n = 20
	publishN(t, pub, tp, "m", n)
	for i, c := range cs {
		s.waitFor(t, fmt.Sprintf("subscriber %d to get %d messages", i, n), func() bool { return c.count() >= n })
	}
	s.sync(t, pub, tp, cs...)
	for i, c := range cs {
		expectExactly(t, fmt.Sprintf("subscriber %d", i), c, "m", n)
	}
}

func testQueueGroups(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	tp := topic(t, "")
	ga, gb := &collector{}, &collector{}
	for _, g := range []struct {
		name string
		c    *collector
	}{{"group-a", ga}, {"group-b", gb}} {
		for _, b := range []broker.Broker{b1, b2} {
			sub := subscribe(t, b, tp, g.c.handle, broker.Queue(g.name))
			if sub.Queue() != g.name {
				t.Errorf("Queue() = %q, want %q", sub.Queue(), g.name)
			}
		}
	}
	s.sync(t, pub, tp, ga, gb)
	const n = 50
	publishN(t, pub, tp, "q", n)
	s.waitFor(t, "both groups to get every message", func() bool { return ga.count() >= n && gb.count() >= n })
	s.sync(t, pub, tp, ga, gb)
	expectExactly(t, "group-a", ga, "q", n)
	expectExactly(t, "group-b", gb, "q", n)
}

func testPlainAndQueue(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	tp := topic(t, "")
	plain, group := &collector{}, &collector{}
	subscribe(t, b1, tp, plain.handle)
	subscribe(t, b1, tp, group.handle, broker.Queue("workers"))
	subscribe(t, b2, tp, group.handle, broker.Queue("workers"))
	s.sync(t, pub, tp, plain, group)
	const n = 30
	publishN(t, pub, tp, "p", n)
	s.waitFor(t, "plain and group to get every message", func() bool { return plain.count() >= n && group.count() >= n })
	s.sync(t, pub, tp, plain, group)
	expectExactly(t, "plain subscriber", plain, "p", n)
	expectExactly(t, "queue group", group, "p", n)
}

func testUnsubscribe(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	tp := topic(t, "")
	gone, witness := &collector{}, &collector{}
	sub := subscribe(t, b1, tp, gone.handle)
	subscribe(t, b2, tp, witness.handle)
	s.sync(t, pub, tp, gone, witness)
	for i := range 2 { // idempotent
		if err := sub.Unsubscribe(t.Context()); err != nil {
			t.Fatalf("Unsubscribe #%d: %v", i+1, err)
		}
	}
	const n = 10
	publishN(t, pub, tp, "u", n)
	s.waitFor(t, "witness to get every message", func() bool { return witness.count() >= n })
	s.sync(t, pub, tp, witness)
	expectExactly(t, "witness", witness, "u", n)
	if k := gone.count(); k != 0 {
		t.Errorf("unsubscribed handler got %d messages published after Unsubscribe", k)
	}
}

func testQueueMemberUnsubscribe(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	tp := topic(t, "")
	leaving, staying := &collector{}, &collector{}
	sub := subscribe(t, b1, tp, leaving.handle, broker.Queue("g"))
	subscribe(t, b2, tp, staying.handle, broker.Queue("g"))
	// Both members are in the group once each has seen a probe.
	s.sync(t, pub, tp, leaving)
	s.sync(t, pub, tp, staying)
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	const n = 20
	publishN(t, pub, tp, "g", n)
	s.waitFor(t, "remaining member to get every message", func() bool { return staying.count() >= n })
	s.sync(t, pub, tp, staying)
	expectExactly(t, "remaining member", staying, "g", n)
	if k := leaving.count(); k != 0 {
		t.Errorf("unsubscribed member got %d messages", k)
	}
}

func testManualAck(t *testing.T, s *suite) {
	pub, sb := s.connected(t), s.connected(t)
	tp := topic(t, "")
	c := &collector{}
	var ackErrs atomic.Int64
	h := func(ctx context.Context, e broker.Event) error {
		if err := c.handle(ctx, e); err != nil {
			return err
		}
		for range 2 { // the second Ack does nothing
			if err := e.Ack(); err != nil {
				ackErrs.Add(1)
			}
		}
		return nil
	}
	subscribe(t, sb, tp, h, broker.DisableAutoAck())
	s.sync(t, pub, tp, c)
	const n = 5
	publishN(t, pub, tp, "a", n)
	s.waitFor(t, "acked messages", func() bool { return c.count() >= n })
	s.sync(t, pub, tp, c)
	expectExactly(t, "manual-ack subscriber", c, "a", n)
	if k := ackErrs.Load(); k != 0 {
		t.Errorf("Ack returned an error %d times", k)
	}
}

func testHandlerError(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	tp := topic(t, "")
	failing := &collector{fail: errors.New("brokertest: handler fails on purpose")}
	good := &collector{}
	subscribe(t, b1, tp, failing.handle)
	subscribe(t, b2, tp, good.handle)
	s.sync(t, pub, tp, failing, good)
	const n = 5
	for i := range n {
		id := "e" + strconv.Itoa(i)
		// Publish may report the failing handler; it must not block.
		_ = pub.Publish(t.Context(), tp, &broker.Message{Header: map[string]string{"Id": id}, Body: []byte("body " + id)})
	}
	s.waitFor(t, "good subscriber to get every message", func() bool { return good.count() >= n })
	s.sync(t, pub, tp, good)
	expectExactly(t, "good subscriber", good, "e", n)
	s.waitFor(t, "failing handler to see every message", func() bool { return len(failing.ids()) >= n })
	for id, k := range failing.ids() {
		if !strings.HasPrefix(id, "e") || k < 1 {
			t.Errorf("failing handler: message %q seen %d times", id, k)
		}
	}
}

func testNotConnected(t *testing.T, s *suite) {
	check := func(t *testing.T, b broker.Broker, when string) {
		t.Helper()
		tp := topic(t, "")
		if err := b.Publish(t.Context(), tp, &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
			t.Errorf("Publish %s: %v, want ErrNotConnected", when, err)
		}
		sub, err := b.Subscribe(t.Context(), tp, (&collector{}).handle)
		if !errors.Is(err, broker.ErrNotConnected) {
			t.Errorf("Subscribe %s: %v, want ErrNotConnected", when, err)
		}
		if sub != nil {
			_ = sub.Unsubscribe(t.Context())
		}
	}
	b := s.newBroker(t)
	check(t, b, "before Connect")
	if err := b.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := b.Disconnect(t.Context()); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	check(t, b, "after Disconnect")
}

func testInvalidTopic(t *testing.T, s *suite) {
	b := s.connected(t)
	if err := b.Publish(t.Context(), "", &broker.Message{}); !errors.Is(err, broker.ErrInvalidTopic) {
		t.Errorf("Publish to empty topic: %v, want ErrInvalidTopic", err)
	}
	sub, err := b.Subscribe(t.Context(), "", (&collector{}).handle)
	if !errors.Is(err, broker.ErrInvalidTopic) {
		t.Errorf("Subscribe to empty topic: %v, want ErrInvalidTopic", err)
	}
	if sub != nil {
		_ = sub.Unsubscribe(t.Context())
	}
}

func testDisconnect(t *testing.T, s *suite) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()

	idle := s.newBroker(t)
	if err := idle.Disconnect(ctx); err != nil {
		t.Errorf("Disconnect of a broker never connected: %v", err)
	}

	pub := s.connected(t)
	b := s.newBroker(t)
	for i := range 2 {
		if err := b.Connect(t.Context()); err != nil {
			t.Fatalf("Connect #%d: %v", i+1, err)
		}
	}
	tp := topic(t, "")
	probes := &collector{}
	entered := make(chan struct{})
	left := make(chan error, 1)
	var once sync.Once
	h := func(hctx context.Context, e broker.Event) error {
		if _, ok := e.Message().Header[ProbeHeader]; ok {
			return probes.handle(hctx, e)
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		close(entered)
		<-hctx.Done() // ends on Disconnect
		left <- hctx.Err()
		return hctx.Err()
	}
	subscribe(t, b, tp, h)
	s.sync(t, pub, tp, probes)

	published := make(chan error, 1)
	go func() { // Publish may wait for the handler (synchronous brokers)
		published <- pub.Publish(ctx, tp, &broker.Message{Header: map[string]string{"Id": "block"}})
	}()
	select {
	case <-entered:
	case <-time.After(s.cfg.timeout):
		t.Fatal("handler never ran")
	}
	if err := b.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect with a handler running: %v", err)
	}
	select {
	case err := <-left:
		if err == nil {
			t.Error("handler context ended without an error")
		}
	default:
		t.Error("Disconnect returned before the running handler did")
	}
	if err := b.Disconnect(ctx); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
	select {
	case <-published: // an error is fine: the subscriber went away
	case <-time.After(s.cfg.timeout):
		t.Fatal("Publish still blocked after the subscriber's broker disconnected")
	}
	if err := b.Publish(ctx, tp, &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Publish after Disconnect: %v, want ErrNotConnected", err)
	}
}

func testConcurrentPublishers(t *testing.T, s *suite) {
	const publishers, each = 8, 200
	pubs := []broker.Broker{s.connected(t), s.connected(t)}
	sb := s.connected(t)
	tp := topic(t, "")
	c := &collector{}
	subscribe(t, sb, tp, c.handle)
	s.sync(t, pubs[0], tp, c)
	s.sync(t, pubs[1], tp, c)

	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			pub := pubs[p%len(pubs)]
			for i := range each {
				id := fmt.Sprintf("c%d-%d", p, i)
				if err := pub.Publish(t.Context(), tp, &broker.Message{
					Header: map[string]string{"Id": id},
					Body:   []byte("body " + id),
				}); err != nil {
					errs <- fmt.Errorf("publisher %d, message %d: %w", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	s.waitFor(t, fmt.Sprintf("%d messages", publishers*each), func() bool { return c.count() >= publishers*each })
	s.sync(t, pubs[0], tp, c)
	ids := c.ids()
	if len(ids) != publishers*each {
		t.Errorf("got %d distinct messages, want %d", len(ids), publishers*each)
	}
	for id, k := range ids {
		if k != 1 {
			t.Errorf("message %s arrived %d times", id, k)
		}
	}
	if k := c.count(); k != publishers*each {
		t.Errorf("got %d messages, want %d", k, publishers*each)
	}
}

func testTopicIsolation(t *testing.T, s *suite) {
	pub, sb := s.connected(t), s.connected(t)
	base := topic(t, "")
	topics := []string{base, base + ".sub", base + "x", base + "-other"}
	cs := make([]*collector, len(topics))
	for i, tp := range topics {
		cs[i] = &collector{}
		subscribe(t, sb, tp, cs[i].handle)
	}
	for i, tp := range topics {
		s.sync(t, pub, tp, cs[i])
	}
	const n = 10
	publishN(t, pub, base, "i", n)
	s.waitFor(t, "messages on the published topic", func() bool { return cs[0].count() >= n })
	for i, tp := range topics {
		s.sync(t, pub, tp, cs[i])
	}
	expectExactly(t, "subscriber of "+base, cs[0], "i", n)
	for i, tp := range topics[1:] {
		for _, r := range cs[i+1].snapshot() {
			t.Errorf("subscriber of %q got message %s published on %q", tp, r.msg.Header["Id"], r.topic)
		}
	}
}

func testMessagesAreCopies(t *testing.T, s *suite) {
	pub, sb := s.connected(t), s.connected(t)
	tp := topic(t, "")
	vandal := func(ctx context.Context, e broker.Event) error {
		m := e.Message()
		if m.Header != nil {
			m.Header["Id"] = "changed"
		}
		for i := range m.Body {
			m.Body[i] = 'X'
		}
		return nil
	}
	c1, c2 := &collector{}, &collector{}
	subscribe(t, sb, tp, c1.handle)
	subscribe(t, sb, tp, func(ctx context.Context, e broker.Event) error {
		if _, ok := e.Message().Header[ProbeHeader]; ok {
			return c2.handle(ctx, e)
		}
		return vandal(ctx, e)
	})
	subscribe(t, sb, tp, c2.handle)
	s.sync(t, pub, tp, c1, c2)
	const n = 10
	for i := range n {
		id := "k" + strconv.Itoa(i)
		m := &broker.Message{Header: map[string]string{"Id": id}, Body: []byte("body " + id)}
		if err := pub.Publish(t.Context(), tp, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		// The publisher may reuse its message once Publish returns.
		m.Header["Id"] = "reused"
		for j := range m.Body {
			m.Body[j] = 'Y'
		}
	}
	s.waitFor(t, "every message twice", func() bool { return c1.count() >= n && c2.count() >= n })
	s.sync(t, pub, tp, c1, c2)
	expectExactly(t, "first subscriber", c1, "k", n)
	expectExactly(t, "second subscriber", c2, "k", n)
}

func testPublishFromHandler(t *testing.T, s *suite) {
	pub, b1, b2 := s.connected(t), s.connected(t), s.connected(t)
	in, out := topic(t, ".in"), topic(t, ".out")
	got := &collector{}
	relayed := &collector{}
	subscribe(t, b2, out, got.handle)
	s.sync(t, pub, out, got)
	subscribe(t, b1, in, func(ctx context.Context, e broker.Event) error {
		if err := relayed.handle(ctx, e); err != nil {
			return err
		}
		if _, ok := e.Message().Header[ProbeHeader]; ok {
			return nil
		}
		return b1.Publish(ctx, out, e.Message())
	})
	s.sync(t, pub, in, relayed)
	const n = 10
	publishN(t, pub, in, "r", n)
	s.waitFor(t, "relayed messages", func() bool { return got.count() >= n })
	s.sync(t, pub, out, got)
	expectExactly(t, "relay target", got, "r", n)
}
