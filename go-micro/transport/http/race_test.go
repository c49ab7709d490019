package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// within runs fn and fails the test if it does not return within wait.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("%s hung", what)
	}
}

// TestSocketCloseRaces: Close concurrent with Send, Recv and CloseSend on
// the same socket; every call returns and nothing races.
func TestSocketCloseRaces(t *testing.T) {
	noLeaks(t)
	tr := newHTTP(t)
	l := serveEcho(t, tr)
	ctx := context.Background() // a hang must show, not be cut short
	for i := range 200 {
		s, err := tr.Dial(t.Context(), l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := s.Send(ctx, &transport.Message{Body: []byte("open")}); err != nil {
				t.Fatal(err)
			}
		}
		within(t, "concurrent Close, Send, Recv and CloseSend", func() {
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
			wg.Go(func() { _ = s.Close() })
			wg.Wait()
		})
		if err := s.Send(ctx, &transport.Message{}); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Send after Close = %v, want ErrClosed", err)
		}
	}
	c := tr.conns(l.Addr())
	if len(c) != 1 {
		t.Fatalf("%d connections, want 1", len(c))
	}
	testenv.WaitFor(t, "closed streams leave the client's table", func() bool { return streamCount(c[0]) == 0 })
}

func streamCount(c *conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}

// TestTransportCloseDuringDials: Transport.Close while many goroutines dial
// and use streams; every call returns.
func TestTransportCloseDuringDials(t *testing.T) {
	noLeaks(t)
	l := serveEcho(t, newHTTP(t))
	for range 10 {
		tr := newTransport()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 20 {
			wg.Go(func() {
				<-start
				for {
					s, err := tr.Dial(context.Background(), l.Addr())
					if err != nil {
						if !errors.Is(err, transport.ErrClosed) {
							t.Errorf("Dial on a closing transport = %v, want ErrClosed", err)
						}
						return
					}
					_ = s.Send(context.Background(), &transport.Message{Body: []byte("x")})
					var m transport.Message
					_ = s.Recv(context.Background(), &m)
					_ = s.Close()
				}
			})
		}
		close(start)
		within(t, "Transport.Close during Dials", func() { _ = tr.Close() })
		within(t, "Dials after Transport.Close", wg.Wait)
	}
}

// holdServer accepts TCP connections and never answers the upgrade; the
// first n of them, that is, later ones are upgraded. It reports each
// accepted connection on the returned channel.
func holdServer(t *testing.T, n int) (string, <-chan struct{}) {
	t.Helper()
	var count atomic.Int32
	accepted := make(chan struct{}, 100)
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			accepted <- struct{}{}
			if int(count.Add(1)) <= n {
				continue
			}
			wg.Go(func() {
				if _, err := nethttp.ReadRequest(bufio.NewReader(nc)); err == nil {
					_, _ = io.WriteString(nc, upgradeResponse)
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

// TestTransportCloseAbortsDial: Close does not wait for, and does not
// leave running, a Dial stuck in a slow upgrade.
func TestTransportCloseAbortsDial(t *testing.T) {
	noLeaks(t)
	addr, accepted := holdServer(t, 1)
	tr := newTransport(transport.Timeout(time.Hour))
	errc := make(chan error, 1)
	go func() {
		_, err := tr.Dial(context.Background(), addr)
		errc <- err
	}()
	<-accepted
	_ = tr.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Dial cut short by Close = %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("Dial kept waiting for the upgrade after Transport.Close")
	}
}

// TestDialCancelDuringConnect: a Dial whose ctx ends during the upgrade
// returns promptly with ctx's error, and a Dial that was waiting on that
// connection dials again instead of inheriting the cancellation.
func TestDialCancelDuringConnect(t *testing.T) {
	noLeaks(t)
	addr, accepted := holdServer(t, 1)
	tr := newHTTP(t, transport.Timeout(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := tr.Dial(ctx, addr)
		first <- err
	}()
	<-accepted
	// A second Dial joins the one in progress.
	second := make(chan error, 1)
	go func() {
		s, err := tr.Dial(t.Context(), addr)
		if err == nil {
			_ = s.Close()
		}
		second <- err
	}()
	testenv.WaitFor(t, "second Dial waiting", func() bool {
		tr.mu.RLock()
		defer tr.mu.RUnlock()
		ac := tr.pool[addr]
		return ac != nil && ac.dialing != nil && ac.dialing.waiters.Load() == 1
	})
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Dial = %v, want context.Canceled", err)
		}
	case <-time.After(wait):
		t.Fatal("cancelled Dial did not return")
	}
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("Dial that joined a cancelled dial = %v, want a new connection", err)
		}
	case <-time.After(wait):
		t.Fatal("second Dial did not return")
	}
}

