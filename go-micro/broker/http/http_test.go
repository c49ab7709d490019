package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/brokertest"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func defaultConfig() config {
	return config{ttl: DefaultRegisterTTL, interval: DefaultRegisterInterval, maxSize: MaxMessageSize}
}

// newTest returns an unconnected broker on reg.
func newTest(t *testing.T, reg registry.Registry, c config, opts ...broker.Option) *httpBroker {
	t.Helper()
	b, err := newBroker(broker.NewOptions(append([]broker.Option{broker.Registry(reg), quiet()}, opts...)...), c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// connected returns a connected broker on reg, disconnected at cleanup.
func connected(t *testing.T, reg registry.Registry, c config, opts ...broker.Option) *httpBroker {
	t.Helper()
	b := newTest(t, reg, c, opts...)
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Disconnect(ctx); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
	})
	return b
}

// quiet keeps the broker's expected warnings out of the test output.
func quiet() broker.Option { return broker.Logger(slog.New(slog.DiscardHandler)) }

func TestConformance(t *testing.T) {
	reg := memory.New()
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		b, err := New(broker.Registry(reg), quiet())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestNoRegistry(t *testing.T) {
	if _, err := New(); !errors.Is(err, ErrNoRegistry) {
		t.Errorf("New(): %v, want ErrNoRegistry", err)
	}
	if _, err := broker.Open("http"); !errors.Is(err, ErrNoRegistry) {
		t.Errorf(`broker.Open("http"): %v, want ErrNoRegistry`, err)
	}
	b, err := broker.Open("http", broker.Registry(memory.New()))
	if err != nil || b.String() != "http" {
		t.Errorf(`broker.Open("http", Registry): %v, %v`, b, err)
	}
}

func nodes(t *testing.T, reg registry.Registry, topic string) []*registry.Node {
	t.Helper()
	ss, err := reg.GetService(t.Context(), ServicePrefix+topic)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ns []*registry.Node
	for _, s := range ss {
		ns = append(ns, s.Nodes...)
	}
	return ns
}

func nop(context.Context, broker.Event) error { return nil }

func TestRegistration(t *testing.T) {
	reg := memory.New()
	b := newTest(t, reg, defaultConfig())
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Subscribe(t.Context(), "orders", nop, broker.Queue("billing"))
	if err != nil {
		t.Fatal(err)
	}
	ns := nodes(t, reg, "orders")
	if len(ns) != 1 {
		t.Fatalf("registered nodes: %+v", ns)
	}
	n := ns[0]
	want := map[string]string{MetaBroker: "http", MetaTopic: "orders", MetaQueue: "billing", MetaSubscriber: n.Id, MetaSecure: "false"}
	for k, v := range want {
		if n.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, n.Metadata[k], v)
		}
	}
	if n.Address != b.Address() || !strings.HasPrefix(n.Address, "127.0.0.1:") {
		t.Errorf("node address %q, broker address %q", n.Address, b.Address())
	}
	for range 2 {
		if err := sub.Unsubscribe(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if ns := nodes(t, reg, "orders"); len(ns) != 0 {
		t.Errorf("nodes after Unsubscribe: %+v", ns)
	}
	for _, tp := range []string{"a", "b"} {
		if _, err := b.Subscribe(t.Context(), tp, nop); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{"a", "b"} {
		if ns := nodes(t, reg, tp); len(ns) != 0 {
			t.Errorf("nodes of %s after Disconnect: %+v", tp, ns)
		}
	}
}

// countingRegistry counts Register calls per node id.
type countingRegistry struct {
	registry.Registry
	mu sync.Mutex
	n  map[string]int
}

func (c *countingRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	c.mu.Lock()
	for _, n := range s.Nodes {
		c.n[n.Id]++
	}
	c.mu.Unlock()
	return c.Registry.Register(ctx, s, opts...)
}

func (c *countingRegistry) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func TestHeartbeatKeepsSubscriberRegistered(t *testing.T) {
	reg := &countingRegistry{Registry: memory.New(), n: make(map[string]int)}
	c := config{ttl: time.Second, interval: 10 * time.Millisecond, maxSize: MaxMessageSize}
	b := connected(t, reg, c)
	w, err := reg.Watch(t.Context(), registry.WatchService(ServicePrefix+"kept"))
	if err != nil {
		t.Fatal(err)
	}
	deletes := make(chan *registry.Result, 100)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			r, err := w.Next()
			if err != nil {
				return
			}
			if r.Action == registry.Delete {
				deletes <- r
			}
		}
	}()
	t.Cleanup(func() { w.Stop(); <-watchDone })

	if _, err := b.Subscribe(t.Context(), "kept", nop); err != nil {
		t.Fatal(err)
	}
	gone, err := b.Subscribe(t.Context(), "gone", nop)
	if err != nil {
		t.Fatal(err)
	}
	keptID := nodes(t, reg, "kept")[0].Id
	// 150 registrations 10ms apart outlast the 1s TTL one and a half times.
	testenv.WaitFor(t, "heartbeats", func() bool { return reg.count(keptID) >= 150 })
	if ns := nodes(t, reg, "kept"); len(ns) != 1 {
		t.Errorf("subscriber expired although registered again: %+v", ns)
	}
	select {
	case r := <-deletes:
		t.Errorf("subscriber was deleted meanwhile: %+v", r.Service)
	default:
	}

	if err := gone.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	base := reg.count(keptID)
	testenv.WaitFor(t, "more heartbeats", func() bool { return reg.count(keptID) >= base+5 })
	if ns := nodes(t, reg, "gone"); len(ns) != 0 {
		t.Errorf("unsubscribed subscriber registered again: %+v", ns)
	}
}

