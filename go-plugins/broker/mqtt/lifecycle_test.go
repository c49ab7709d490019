package mqtt

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
	"go.uber.org/goleak"
)

// TestDisconnectWithBlockedHandler: Disconnect gives up waiting for a
// handler that ignores its context when its ctx ends, closes the
// connections all the same, and a second Disconnect waits for the rest.
func TestDisconnectWithBlockedHandler(t *testing.T) {
	addr := sharedAddr(t)
	pub := connected(t, addr)
	opt := goleak.IgnoreCurrent() // what sb starts must be gone at the end

	sb := newTestBroker(t, addr)
	if err := sb.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	tp := uniqueTopic(t)
	entered, release := make(chan struct{}), make(chan struct{})
	handlerCtxErr := make(chan error, 1)
	var once sync.Once
	h := func(ctx context.Context, _ broker.Event) error {
		once.Do(func() {
			close(entered)
			<-release // ignores its context
			handlerCtxErr <- ctx.Err()
		})
		return nil
	}
	if _, err := sb.Subscribe(t.Context(), tp, h); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Subscribe(t.Context(), tp, h, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, tp, "x")
	testenv.Wait(t, "handler to start", entered)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := sb.Disconnect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Disconnect with a blocked handler: %v, want a deadline error", err)
	}
	s := sb.(*mqttBroker).last
	s.mu.Lock()
	conns := []*conn{s.main, s.groups["g"]}
	s.mu.Unlock()
	for _, c := range conns {
		if c == nil || c.client.IsConnected() {
			t.Errorf("connection %v still open after Disconnect", c)
		}
	}
	if err := sb.Publish(t.Context(), tp, &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Publish after Disconnect: %v", err)
	}
	close(release)
	if err := testenv.Recv(t, "handler to return", handlerCtxErr); err == nil {
		t.Error("handler's context did not end on Disconnect")
	}
	if err := sb.Disconnect(t.Context()); err != nil {
		t.Fatalf("second Disconnect: %v", err)
	}
	goleak.VerifyNone(t, opt)
}

// blackHole accepts TCP connections and never answers, like a server that
// hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestConnectGivesUpWithCtx(t *testing.T) {
	b := newTestBroker(t, blackHole(t), ConnectTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := b.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a silent server = %v, want DeadlineExceeded", err)
	}
	if _, err := b.Subscribe(t.Context(), "t", (&inbox{}).handle); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Subscribe after a failed Connect = %v, want ErrNotConnected", err)
	}
}

func TestCallsWithEndedCtx(t *testing.T) {
	addr := sharedAddr(t)
	b := connected(t, addr)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"Publish", func() error { return b.Publish(ctx, "t", &broker.Message{}) }},
		{"Subscribe", func() error {
			_, err := b.Subscribe(ctx, "t", (&inbox{}).handle)
			return err
		}},
		{"Subscribe with queue", func() error {
			_, err := b.Subscribe(ctx, "t", (&inbox{}).handle, broker.Queue("q"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled ctx = %v", tt.name, err)
			}
		})
	}
	if _, err := b.Subscribe(t.Context(), "t", nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}
	for _, topic := range []string{"a/b", "a.+", "$SYS.x"} {
		if err := b.Publish(t.Context(), topic, &broker.Message{}); !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("Publish to %q = %v, want ErrInvalidTopic", topic, err)
		}
		if _, err := b.Subscribe(t.Context(), topic, (&inbox{}).handle); !errors.Is(err, broker.ErrInvalidTopic) {
			t.Errorf("Subscribe to %q = %v, want ErrInvalidTopic", topic, err)
		}
	}
}

// TestPublishTooManyHeaders: Publish refuses a message its subscribers
// could not decode.
func TestPublishTooManyHeaders(t *testing.T) {
	b := connected(t, sharedAddr(t))
	h := make(map[string]string, MaxHeaders+1)
	for i := range MaxHeaders + 1 {
		h[strconv.Itoa(i)] = "v"
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{Header: h}); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("Publish with %d headers = %v, want ErrMessageTooLarge", len(h), err)
	}
}
