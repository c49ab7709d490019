package rpcbench

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(s, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

// failing answers a few calls, then fails.
type failing struct {
	n    atomic.Int64
	chat Chat
}

func (f *failing) Echo(context.Context) error {
	if f.n.Add(1) > 10 {
		return errors.New("boom")
	}
	return nil
}
func (f *failing) Chat(context.Context) (Chat, error) { return f.chat, nil }
func (f *failing) Close() error                       { return nil }

func TestRunUnaryFailsOnError(t *testing.T) {
	_, err := RunUnary(t.Context(), &failing{}, 4, time.Second, time.Second)
	if err == nil || err.Error() != "boom" {
		t.Fatalf("err = %v, want boom", err)
	}
}

// lossy drops every other reply.
type lossy struct {
	sent    atomic.Int64
	closed  atomic.Bool
	replies chan struct{}
}

func (l *lossy) Send() error {
	if l.sent.Add(1)%2 == 0 {
		l.replies <- struct{}{}
	}
	return nil
}
func (l *lossy) Recv() error {
	select {
	case <-l.replies:
		return nil
	default:
	}
	if l.closed.Load() {
		return io.EOF
	}
	select {
	case <-l.replies:
		return nil
	case <-time.After(10 * time.Millisecond): // a poll, then a look at closed
		return l.Recv()
	}
}
func (l *lossy) CloseSend() error { l.closed.Store(true); return nil }
func (l *lossy) Close() error     { return nil }

func TestRunStreamDetectsLoss(t *testing.T) {
	c := &failing{chat: &lossy{replies: make(chan struct{}, 4096)}}
	_, err := RunStream(t.Context(), c, 10*time.Millisecond, 50*time.Millisecond)
	if err == nil {
		t.Fatal("a stream that lost replies was reported as a speed")
	}
}

// TestSystems runs each system for real, briefly, in this process: every
// call answers with the expected reply and nothing is lost.
func TestSystems(t *testing.T) {
	for _, sys := range Systems {
		t.Run(sys, func(t *testing.T) {
			srv, err := Serve(t.Context(), sys, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stopServer(srv) })
			c, err := Dial(sys, srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			l, err := RunUnary(t.Context(), c, 8, 10*time.Millisecond, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if l.Calls == 0 || l.P99 < l.P50 {
				t.Errorf("unary load %+v", l)
			}
			l, err = RunStream(t.Context(), c, 10*time.Millisecond, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if l.Calls == 0 {
				t.Errorf("stream load %+v", l)
			}
		})
	}
}

func TestUnknownSystem(t *testing.T) {
	if _, err := Serve(t.Context(), "nope", "127.0.0.1:0"); err == nil {
		t.Error("Serve accepted an unknown system")
	}
	if _, err := Dial("nope", "127.0.0.1:1"); err == nil {
		t.Error("Dial accepted an unknown system")
	}
}