func TestEndpointBadInput(t *testing.T) {
	reg := memory.New()
	c := defaultConfig()
	c.maxSize = 1024
	b := connected(t, reg, c)
	got := make(chan *broker.Message, 10)
	if _, err := b.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := nodes(t, reg, "t")[0].Id
	valid, _ := encode("t", map[string]string{"K": "v"}, []byte("hello"))
	other, _ := encode("other", nil, nil)
	big, _ := encode("t", nil, bytes.Repeat([]byte("x"), 2000))
	head, _ := encode("t", nil, nil)
	exact, _ := encode("t", nil, bytes.Repeat([]byte("e"), c.maxSize-len(head)))
	over, _ := encode("t", nil, bytes.Repeat([]byte("o"), c.maxSize-len(head)+1))
	base := "http://" + b.Address()
	tests := []struct {
		name    string
		method  string
		path    string
		body    []byte
		code    int
		chunked bool // sent without a Content-Length
	}{
		{"valid", "POST", Path + id, valid, 204, false},
		{"wrong method", "GET", Path + id, nil, 405, false},
		{"put", "PUT", Path + id, valid, 405, false},
		{"unknown subscriber", "POST", Path + "nobody", valid, 404, false},
		{"no id", "POST", Path, valid, 404, false},
		{"other path", "POST", "/elsewhere", valid, 404, false},
		{"nested path", "POST", Path + id + "/x", valid, 404, false},
		{"oversized", "POST", Path + id, big, 413, false},
		{"empty body", "POST", Path + id, nil, 400, false},
		{"no newline", "POST", Path + id, []byte(`{"topic":"t"}`), 400, false},
		{"bad json", "POST", Path + id, []byte("{not json\nbody"), 400, false},
		{"no topic", "POST", Path + id, []byte("{}\nbody"), 400, false},
		{"wrong topic", "POST", Path + id, other, 400, false},
		{"json array", "POST", Path + id, []byte("[1,2]\n"), 400, false},
		{"header not an object", "POST", Path + id, []byte(`{"topic":"t","header":[1]}` + "\n"), 400, false},
		{"header value not a string", "POST", Path + id, []byte(`{"topic":"t","header":{"a":1}}` + "\n"), 400, false},
		{"topic not a string", "POST", Path + id, []byte(`{"topic":1}` + "\n"), 400, false},
		{"trailing garbage in meta", "POST", Path + id, []byte(`{"topic":"t"} x` + "\n"), 400, false},
		{"one byte over the limit", "POST", Path + id, over, 413, false},
		{"oversized chunked", "POST", Path + id, big, 413, true},
		{"malformed chunked", "POST", Path + id, []byte("no newline at all"), 400, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req, err := nethttp.NewRequestWithContext(t.Context(), tt.method, base+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.chunked && req.ContentLength != 0 {
				t.Fatalf("request has a Content-Length of %d", req.ContentLength)
			}
			rsp, err := nethttp.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer rsp.Body.Close()
			data, _ := io.ReadAll(rsp.Body)
			if rsp.StatusCode != tt.code {
				t.Fatalf("status %d (%s), want %d", rsp.StatusCode, data, tt.code)
			}
			if tt.code == 405 && rsp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", rsp.Header.Get("Allow"))
			}
			if tt.code >= 400 {
				if ct := rsp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("error Content-Type %q", ct)
				}
				var e merrors.Error
				if err := json.Unmarshal(data, &e); err != nil || e.Code != int32(tt.code) || e.Detail == "" || e.Id != errorID {
					t.Errorf("error body %s decodes as %+v, %v", data, e, err)
				}
			}
		})
	}
	nethttp.DefaultClient.CloseIdleConnections()
	select {
	case m := <-got:
		if string(m.Body) != "hello" || m.Header["K"] != "v" {
			t.Errorf("valid request delivered %+v", m)
		}
	default:
		t.Error("valid request not delivered")
	}
	// The largest delivery allowed goes through.
	rsp, err := nethttp.Post(base+Path+id, ContentType, bytes.NewReader(exact))
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	nethttp.DefaultClient.CloseIdleConnections()
	if rsp.StatusCode != 204 {
		t.Errorf("delivery of exactly %d bytes: status %d", c.maxSize, rsp.StatusCode)
	}
	if m := <-got; len(m.Body) != c.maxSize-len(head) {
		t.Errorf("delivered a body of %d bytes", len(m.Body))
	}
	select {
	case m := <-got:
		t.Errorf("bad request delivered %+v", m)
	default:
	}
}

