package memory

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/transport"
)

const wait = 10 * time.Second

// TestDialRacesListenerStop: streams dialled while the listener closes or
// shuts down are either served or fail; none is left dangling in the
// listener's queue with a Recv that never returns.
func TestDialRacesListenerStop(t *testing.T) {
	for _, stop := range []string{"Close", "Shutdown"} {
		t.Run(stop, func(t *testing.T) {
			tr := newT(t)
			t.Cleanup(func() { _ = tr.Close() })
			for range 50 {
				l, err := tr.Listen(t.Context(), "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				accepted := make(chan error, 1)
				go func() {
					accepted <- l.Accept(func(s transport.Socket) {
						defer s.Close()
						var m transport.Message
						for s.Recv(context.Background(), &m) == nil {
							if s.Send(context.Background(), &m) != nil {
								return
							}
						}
					})
				}()
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range 16 {
					wg.Go(func() {
						<-start
						// No deadline: a stream left dangling hangs here.
						ctx := context.Background()
						s, err := tr.Dial(ctx, l.Addr())
						if err != nil {
							return
						}
						defer s.Close()
						if s.Send(ctx, &transport.Message{Body: []byte("x")}) != nil {
							return
						}
						var m transport.Message
						if err := s.Recv(ctx, &m); err != nil && err != io.EOF && !errors.Is(err, transport.ErrClosed) {
							t.Errorf("Recv = %v", err)
						}
					})
				}
				close(start)
				if stop == "Close" {
					_ = l.Close()
				} else {
					ctx, cancel := context.WithTimeout(t.Context(), wait)
					_ = l.Shutdown(ctx)
					cancel()
				}
				done := make(chan struct{})
				go func() { wg.Wait(); <-accepted; close(done) }()
				select {
				case <-done:
				case <-time.After(wait):
					_ = tr.Close() // unblock the stragglers so the test can end
					<-done
					t.Fatal("a stream dialled during the listener's stop was never served nor closed")
				}
			}
		})
	}
}

// TestSocketCloseRaces: Close concurrent with Send, Recv and CloseSend.
func TestSocketCloseRaces(t *testing.T) {
	tr := newT(t)
	t.Cleanup(func() { _ = tr.Close() })
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			var m transport.Message
			for s.Recv(context.Background(), &m) == nil {
				if s.Send(context.Background(), &m) != nil {
					return
				}
			}
		})
	}()
	t.Cleanup(func() { _ = l.Close(); <-accepted })
	ctx := context.Background()
	for range 200 {
		s, err := tr.Dial(t.Context(), l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			wg.Go(func() {
				for s.Send(ctx, &transport.Message{Body: []byte("x")}) == nil {
				}
			})
			wg.Go(func() {
				var m transport.Message
				for s.Recv(ctx, &m) == nil {
				}
			})
			wg.Go(func() { _ = s.CloseSend() })
			wg.Go(func() { _ = s.Close() })
			wg.Wait()
		}()
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatal("concurrent Close, Send, Recv and CloseSend hung")
		}
	}
}

// TestTransportCloseAbortsDial: a Dial blocked because the listener's
// queue is full (nobody calls Accept) returns once the transport closes.
func TestTransportCloseAbortsDial(t *testing.T) {
	tr := newT(t)
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var socks []transport.Socket
	t.Cleanup(func() {
		for _, s := range socks {
			_ = s.Close()
		}
	})
	for cap(l.(*listener).pending) > len(socks) {
		s, err := tr.Dial(t.Context(), l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	errc := make(chan error, 1)
	go func() {
		s, err := tr.Dial(context.Background(), l.Addr())
		if err == nil {
			_ = s.Close()
		}
		errc <- err
	}()
	// Close only once that Dial is blocked handing its socket over.
	for deadline := time.Now().Add(wait); !blockedIn("(*listener).enqueue"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Dial did not block on the full queue")
		}
	}
	_ = tr.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Dial cut short by Close = %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Dial stayed blocked after Transport.Close")
	}
}

// blockedIn reports whether some goroutine's stack includes fn.
func blockedIn(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}