// TestShutdownDuringDials: Shutdown while clients keep opening streams and
// streams are in flight; every call returns, in-flight streams finish, and
// Shutdown returns nil.
func TestShutdownDuringDials(t *testing.T) {
	noLeaks(t)
	for round := range 5 {
		srv := newHTTP(t)
		l, err := srv.Listen(t.Context(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var handlers testenv.Group
		accepted := make(chan error, 1)
		go func() {
			accepted <- l.Accept(func(s transport.Socket) {
				defer s.Close()
				if !handlers.Enter() {
					return
				}
				defer handlers.Leave()
				var m transport.Message
				for s.Recv(context.Background(), &m) == nil {
					if s.Send(context.Background(), &m) != nil {
						return
					}
				}
			})
		}()
		tr := newHTTP(t)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var ok atomic.Int32
		for range 16 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					s, err := tr.Dial(context.Background(), l.Addr())
					if err != nil {
						continue
					}
					for i := range 3 {
						if s.Send(context.Background(), &transport.Message{Body: []byte(strconv.Itoa(i))}) != nil {
							break
						}
						var m transport.Message
						if s.Recv(context.Background(), &m) != nil {
							break
						}
						ok.Add(1)
					}
					_ = s.Close()
				}
			})
		}
		testenv.WaitFor(t, "traffic flowing", func() bool { return ok.Load() > 50 })
		within(t, fmt.Sprintf("round %d: Shutdown", round), func() {
			if err := l.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown = %v", err)
			}
		})
		close(stop)
		within(t, "clients after Shutdown", wg.Wait)
		within(t, "Accept after Shutdown", func() { <-accepted })
		within(t, "handlers after Shutdown", handlers.Wait)
	}
}