func TestHandlerErrorReported(t *testing.T) {
	reg := memory.New()
	pub, b1, b2 := connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig())
	if _, err := b1.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error { return errors.New("boom") }); err != nil {
		t.Fatal(err)
	}
	failingID := nodes(t, reg, "t")[0].Id
	var good atomic.Int64
	if _, err := b2.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error { good.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	// A manual-ack handler that nacks fails its delivery too.
	if _, err := b2.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error { return e.Nack() }, broker.DisableAutoAck()); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "publisher to see all three subscribers", func() bool {
		ss, err := pub.sess.cache.GetService(t.Context(), ServicePrefix+"t")
		return err == nil && len(ss) == 1 && len(ss[0].Nodes) == 3
	})
	err := pub.Publish(t.Context(), "t", &broker.Message{Body: []byte("x")})
	if err == nil {
		t.Fatal("Publish succeeded although a handler failed")
	}
	if good.Load() != 1 {
		t.Errorf("good subscriber got %d messages, want 1", good.Load())
	}
	joined, ok := errors.Unwrap(err).(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Publish error %v does not wrap the joined delivery errors", err)
	}
	var failed []string
	for _, e := range joined.Unwrap() {
		var de *DeliveryError
		if !errors.As(e, &de) {
			t.Fatalf("not a DeliveryError: %v", e)
		}
		failed = append(failed, de.Subscriber)
		if merrors.Code(de.Err) != 500 {
			t.Errorf("failed delivery code %d: %v", merrors.Code(de.Err), de.Err)
		}
	}
	if len(failed) != 2 {
		t.Errorf("failed subscribers %v, want two", failed)
	}
	if !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), failingID) {
		t.Errorf("error %q does not name the failing subscriber and its error", err)
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func fakeNode(t *testing.T, reg registry.Registry, topic, queue, id, addr string) {
	t.Helper()
	err := reg.Register(t.Context(), &registry.Service{Name: ServicePrefix + topic, Nodes: []*registry.Node{{
		Id: id, Address: addr,
		Metadata: map[string]string{MetaBroker: "http", MetaTopic: topic, MetaQueue: queue, MetaSubscriber: id},
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueueGroupFailover(t *testing.T) {
	reg := memory.New()
	pub, sb := connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig())
	var got atomic.Int64
	if _, err := sb.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error { got.Add(1); return nil }, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	fakeNode(t, reg, "t", "g", "dead-1", deadAddr(t))
	fakeNode(t, reg, "t", "g", "dead-2", deadAddr(t))
	fakeNode(t, reg, "t", "g", "gone-1", sb.Address()) // unknown id: 404
	fakeNode(t, reg, "t", "", "gone-2", sb.Address())  // plain, gone: skipped
	const n = 20
	for range n {
		if err := pub.Publish(t.Context(), "t", &broker.Message{}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if got.Load() != n {
		t.Errorf("live member got %d messages, want %d", got.Load(), n)
	}
}

// TestQueueGroupRefusedGoesToAnotherMember: a member whose handler fails
// or nacks does not lose the message for its group: the next member gets
// it, and Publish succeeds. When every member refuses, Publish reports the
// group's failure after trying each member once.
func TestQueueGroupRefusedGoesToAnotherMember(t *testing.T) {
	reg := memory.New()
	pub := connected(t, reg, defaultConfig())
	b1, b2, b3 := connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig()), connected(t, reg, defaultConfig())
	var failed, nacked, good atomic.Int64
	subscribe := func(b *httpBroker, topic string, h broker.Handler, opts ...broker.SubscribeOption) {
		t.Helper()
		if _, err := b.Subscribe(t.Context(), topic, h, append(opts, broker.Queue("g"))...); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(context.Context, broker.Event) error { failed.Add(1); return errors.New("boom") }
	nack := func(_ context.Context, e broker.Event) error { nacked.Add(1); return e.Nack() }
	subscribe(b1, "t", fail)
	subscribe(b2, "t", nack, broker.DisableAutoAck())
	subscribe(b3, "t", func(context.Context, broker.Event) error { good.Add(1); return nil })
	testenv.WaitFor(t, "the publisher to see the group's three members", func() bool {
		ss, err := pub.sess.cache.GetService(t.Context(), ServicePrefix+"t")
		return err == nil && len(ss) == 1 && len(ss[0].Nodes) == 3
	})
	const n = 30
	for i := range n {
		if err := pub.Publish(t.Context(), "t", &broker.Message{Body: []byte("x")}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	if good.Load() != n {
		t.Errorf("the member that takes messages got %d, want %d", good.Load(), n)
	}
	if failed.Load()+nacked.Load() == 0 {
		t.Error("the refusing members were never tried: the test shows nothing")
	}

	// Only refusing members: each is tried once, and Publish says so.
	subscribe(b1, "u", fail)
	subscribe(b2, "u", nack, broker.DisableAutoAck())
	testenv.WaitFor(t, "the publisher to see the refusing group", func() bool {
		ss, err := pub.sess.cache.GetService(t.Context(), ServicePrefix+"u")
		return err == nil && len(ss) == 1 && len(ss[0].Nodes) == 2
	})
	f0, n0 := failed.Load(), nacked.Load()
	err := pub.Publish(t.Context(), "u", &broker.Message{Body: []byte("x")})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Queue != "g" || merrors.Code(de.Err) != 500 {
		t.Fatalf("Publish to a group that refuses = %v, want a DeliveryError of group g with the 500", err)
	}
	if f, k := failed.Load()-f0, nacked.Load()-n0; f != 1 || k != 1 {
		t.Errorf("the members were tried %d and %d times, want once each", f, k)
	}
}

func TestDeadPlainSubscriberReported(t *testing.T) {
	reg := memory.New()
	pub := connected(t, reg, defaultConfig())
	fakeNode(t, reg, "t", "", "dead", deadAddr(t))
	err := pub.Publish(t.Context(), "t", &broker.Message{})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Subscriber != "dead" {
		t.Errorf("Publish to a dead subscriber: %v", err)
	}
	// A whole group of dead members is reported once.
	fakeNode(t, reg, "q", "g", "dead-a", deadAddr(t))
	fakeNode(t, reg, "q", "g", "dead-b", deadAddr(t))
	err = pub.Publish(t.Context(), "q", &broker.Message{})
	if !errors.As(err, &de) || de.Queue != "g" {
		t.Errorf("Publish to a dead group: %v", err)
	}
}

func TestPublishEdgeCases(t *testing.T) {
	reg := memory.New()
	c := defaultConfig()
	c.maxSize = 100
	b := connected(t, reg, c)
	if err := b.Publish(t.Context(), "nobody-listens", &broker.Message{Body: []byte("x")}); err != nil {
		t.Errorf("Publish without subscribers: %v", err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{Body: make([]byte, 200)}); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("Publish of an oversized message: %v, want ErrMessageTooLarge", err)
	}
	got := make(chan *broker.Message, 1)
	if _, err := b.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error { got <- e.Message(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "t", nil); err != nil {
		t.Fatalf("Publish(nil): %v", err)
	}
	if m := <-got; len(m.Body) != 0 || len(m.Header) != 0 {
		t.Errorf("nil message delivered as %+v", m)
	}
	for _, tp := range []string{"", "a b", "x\x00", "\xff"} {
		if err := b.Publish(t.Context(), tp, &broker.Message{}); !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("Publish(%q): %v", tp, err)
		}
	}
	if _, err := b.Subscribe(t.Context(), "t", nil); err == nil {
		t.Error("Subscribe with nil handler succeeded")
	}
}

func TestHandlerPanicIsAnError(t *testing.T) {
	reg := memory.New()
	b := connected(t, reg, defaultConfig())
	if _, err := b.Subscribe(t.Context(), "t", func(context.Context, broker.Event) error { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	err := b.Publish(t.Context(), "t", &broker.Message{})
	if merrors.Code(err) != 500 || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("Publish to a panicking handler: %v", err)
	}
}

func TestTLS(t *testing.T) {
	reg := memory.New()
	cfg := testenv.SelfSignedTLS(t)
	pub := connected(t, reg, defaultConfig(), broker.TLS(cfg))
	sb := connected(t, reg, defaultConfig(), broker.TLS(cfg))
	got := make(chan string, 1)
	if _, err := sb.Subscribe(t.Context(), "secure", func(_ context.Context, e broker.Event) error {
		got <- string(e.Message().Body)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ns := nodes(t, reg, "secure"); len(ns) != 1 || ns[0].Metadata[MetaSecure] != "true" {
		t.Fatalf("nodes: %+v", ns)
	}
	if err := pub.Publish(t.Context(), "secure", &broker.Message{Body: []byte("s3cret")}); err != nil {
		t.Fatalf("Publish over TLS: %v", err)
	}
	if b := <-got; b != "s3cret" {
		t.Errorf("got %q", b)
	}
	// A plain-HTTP peer cannot reach a TLS subscriber.
	plain := connected(t, reg, defaultConfig())
	if err := plain.Publish(t.Context(), "secure", &broker.Message{}); err == nil {
		t.Error("publisher without TLS trust delivered to a TLS subscriber")
	}

	noCert := newTest(t, reg, defaultConfig(), broker.TLS(&tls.Config{}))
	if err := noCert.Connect(t.Context()); err == nil {
		_ = noCert.Disconnect(t.Context())
		t.Error("Connect with a TLS config without certificate succeeded")
	}
}

func TestConnectBadAddress(t *testing.T) {
	b := newTest(t, memory.New(), defaultConfig(), broker.Addrs("256.0.0.1:99999"))
	if err := b.Connect(t.Context()); err == nil {
		_ = b.Disconnect(t.Context())
		t.Error("Connect on an invalid address succeeded")
	}
}

func TestAdvertise(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:80", "127.0.0.1:80"},
		{"10.1.2.3:8001", "10.1.2.3:8001"},
		{"[::1]:80", "[::1]:80"},
		{"localhost:80", "localhost:80"},
		{"garbage", "garbage"},
	}
	for _, tt := range tests {
		if got := advertise(tt.in); got != tt.want {
			t.Errorf("advertise(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{":80", "0.0.0.0:80", "[::]:80"} {
		got := advertise(in)
		host, port, err := net.SplitHostPort(got)
		if ip := net.ParseIP(host); err != nil || port != "80" || ip == nil || ip.IsUnspecified() {
			t.Errorf("advertise(%q) = %q, want a concrete address", in, got)
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	tests := []struct {
		topic  string
		header map[string]string
		body   []byte
	}{
		{"t", nil, nil},
		{"a.b/c", map[string]string{"K": "v\nw", "": "empty key", "ü": "\x00"}, []byte("\n\n{}\n")},
		{"t", map[string]string{"x": ""}, []byte{0, 0xff}},
	}
	for _, tt := range tests {
		data, err := encode(tt.topic, tt.header, tt.body)
		if err != nil {
			t.Fatal(err)
		}
		topic, header, body, err := decode(data)
		if err != nil {
			t.Fatalf("decode(encode(%q)): %v", tt.topic, err)
		}
		if topic != tt.topic || !bytes.Equal(body, tt.body) || len(header) != len(tt.header) {
			t.Errorf("round trip: %q %v %q", topic, header, body)
		}
		for k, v := range tt.header {
			if header[k] != v {
				t.Errorf("header %q = %q, want %q", k, header[k], v)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("{\"topic\":\"t\",\"header\":{\"a\":\"b\"}}\nbody"))
	f.Add([]byte("{}\n"))
	f.Add([]byte("\n"))
	f.Add([]byte("{\"topic\":1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		topic, header, body, err := decode(data)
		if err != nil {
			return
		}
		again, err := encode(topic, header, body)
		if err != nil {
			t.Fatalf("encode of decoded input: %v", err)
		}
		t2, h2, b2, err := decode(again)
		if err != nil || t2 != topic || !bytes.Equal(b2, body) || len(h2) != len(header) {
			t.Fatalf("re-decode differs: %q %v %q %v", t2, h2, b2, err)
		}
	})
}

func TestOptions(t *testing.T) {
	reg := memory.New()
	b, err := New(broker.Registry(reg), RegisterTTL(3*time.Second), RegisterInterval(time.Second), MaxSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	got := b.(*httpBroker).cfg
	want := config{ttl: 3 * time.Second, interval: time.Second, maxSize: 1024}
	if got != want {
		t.Fatalf("config = %+v, want %+v", got, want)
	}
	if _, err := New(broker.Registry(reg)); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	_, err = New(broker.Registry(reg), RegisterTTL(time.Second), RegisterInterval(time.Second))
	if err == nil || !strings.Contains(err.Error(), "shorter than the TTL") {
		t.Fatalf("interval >= TTL: got %v", err)
	}
	if _, err := New(); !errors.Is(err, ErrNoRegistry) {
		t.Fatalf("no registry: got %v", err)
	}
}
