package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	httpbroker "github.com/openmicro/go-micro/broker/http"
	"github.com/openmicro/go-micro/client"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// The greeter the tests serve.

type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Msg  string `json:"msg"`
	Node string `json:"node"`
}

type SleepRequest struct {
	Duration time.Duration `json:"duration"`
}

type SleepResponse struct{}

type FailRequest struct {
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
}

type FailResponse struct{}

// Say is the greeter's handler; its endpoints are Say.Hello, Say.Stream,
// Say.Sleep and Say.Fail.
type Say struct {
	node  string
	calls atomic.Int64
	// cancelled receives the handler's ctx error when Sleep ends early.
	cancelled chan error
}

func (s *Say) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	s.calls.Add(1)
	rsp.Msg = "Hello " + req.Name
	rsp.Node = s.node
	return nil
}

// Stream echoes every message until the client half-closes.
func (s *Say) Stream(ctx context.Context, stream server.Stream) error {
	for {
		var req HelloRequest
		if err := stream.Recv(&req); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.Send(&HelloResponse{Msg: req.Name, Node: s.node}); err != nil {
			return err
		}
	}
}

func (s *Say) Sleep(ctx context.Context, req *SleepRequest, rsp *SleepResponse) error {
	select {
	case <-time.After(req.Duration):
		return nil
	case <-ctx.Done():
		if s.cancelled != nil {
			s.cancelled <- ctx.Err()
		}
		return ctx.Err()
	}
}

func (s *Say) Fail(ctx context.Context, req *FailRequest, rsp *FailResponse) error {
	return merrors.New("greeter", req.Detail, req.Code)
}

// node is one running greeter instance.
type node struct {
	srv      server.Server
	say      *Say
	listener *recordingTransport
}

// kill closes the instance's listener and every connection on it at once,
// as a crash would: the registry still lists it.
func (n *node) kill(t *testing.T) {
	t.Helper()
	if err := n.listener.closeListeners(); err != nil {
		t.Fatalf("kill: %v", err)
	}
}

// recordingTransport keeps the listeners it opens so a test can kill them.
type recordingTransport struct {
	transport.Transport
	mu        sync.Mutex
	listeners []transport.Listener
}

func (r *recordingTransport) Listen(ctx context.Context, addr string, opts ...transport.ListenOption) (transport.Listener, error) {
	l, err := r.Transport.Listen(ctx, addr, opts...)
	if err == nil {
		r.mu.Lock()
		r.listeners = append(r.listeners, l)
		r.mu.Unlock()
	}
	return l, err
}

func (r *recordingTransport) closeListeners() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, l := range r.listeners {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

func newHTTPTransport(t testing.TB, opts ...transport.Option) transport.Transport {
	t.Helper()
	tr, err := httptransport.NewTransport(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// startGreeter starts a greeter instance of service name on a loopback
// port of its own transport.
func startGreeter(t testing.TB, reg registry.Registry, name, id string, opts ...server.Option) *node {
	t.Helper()
	rt := &recordingTransport{Transport: newHTTPTransport(t)}
	say := &Say{node: id}
	opts = append([]server.Option{
		server.Name(name),
		server.Id(id),
		server.Address("127.0.0.1:0"),
		server.Registry(reg),
		server.Transport(rt),
	}, opts...)
	srv, err := server.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(say)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", id, err)
		}
	})
	return &node{srv: srv, say: say, listener: rt}
}

// newClient returns a client over its own http transport and a selector
// over reg.
func newClient(t testing.TB, reg registry.Registry, opts ...client.Option) client.Client {
	t.Helper()
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sel.Close() })
	opts = append([]client.Option{
		client.Selector(sel),
		client.Transport(newHTTPTransport(t)),
	}, opts...)
	c, err := client.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitNodes waits until the registry lists n nodes of service.
