package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	brmemory "github.com/openmicro/go-micro/broker/memory"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/registry"
	regmemory "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	trmemory "github.com/openmicro/go-micro/transport/memory"
)

// callErr makes a JSON call without a testing.TB, for goroutines.
func callErr(c *rawClient, endpoint string, req, rsp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	out, err := c.exchange(context.Background(), &transport.Message{Header: map[string]string{
		rpcwire.ContentType: "application/json",
		rpcwire.Endpoint:    endpoint,
	}, Body: body})
	if err != nil {
		return err
	}
	if len(out) != 1 {
		return fmt.Errorf("got %d messages, want 1", len(out))
	}
	if e := out[0].Header[rpcwire.Error]; e != "" {
		return merrors.Parse(e)
	}
	return json.Unmarshal(out[0].Body, rsp)
}

// TestStopOrder checks that Stop deregisters while the server still
// accepts calls, then drains: a call in progress when Stop begins
// completes, and new calls are refused afterwards.
func TestStopOrder(t *testing.T) {
	hr := newHookRegistry()
	f := newFixture(t, server.Registry(hr))
	f.start()
	c := f.client()

	deregistered := make(chan error, 1)
	hr.onDeregister = func() {
		// Inside Deregister: the listener must still accept.
		var rsp Response
		err := callErr(c, "Greeter.Hello", &Request{Name: "during"}, &rsp)
		if err == nil && rsp.Msg != "Hello during" {
			err = fmt.Errorf("got %q", rsp.Msg)
		}
		deregistered <- err
	}

	inflight := make(chan error, 1)
	go func() {
		var rsp Response
		err := callErr(c, "Greeter.Hold", &Request{Name: "x"}, &rsp)
		if err == nil && rsp.Msg != "held x" {
			err = fmt.Errorf("got %q", rsp.Msg)
		}
		inflight <- err
	}()
	testenv.Recv(t, "the held call", f.g.entered)

	stopped := make(chan error, 1)
	go func() { stopped <- f.srv.Stop(context.Background()) }()

	if err := testenv.Recv(t, "Deregister", deregistered); err != nil {
		t.Fatalf("a call made during Deregister failed: %v", err)
	}
	if _, err := hr.GetService(t.Context(), testService); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("still registered after Deregister: %v", err)
	}
	testenv.WaitFor(t, "the listener to refuse new calls", func() bool {
		err := callErr(c, "Greeter.Hello", &Request{}, &Response{})
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a call was in progress", err)
	default:
	}
	close(f.g.release)
	if err := testenv.Recv(t, "the held call's answer", inflight); err != nil {
		t.Fatalf("the call in progress failed: %v", err)
	}
	if err := testenv.Recv(t, "Stop", stopped); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestStopCutsShort(t *testing.T) {
	hr := newHookRegistry()
	f := newFixture(t, server.Registry(hr))
	f.start()
	c := f.client()
	ctx, cancel := context.WithCancel(context.Background())
	hr.onDeregister = cancel // the drain starts with ctx ended

	inflight := make(chan error, 1)
	go func() { inflight <- callErr(c, "Greeter.Hold", &Request{}, &Response{}) }()
	testenv.Recv(t, "the held call", f.g.entered)
	if err := f.srv.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v, want context.Canceled", err)
	}
	if err := testenv.Recv(t, "the cut call", inflight); err == nil {
		t.Fatal("a call cut short by Stop succeeded")
	}
	if err := f.srv.Stop(context.Background()); !errors.Is(err, server.ErrNotStarted) {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStreamDrainedByStop(t *testing.T) {
	f := newFixture(t)
	f.start()
	ctx := patient(t, 1)
	sock := f.client().stream(ctx, "application/json", "Greeter.Echo")
	if err := sock.Send(ctx, &transport.Message{Body: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	var m transport.Message
	if err := sock.Recv(ctx, &m); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- f.srv.Stop(context.Background()) }()
	// The stream still works while Stop waits for it.
	if err := sock.Send(ctx, &transport.Message{Body: []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := sock.Recv(ctx, &m); err != nil || string(m.Body) != "{\"n\":2}\n" {
		t.Fatalf("got %q %v", m.Body, err)
	}
	_ = sock.CloseSend()
	if err := testenv.Recv(t, "Stop", stopped); err != nil {
		t.Fatal(err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	t.Run("stop before start", func(t *testing.T) {
		f := newFixture(t)
		if err := f.srv.Stop(t.Context()); !errors.Is(err, server.ErrNotStarted) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("start twice", func(t *testing.T) {
		f := newFixture(t)
		f.start()
		if err := f.srv.Start(t.Context()); !errors.Is(err, server.ErrStarted) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("subscribe after start", func(t *testing.T) {
		f := newFixture(t, server.Broker(brmemory.New()))
		f.start()
		err := f.srv.Subscribe(f.srv.NewSubscriber("t", func(context.Context, *Request) error { return nil }))
		if !errors.Is(err, server.ErrStarted) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("restart", func(t *testing.T) {
		f := newFixture(t)
		f.start()
		if err := f.srv.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Handle(f.srv.NewHandler(healthy{})); err != nil {
			t.Fatalf("Handle after Stop: %v", err)
		}
		f.start()
		var rsp HealthStatus
		if err := f.client().jsonCall("healthy.Health", &struct{}{}, &rsp); err != nil || rsp.Status != "fine" {
			t.Fatalf("after restart: %v %+v", err, rsp)
		}
	})
	t.Run("listen fails", func(t *testing.T) {
		f := newFixture(t, server.Address("taken:1"))
		f.start()
		g := newFixture(t, server.Address("taken:1"), server.Transport(f.tr))
		if err := g.srv.Start(t.Context()); err == nil || !errors.Is(err, trmemory.ErrAddrInUse) {
			t.Fatalf("got %v", err)
		}
		if err := f.srv.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		g.start() // the failed Start left g stopped and ready
	})
	t.Run("broker fails", func(t *testing.T) {
		f := newFixture(t, server.Address("b:1"), server.Broker(failingBroker{brmemory.New()}))
		if err := f.srv.Subscribe(f.srv.NewSubscriber("t", func(context.Context, *Request) error { return nil })); err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Start(t.Context()); err == nil {
			t.Fatal("Start succeeded with a broker that cannot subscribe")
		}
		// The listener was closed: the address is free.
		l, err := f.tr.Listen(t.Context(), "b:1")
		if err != nil {
			t.Fatalf("address still taken: %v", err)
		}
		_ = l.Close()
	})
}

type failingBroker struct{ broker.Broker }

func (failingBroker) Subscribe(context.Context, string, broker.Handler, ...broker.SubscribeOption) (broker.Subscriber, error) {
	return nil, errors.New("no subscriptions today")
}

func TestOptionsChecked(t *testing.T) {
	tr, _ := trmemory.NewTransport()
	t.Cleanup(func() { _ = tr.Close() })
	reg := regmemory.New()
	if _, err := server.New(server.Registry(reg)); err == nil {
		t.Error("New without a transport succeeded")
	}
	if _, err := server.New(server.Transport(tr)); err == nil {
		t.Error("New without a registry succeeded")
	}
	tests := []struct {
		name string
		opts []server.Option
		sub  bool
	}{
		{"empty name", []server.Option{server.Name("")}, false},
		{"name with a space", []server.Option{server.Name("a b")}, false},
		{"zero interval", []server.Option{server.RegisterInterval(0)}, false},
		{"negative ttl", []server.Option{server.RegisterTTL(-time.Second)}, false},
		{"ttl not above interval", []server.Option{server.RegisterTTL(time.Second), server.RegisterInterval(time.Second)}, false},
		{"subscribers without broker", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts...)
			if tt.sub {
				if err := f.srv.Subscribe(f.srv.NewSubscriber("t", func(context.Context, *Request) error { return nil })); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.srv.Start(t.Context()); err == nil {
				_ = f.srv.Stop(t.Context())
				t.Fatal("Start succeeded")
			}
		})
	}
}

func TestStringAndOptions(t *testing.T) {
	f := newFixture(t, server.Address("opts:1"), server.Id("fixed"))
	if f.srv.String() != "rpc" {
		t.Fatalf("String %q", f.srv.String())
	}
	o := f.srv.Options()
	if o.Name != testService || o.Id != "fixed" || o.Address != "opts:1" || o.RegisterTTL != server.DefaultRegisterTTL || o.RegisterInterval != server.DefaultRegisterInterval {
		t.Fatalf("options %+v", o)
	}
}

func TestAdvertise(t *testing.T) {
	reg := regmemory.New()
	f := newFixture(t, server.Registry(reg), server.Advertise("10.1.2.3:9999"))
	f.start()
	s, err := reg.GetService(t.Context(), testService)
	if err != nil {
		t.Fatal(err)
	}
	if got := s[0].Nodes[0].Address; got != "10.1.2.3:9999" {
		t.Fatalf("address %q", got)
	}
}

// TestStopClosesWaitingStreams checks that a stream that never sends its
// request does not hold Stop: it is not a call in progress.
func TestStopClosesWaitingStreams(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()
	idle, err := f.tr.Dial(t.Context(), c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// The memory listener accepts in order: once this call is answered,
	// the idle stream has been accepted too.
	if err := callErr(c, "Greeter.Hello", &Request{}, &Response{}); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- f.srv.Stop(context.Background()) }()
	if err := testenv.Recv(t, "Stop", stopped); err != nil {
		t.Fatal(err)
	}
	var m transport.Message
	if err := idle.Recv(t.Context(), &m); err == nil {
		t.Fatalf("the idle stream got %v", m)
	}
}