// TestPeerDiesMidStream: the listener's connections are cut while client
// streams are blocked in Recv and in Send (out of credit), and handlers
// are blocked in Recv and Send; every call returns an error.
func TestPeerDiesMidStream(t *testing.T) {
	noLeaks(t)
	srv := newHTTP(t)
	l, err := srv.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handlers testenv.Group
	var inHandler sync.WaitGroup
	dead := make(chan struct{})
	handlerErrs := make(chan error, 100)
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			var m transport.Message
			if err := s.Recv(context.Background(), &m); err != nil {
				handlerErrs <- err
				inHandler.Done()
				return
			}
			inHandler.Done()
			switch string(m.Body) {
			case "hold": // block in Recv
				handlerErrs <- s.Recv(context.Background(), &m)
			case "flood": // block in Send: the client does not read
				var err error
				for err == nil {
					err = s.Send(context.Background(), &transport.Message{Body: make([]byte, 64<<10)})
				}
				handlerErrs <- err
			case "stall": // never read, so the client runs out of credit
				handlerErrs <- nil
				<-dead
			}
		})
	}()
	t.Cleanup(func() { _ = l.Close(); <-accepted; handlers.Wait() })

	tr := newHTTP(t)
	ctx := context.Background()
	kinds := []string{"hold", "flood", "stall"}
	var clients sync.WaitGroup
	clientErrs := make(chan error, 100)
	inHandler.Add(3 * len(kinds))
	var blocked sync.WaitGroup
	for _, kind := range kinds {
		for range 3 {
			s, err := tr.Dial(ctx, l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Send(ctx, &transport.Message{Body: []byte(kind)}); err != nil {
				t.Fatal(err)
			}
			blocked.Add(1)
			clients.Go(func() {
				if kind == "stall" {
					var err error
					for n := 0; err == nil; n++ {
						if n == streamWindow/(64<<10) {
							blocked.Done() // the next Send will block
						}
						err = s.Send(ctx, &transport.Message{Body: make([]byte, 64<<10)})
					}
					clientErrs <- err
					return
				}
				blocked.Done()
				var m transport.Message
				var err error
				for err == nil {
					err = s.Recv(ctx, &m)
					if kind == "flood" && err == nil {
						blocked.Wait() // stop reading once everyone is blocked
					}
				}
				clientErrs <- err
			})
		}
	}
	within(t, "streams reaching their handlers", inHandler.Wait)
	within(t, "streams blocking", blocked.Wait)
	_ = l.Close()
	close(dead)
	within(t, "client calls after the server died", clients.Wait)
	close(clientErrs)
	for err := range clientErrs {
		if !errors.Is(err, transport.ErrClosed) && err != io.EOF {
			t.Errorf("client call on a dead connection = %v, want ErrClosed or EOF", err)
		}
	}
	within(t, "handlers after Listener.Close", handlers.Wait)
	testenv.WaitFor(t, "dead connection left the pool", func() bool { return len(tr.conns(l.Addr())) == 0 })
}

