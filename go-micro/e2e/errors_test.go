package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// TestErrorsKeepTheirCode sends handler errors of several codes across the
// wire and gets each back as an *errors.Error with code and detail intact.
func TestErrorsKeepTheirCode(t *testing.T) {
	reg := memory.New()
	startGreeter(t, reg, "greeter", "greeter-a")
	waitNodes(t, reg, "greeter", 1)
	c := newClient(t, reg, client.Retries(0))
	for _, code := range []int32{400, 401, 403, 404, 409, 500, 503} {
		req := c.NewRequest("greeter", "Say.Fail", &FailRequest{Code: code, Detail: "failed on purpose"})
		err := c.Call(t.Context(), req, &FailResponse{})
		var me *merrors.Error
		if !errors.As(err, &me) {
			t.Fatalf("code %d: got %T %v, want *errors.Error", code, err, err)
		}
		if me.Code != code || me.Detail != "failed on purpose" || me.Id != "greeter" {
			t.Errorf("code %d: got %+v", code, me)
		}
	}
}

// TestDeadlineCancelsHandler calls a handler that sleeps 1s with a 50ms
// deadline: the caller gets a Timeout error and the handler's ctx is
// cancelled (it sees the Timeout header's deadline).
func TestDeadlineCancelsHandler(t *testing.T) {
	reg := memory.New()
	n := startGreeter(t, reg, "greeter", "greeter-a")
	n.say.cancelled = make(chan error, 1)
	waitNodes(t, reg, "greeter", 1)
	c := newClient(t, reg)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, c.NewRequest("greeter", "Say.Sleep", &SleepRequest{Duration: time.Second}), &SleepResponse{})
	took := time.Since(start)
	if code := merrors.Code(err); code != 408 {
		t.Fatalf("got %v (code %d), want a Timeout (408)", err, code)
	}
	select {
	case cerr := <-n.say.cancelled:
		if !errors.Is(cerr, context.DeadlineExceeded) {
			t.Fatalf("handler ctx ended with %v, want deadline exceeded", cerr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's ctx was not cancelled")
	}
	t.Logf("timeout returned after %v (deadline 50ms)", took)
}

// TestBadInput covers what a caller can get wrong: each gets a clear error
// with the right code, and the client keeps working after it.
func TestBadInput(t *testing.T) {
	reg := memory.New()
	startGreeter(t, reg, "greeter", "greeter-a", server.Transport(&recordingTransport{
		Transport: newHTTPTransport(t, transport.MaxMessageSize(64<<10)),
	}))
	waitNodes(t, reg, "greeter", 1)
	c := newClient(t, reg, client.Retries(0))

	hello := func(t *testing.T) {
		t.Helper()
		var rsp HelloResponse
		if err := c.Call(t.Context(), c.NewRequest("greeter", "Say.Hello", &HelloRequest{Name: "again"}), &rsp); err != nil || rsp.Msg != "Hello again" {
			t.Fatalf("a good call after the bad one: %v %+v", err, rsp)
		}
	}
	cases := []struct {
		name     string
		req      client.Request
		code     int32
		mentions string
	}{
		{"unknown service", c.NewRequest("no.such.service", "Say.Hello", &HelloRequest{}), 404, "no.such.service"},
		{"unknown endpoint", c.NewRequest("greeter", "Say.Nothing", &HelloRequest{}), 404, "Say.Nothing"},
		{"malformed body", c.NewRequest("greeter", "Say.Hello", []byte(`{"name": 42}`)), 400, ""},
		{"body over the limit", c.NewRequest("greeter", "Say.Hello", &HelloRequest{Name: strings.Repeat("x", 128<<10)}), 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(t.Context(), tc.req, &HelloResponse{})
			if code := merrors.Code(err); code != tc.code {
				t.Fatalf("got %v (code %d), want code %d", err, code, tc.code)
			}
			if tc.mentions != "" && !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not name %q", err, tc.mentions)
			}
			hello(t)
		})
	}
}

// A handler of the wrong shape is refused at Handle with the reason.
type wrongShape struct{}

func (wrongShape) Hello(ctx context.Context, name string) error { return nil }

func TestWrongShapeHandler(t *testing.T) {
	srv, err := server.New(server.Registry(memory.New()), server.Transport(newHTTPTransport(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Handle(srv.NewHandler(wrongShape{}))
	if !errors.Is(err, server.ErrInvalidHandler) {
		t.Fatalf("Handle: %v, want ErrInvalidHandler", err)
	}
	if !strings.Contains(err.Error(), "Hello") {
		t.Errorf("error %q does not name the method", err)
	}
	t.Logf("Handle said: %v", err)
}
