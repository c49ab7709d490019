package http

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// stallCheck asserts that err ended a call because the peer stopped
// reading.
func stallCheck(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "stopped reading") {
		t.Fatalf("%s = %v, want ErrClosed saying the peer stopped reading", what, err)
	}
}

// recvResult runs Recv on s in a goroutine and reports its error.
func recvResult(ctx context.Context, s transport.Socket) <-chan error {
	ch := make(chan error, 1)
	go func() {
		var m transport.Message
		ch <- s.Recv(ctx, &m)
	}()
	return ch
}

func awaitErr(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(2 * wait):
		t.Fatalf("%s never returned", what)
		return nil
	}
}

// TestWriteStall: a peer that upgrades and then never reads fills the
// socket buffers; the writer's deadline then closes the connection, and
// every Send or Recv blocked on it returns an error saying so.
func TestWriteStall(t *testing.T) {
	noLeaks(t)
	big := make([]byte, 4<<20-64)
	t.Run("client", func(t *testing.T) {
		ctx := t.Context()
		addr := rawServer(t, func(_ net.Conn, _ *frameReader) { <-ctx.Done() })
		tr := newHTTP(t)
		tr.writeStall = 100 * time.Millisecond
		callCtx, cancel := context.WithTimeout(ctx, 2*wait)
		defer cancel()

		reader, err := tr.Dial(callCtx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		if err := reader.Send(callCtx, &transport.Message{Body: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
		c := tr.conns(addr)[0]
		recvErr := recvResult(callCtx, reader)

		sendErr := make(chan error, 1)
		go func() {
			// A new stream per message: each has fresh credit, so the
			// bytes pile up in the socket rather than behind flow control.
			var streams []transport.Socket
			defer func() {
				for _, s := range streams {
					_ = s.Close()
				}
			}()
			for {
				s, err := tr.Dial(callCtx, addr)
				if err != nil {
					sendErr <- err
					return
				}
				streams = append(streams, s)
				if err := s.Send(callCtx, &transport.Message{Body: big}); err != nil {
					sendErr <- err
					return
				}
			}
		}()
		stallCheck(t, "Send to a peer that stopped reading", awaitErr(t, "Send", sendErr))
		stallCheck(t, "Recv on the stalled connection", awaitErr(t, "Recv", recvErr))
		if !c.closed() {
			t.Fatal("the stalled connection is still open")
		}
		testenv.WaitFor(t, "stalled connection left the pool", func() bool { return !slices.Contains(tr.conns(addr), c) })
	})
	t.Run("server", func(t *testing.T) {
		tr := newHTTP(t)
		tr.writeStall = 100 * time.Millisecond
		ln, err := tr.Listen(t.Context(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sendErr := make(chan error, 1)
		recvErr := make(chan error, 1)
		var handlers testenv.Group
		accepted := make(chan struct{})
		go func() {
			defer close(accepted)
			_ = ln.Accept(func(s transport.Socket) {
				defer s.Close()
				if !handlers.Enter() {
					return
				}
				defer handlers.Leave()
				ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
				defer cancel()
				var m transport.Message
				if err := s.Recv(ctx, &m); err != nil {
					return
				}
				if string(m.Body) == "recv" {
					recvErr <- s.Recv(ctx, &m)
					return
				}
				for {
					if err := s.Send(ctx, &transport.Message{Body: big}); err != nil {
						sendErr <- err
						return
					}
				}
			})
		}()
		t.Cleanup(func() {
			_ = ln.Close()
			<-accepted
			handlers.Wait()
		})
		nc, _ := rawUpgrade(t, ln.Addr())
		// Stream 1, granted ample credit, streams to a client that never
		// reads; stream 3 waits in Recv.
		write(t, nc, cat(msgFrame(1, "send"), ctrlFrame(frameWindow, 1, 1<<30), msgFrame(3, "recv")))
		stallCheck(t, "handler Send to a client that stopped reading", awaitErr(t, "Send", sendErr))
		stallCheck(t, "handler Recv on the stalled connection", awaitErr(t, "Recv", recvErr))
		testenv.WaitFor(t, "stalled connection left the listener", func() bool { return len(serverConns(ln)) == 0 })
	})
}

// TestServerStreamLimit: a connection may keep maxOpen streams open on the
// server; one more is refused with a RESET, and the connection and its
// other streams carry on.
func TestServerStreamLimit(t *testing.T) {
	noLeaks(t)
	const limit = 3
	tr := newHTTP(t)
	tr.maxOpen = limit
	l := serveEcho(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 2*wait)
	defer cancel()
	echo := func(s transport.Socket, body string) error {
		t.Helper()
		if err := s.Send(ctx, &transport.Message{Body: []byte(body)}); err != nil {
			return err
		}
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return err
		}
		if string(m.Body) != body {
			t.Fatalf("echo = %q, want %q", m.Body, body)
		}
		return nil
	}
	dial := func() transport.Socket {
		t.Helper()
		s, err := tr.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	open := make([]transport.Socket, limit)
	for i := range open {
		open[i] = dial()
		if err := echo(open[i], "first"); err != nil {
			t.Fatalf("stream %d below the limit: %v", i, err)
		}
	}
	over := dial()
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("%s = %v, want ErrClosed saying refused", what, err)
		}
	}
	refused("stream over the limit", echo(over, "over"))
	refused("Send on the refused stream", over.Send(ctx, &transport.Message{Body: []byte("again")}))

	conns := tr.conns(l.Addr())
	if len(conns) != 1 || conns[0].closed() {
		t.Fatalf("after the refusal the pool holds %d connections, want the one healthy connection", len(conns))
	}
	for i, s := range open {
		if err := echo(s, "second"); err != nil {
			t.Fatalf("stream %d below the limit after the refusal: %v", i, err)
		}
	}
	// Closing one frees its slot once the handler closes its end.
	_ = open[0].Close()
	sc := serverConns(l)
	if len(sc) != 1 {
		t.Fatalf("listener holds %d connections, want 1", len(sc))
	}
	testenv.WaitFor(t, "server stream released", func() bool {
		sc[0].mu.Lock()
		defer sc[0].mu.Unlock()
		return sc[0].open < limit
	})
	if err := echo(dial(), "freed"); err != nil {
		t.Fatalf("stream after one closed: %v", err)
	}
	if got := tr.conns(l.Addr()); len(got) != 1 || got[0] != conns[0] {
		t.Fatal("the streams did not stay on the one connection")
	}
}

// TestServerStreamLimitAboveClientPool: a pooling client puts at most
// maxStreamsPerConn streams on a connection; the server's default limit
// leaves room for handlers still finishing streams the client closed.
func TestServerStreamLimitAboveClientPool(t *testing.T) {
	tr := newHTTP(t)
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.(*listener).maxOpen; got < 2*maxStreamsPerConn {
		t.Fatalf("server stream limit %d, want at least twice the client's %d", got, maxStreamsPerConn)
	}
}