// TestServerRestart: after the server restarts on the same address, the
// dead pooled connection is evicted and the next Dial works.
func TestServerRestart(t *testing.T) {
	noLeaks(t)
	for _, stop := range []string{"Close", "Shutdown"} {
		t.Run(stop, func(t *testing.T) {
			tr := newHTTP(t)
			srv := newTransport()
			t.Cleanup(func() { _ = srv.Close() })
			l1, err := srv.Listen(t.Context(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l1.Addr()
			go func() { _ = l1.Accept(echoHandler) }()
			if err := roundTrip(t, tr, addr, "first life"); err != nil {
				t.Fatal(err)
			}
			old := tr.conns(addr)
			if stop == "Close" {
				_ = l1.Close()
			} else if err := l1.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			l2, err := srv.Listen(t.Context(), addr)
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan struct{})
			go func() { defer close(accepted); _ = l2.Accept(echoHandler) }()
			t.Cleanup(func() { _ = l2.Close(); <-accepted })
			testenv.WaitFor(t, "dead connection evicted", func() bool { return len(tr.conns(addr)) == 0 })
			if err := roundTrip(t, tr, addr, "second life"); err != nil {
				t.Fatalf("Dial after the restart: %v", err)
			}
			if c := tr.conns(addr); len(c) != 1 || c[0] == old[0] {
				t.Fatal("not a new connection after the restart")
			}
		})
	}
}

func echoHandler(s transport.Socket) {
	defer s.Close()
	var m transport.Message
	for s.Recv(context.Background(), &m) == nil {
		if s.Send(context.Background(), &m) != nil {
			return
		}
	}
}

// TestIdleCloseRacesDial: connections closing for idleness while Dials
// race with them never fail a Dial or a stream.
func TestIdleCloseRacesDial(t *testing.T) {
	noLeaks(t)
	tr := newHTTP(t)
	tr.idleTimeout = time.Microsecond
	l := serveEcho(t, tr)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				if err := roundTrip(t, tr, l.Addr(), fmt.Sprint(g, i)); err != nil {
					t.Errorf("round trip %d/%d racing an idle close: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestNoHeadOfLineBlocking: 200 streams share one connection while one
// stream's receiver does not read; the others keep going, both ways.
func TestNoHeadOfLineBlocking(t *testing.T) {
	noLeaks(t)
	tr := newHTTP(t)
	srv := newHTTP(t)
	l, err := srv.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var handlers testenv.Group
	drained := make(chan int, 1)
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			ctx := context.Background()
			var m transport.Message
			if s.Recv(ctx, &m) != nil {
				return
			}
			switch string(m.Body) {
			case "slow reader":
				<-release
				n := 0
				for s.Recv(ctx, &m) == nil {
					n++
				}
				drained <- n
			case "slow writer's peer": // floods a client that does not read
				for s.Send(ctx, &transport.Message{Body: make([]byte, 32<<10)}) == nil {
				}
			default:
				for {
					if s.Send(ctx, &m) != nil || s.Recv(ctx, &m) != nil {
						return
					}
				}
			}
		})
	}()
	t.Cleanup(func() { _ = l.Close(); <-accepted; handlers.Wait() })
	ctx := context.Background()

	// One stream whose server side does not read: send until blocked.
	slow, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.Send(ctx, &transport.Message{Body: []byte("slow reader")}); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for {
		sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := slow.Send(sctx, &transport.Message{Body: make([]byte, 32<<10)})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sent++
	}
	// One stream whose client side does not read.
	flooded, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer flooded.Close()
	if err := flooded.Send(ctx, &transport.Message{Body: []byte("slow writer's peer")}); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 198 {
		wg.Go(func() {
			s, err := tr.Dial(ctx, l.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			body := bytes.Repeat([]byte{byte(i)}, 8<<10)
			for round := range 20 {
				if err := s.Send(ctx, &transport.Message{Body: body}); err != nil {
					t.Errorf("stream %d round %d: %v", i, round, err)
					return
				}
				var m transport.Message
				if err := s.Recv(ctx, &m); err != nil || !bytes.Equal(m.Body, body) {
					t.Errorf("stream %d round %d: %v", i, round, err)
					return
				}
			}
		})
	}
	within(t, "198 streams beside two stalled ones", wg.Wait)
	if n := len(tr.conns(l.Addr())); n != 1 {
		t.Fatalf("%d connections, want the streams on one", n)
	}
	close(release)
	if err := slow.CloseSend(); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-drained:
		if n != sent && n != sent+1 {
			t.Fatalf("slow reader drained %d messages, %d were sent (+1 timed out)", n, sent)
		}
	case <-time.After(wait):
		t.Fatal("slow reader did not drain")
	}
}

// TestStreamTablesEmptyAfterUnaryCalls: 10,000 sequential unary exchanges
// leave no stream behind in either side's tables.
func TestStreamTablesEmptyAfterUnaryCalls(t *testing.T) {
	noLeaks(t)
	tr := newHTTP(t)
	l := serveEcho(t, tr)
	ctx := t.Context()
	n := 10000
	if testing.Short() {
		n = 1000
	}
	for i := range n {
		s, err := tr.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, &transport.Message{Body: []byte("ping")}); err != nil {
			t.Fatal(err)
		}
		// Half the calls half-close like a unary client; half just close.
		if i%2 == 0 {
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
		}
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		_ = s.Close()
	}
	cs := tr.conns(l.Addr())
	if len(cs) != 1 {
		t.Fatalf("%d client connections, want 1", len(cs))
	}
	c := cs[0]
	c.mu.Lock()
	streams, active := len(c.streams), c.active
	c.mu.Unlock()
	if streams != 0 || active != 0 {
		t.Errorf("client connection holds %d streams, %d active, want none", streams, active)
	}
	ll := l.(*listener)
	testenv.WaitFor(t, "server stream tables empty", func() bool {
		ll.mu.Lock()
		defer ll.mu.Unlock()
		if ll.active != 0 || len(ll.conns) != 1 {
			return false
		}
		for sc := range ll.conns {
			if streamCount(sc) != 0 {
				return false
			}
		}
		return true
	})
}