func waitNodes(t testing.TB, reg registry.Registry, service string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, err := reg.GetService(context.Background(), service)
		got := 0
		for _, s := range ss {
			got += len(s.Nodes)
		}
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry lists %d nodes of %s (err %v), want %d", got, service, err, n)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// TestCallsSurviveAKilledNode makes 1,000 concurrent calls over two
// instances and kills one of them abruptly once it has served some: every
// call succeeds, the failed attempts retried on the survivor.
func TestCallsSurviveAKilledNode(t *testing.T) {
	reg := memory.New()
	a := startGreeter(t, reg, "greeter", "greeter-a")
	b := startGreeter(t, reg, "greeter", "greeter-b")
	waitNodes(t, reg, "greeter", 2)
	c := newClient(t, reg)

	const calls = 1000
	const killAfter = 50 // calls served by greeter-a before it dies
	var (
		done     atomic.Int64
		wg       sync.WaitGroup
		failed   atomic.Int64
		errMu    sync.Mutex
		first    error
		start    = make(chan struct{}) // all the calls go at once
		finished = make(chan struct{})
		killedAt = make(chan int64, 1) // calls completed when the kill came
	)
	go func() {
		// Kill greeter-a once it has served killAfter calls, while the
		// rest are in flight or queued.
		for a.say.calls.Load() < killAfter {
			select {
			case <-finished:
				killedAt <- -1
				return
			case <-time.After(time.Millisecond): // polling; the kill point needs no precision
			}
		}
		n := done.Load()
		a.kill(t)
		killedAt <- n
	}()
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var rsp HelloResponse
			req := c.NewRequest("greeter", "Say.Hello", &HelloRequest{Name: fmt.Sprint(i)})
			if err := c.Call(context.Background(), req, &rsp); err != nil {
				failed.Add(1)
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
			} else if rsp.Msg != "Hello "+fmt.Sprint(i) {
				failed.Add(1)
			}
			done.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	close(finished)
	at := <-killedAt
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed; first: %v", n, calls, first)
	}
	ac, bc := a.say.calls.Load(), b.say.calls.Load()
	t.Logf("greeter-a served %d calls and was killed after %d had completed; greeter-b served %d", ac, at, bc)
	if at < 0 || at >= calls {
		t.Fatalf("greeter-a was not killed while calls were running (served %d, killed at %d): the test proved nothing", ac, at)
	}
	if bc == 0 {
		t.Fatal("greeter-b served no call")
	}
	if ac+bc < calls {
		t.Fatalf("handlers ran %d times for %d successful calls", ac+bc, calls)
	}
}

// TestStreamTenThousandEachWay sends 10,000 messages over one stream while
// receiving the 10,000 echoes.
func TestStreamTenThousandEachWay(t *testing.T) {
	reg := memory.New()
	startGreeter(t, reg, "greeter", "greeter-a")
	waitNodes(t, reg, "greeter", 1)
	c := newClient(t, reg)

	const n = 10000
	stream, err := c.Stream(t.Context(), c.NewRequest("greeter", "Say.Stream", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	sendErr := make(chan error, 1)
	go func() {
		for i := range n {
			if err := stream.Send(&HelloRequest{Name: fmt.Sprint(i)}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	for i := range n {
		var rsp HelloResponse
		if err := stream.Recv(&rsp); err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
		if rsp.Msg != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, rsp.Msg)
		}
	}
	if err := stream.Recv(&HelloResponse{}); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("send: %v", err)
	}
}

// TestQueueGroupExactlyOnce publishes over the http broker to two members
// of a queue group, each in its own service, and a plain subscriber: the
// group gets each event exactly once, the plain subscriber every event.
func TestQueueGroupExactlyOnce(t *testing.T) {
	reg := memory.New()
	const topic = "e2e.events"
	const events = 200

	type Event struct {
		Seq int `json:"seq"`
	}
	var (
		mu       sync.Mutex
		group    = map[int]int{}
		plain    = map[int]int{}
		allSeen  = make(chan struct{})
		seenOnce sync.Once
	)
	check := func() {
		if len(group) == events && len(plain) == events {
			seenOnce.Do(func() { close(allSeen) })
		}
	}
	newBroker := func() broker.Broker {
		b, err := httpbroker.New(broker.Registry(reg))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	startSub := func(name string, queue bool, seen map[int]int) server.Server {
		t.Helper()
		var opts []server.SubscriberOption
		if queue {
			opts = append(opts, server.Queue("workers"))
		}
		srv, err := server.New(
			server.Name(name),
			server.Registry(reg),
			server.Transport(newHTTPTransport(t)),
			server.Broker(newBroker()),
		)
		if err != nil {
			t.Fatal(err)
		}
		fn := func(ctx context.Context, e *Event) error {
			mu.Lock()
			defer mu.Unlock()
			seen[e.Seq]++
			check()
			return nil
		}
		if err := srv.Subscribe(srv.NewSubscriber(topic, fn, opts...)); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Stop(ctx) // already stopped by the test unless it failed
		})
		return srv
	}
	subs := []server.Server{
		startSub("worker-1", true, group),
		startSub("worker-2", true, group),
		startSub("audit", false, plain),
	}
	// Three subscriber nodes of the topic: two in the group, one plain.
	waitNodes(t, reg, "go.micro.broker.http."+topic, 3)

	pub := newBroker()
	if err := pub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Disconnect(context.Background()) })
	c := newClient(t, reg, client.Broker(pub))
	for i := range events {
		if err := c.Publish(t.Context(), c.NewMessage(topic, &Event{Seq: i})); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	select {
	case <-allSeen:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("after 30s the group saw %d and the plain subscriber %d of %d events", len(group), len(plain), events)
	}
	// Stopping drains the deliveries in progress, so a duplicate on its way
	// is counted before the check.
	for _, srv := range subs {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := srv.Stop(ctx)
		cancel()
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for seq, n := range group {
		if n != 1 {
			t.Errorf("event %d reached the queue group %d times", seq, n)
		}
	}
	for seq, n := range plain {
		if n != 1 {
			t.Errorf("event %d reached the plain subscriber %d times", seq, n)
		}
	}
}
