package server_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	brmemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// trace records what wrappers saw, in order.
type trace struct {
	mu    sync.Mutex
	steps []string
}

func (tr *trace) add(format string, a ...any) {
	tr.mu.Lock()
	tr.steps = append(tr.steps, fmt.Sprintf(format, a...))
	tr.mu.Unlock()
}

func (tr *trace) take() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := strings.Join(tr.steps, " ")
	tr.steps = nil
	return s
}

func handlerWrapper(tr *trace, name string) server.HandlerWrapper {
	return func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp any) error {
			tr.add("%s>", name)
			err := next(ctx, req, rsp)
			tr.add("<%s", name)
			return err
		}
	}
}

func TestHandlerWrappers(t *testing.T) {
	tr := &trace{}
	var seen []string
	var mu sync.Mutex
	inspect := func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp any) error {
			mu.Lock()
			_, isStream := rsp.(server.Stream)
			seen = append(seen, fmt.Sprintf("%s %s %s %s stream=%v body=%T rsp-stream=%v user=%s",
				req.Service(), req.Endpoint(), req.ContentType(), req.Header()[rpcwire.Id],
				req.Stream(), req.Body(), isStream, req.Header()["X-User"]))
			mu.Unlock()
			if req.Endpoint() == "Greeter.Fail" {
				return errors.Forbidden("wrapper", "stopped by a wrapper")
			}
			return next(ctx, req, rsp)
		}
	}
	f := newFixture(t, server.WrapHandler(handlerWrapper(tr, "a"), handlerWrapper(tr, "b")), server.WrapHandler(inspect))
	f.start()
	c := f.client()

	var rsp Response
	if err := c.call("application/json", "Greeter.Hello", &Request{Name: "w"}, &rsp, map[string]string{"X-User": "u"}); err != nil || rsp.Msg != "Hello w" {
		t.Fatalf("%v %q", err, rsp.Msg)
	}
	if got := tr.take(); got != "a> b> <b <a" {
		t.Fatalf("order %q, want the first wrapper outermost", got)
	}
	if err := c.jsonCall("Greeter.Fail", &Request{}, &rsp); errCode(err) != 403 {
		t.Fatalf("a wrapper's error: %v", err)
	}
	if err := c.jsonCall("Greeter.Panic", &Request{}, &rsp); errCode(err) != 500 {
		t.Fatalf("panic under wrappers: %v", err)
	}
	tr.take()

	ctx := patient(t, 1)
	sock := c.stream(ctx, "application/json", "Greeter.Echo")
	_ = sock.CloseSend()
	var m transport.Message
	if err := sock.Recv(ctx, &m); err != io.EOF {
		t.Fatalf("stream end: %v", err)
	}
	if got := tr.take(); got != "a> b> <b <a" {
		t.Fatalf("stream order %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"test Greeter.Hello application/json 7 stream=false body=*server_test.Request rsp-stream=false user=u",
		"test Greeter.Fail application/json 7 stream=false body=*server_test.Request rsp-stream=false user=",
		"test Greeter.Panic application/json 7 stream=false body=*server_test.Request rsp-stream=false user=",
		"test Greeter.Echo application/json s1 stream=true body=<nil> rsp-stream=true user=",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("wrappers saw\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// TestWrapperReplacesBody checks the checks on what a wrapper passes on.
func TestWrapperReplacesBody(t *testing.T) {
	bad := func(next server.HandlerFunc) server.HandlerFunc {
		return func(ctx context.Context, req server.Request, rsp any) error {
			return next(ctx, req, "not the response")
		}
	}
	f := newFixture(t, server.WrapHandler(bad))
	f.start()
	err := f.client().jsonCall("Greeter.Hello", &Request{}, &Response{})
	if errCode(err) != 500 || !strings.Contains(err.Error(), "wrapper") {
		t.Fatalf("got %v", err)
	}
}

func TestSubscriberWrappers(t *testing.T) {
	tr := &trace{}
	wrap := func(name string) server.SubscriberWrapper {
		return func(next server.SubscriberFunc) server.SubscriberFunc {
			return func(ctx context.Context, msg server.Message) error {
				tr.add("%s>%s:%s:%T", name, msg.Topic(), msg.ContentType(), msg.Payload())
				err := next(ctx, msg)
				tr.add("<%s", name)
				return err
			}
		}
	}
	bus := brmemory.NewBus()
	f := newFixture(t, server.Broker(bus.NewBroker()), server.WrapSubscriber(wrap("a"), wrap("b")))
	done := make(chan struct{}, 1)
	err := f.srv.Subscribe(f.srv.NewSubscriber("w", func(_ context.Context, e *Event) error {
		tr.add("fn")
		done <- struct{}{}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f.start()
	publishJSON(t, publisher(t, bus), "w", `{"n":1}`, nil)
	testenv.Recv(t, "the delivery", done)
	testenv.WaitFor(t, "the wrappers to return", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.steps) == 5
	})
	if got := tr.take(); got != "a>w:application/json:*server_test.Event b>w:application/json:*server_test.Event fn <b <a" {
		t.Fatalf("order %q", got)
	}
}
