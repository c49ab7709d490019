package rabbitmq

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// TestDeadServer kills the listener's process (its broker connection is
// cut and never comes back): the client's open stream fails instead of
// waiting, and a new Dial says nothing listens there.
func TestDeadServer(t *testing.T) {
	var cut cutter
	srv := newTestTransport(t, withDialer(cut.dial))
	cli := newTestTransport(t)
	held := make(chan struct{})
	serverErr := make(chan error, 1)
	l := serve(t, srv, "127.0.0.1:0", func(s transport.Socket) {
		var m transport.Message
		if err := s.Recv(context.Background(), &m); err != nil {
			serverErr <- err
			return
		}
		close(held)
		serverErr <- s.Recv(context.Background(), &m)
	})
	ctx := waitCtx(t)
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{Body: []byte("hold")}); err != nil {
		t.Fatal(err)
	}
	testenv.Wait(t, "the stream to be held", held)

	cut.cut(true)

	var m transport.Message
	err = s.Recv(ctx, &m)
	if ctx.Err() != nil {
		t.Fatalf("Recv on a stream to a dead server hung: %v", err)
	}
	if !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Recv = %v, want an error matching transport.ErrClosed", err)
	}
	if err := testenv.Recv(t, "the server's Recv to fail", serverErr); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("server Recv after losing its connection = %v, want transport.ErrClosed", err)
	}
	// The queue went with the connection; RabbitMQ may take a moment to
	// notice the closed socket.
	var dialErr error
	testenv.WaitFor(t, "Dial to fail with ErrNoListener", func() bool {
		p, err := cli.Dial(ctx, l.Addr())
		if err == nil {
			_ = p.Close()
		}
		dialErr = err
		return errors.Is(err, ErrNoListener)
	})
	if !strings.Contains(dialErr.Error(), l.Addr()) {
		t.Errorf("Dial error %q does not name the address", dialErr)
	}
}

// TestDeadClient kills a client's process: the server's stream fails
// within about ProbeInterval, and the client transport reconnects for
// the next Dial.
func TestDeadClient(t *testing.T) {
	var cut cutter
	srv := newTestTransport(t)
	cli := newTestTransport(t, withDialer(cut.dial))
	held := make(chan struct{}, 1)
	serverErr := make(chan error, 1)
	l := serve(t, srv, "127.0.0.1:0", func(s transport.Socket) {
		var m transport.Message
		if err := s.Recv(context.Background(), &m); err != nil {
			return
		}
		if string(m.Body) != "hold" {
			_ = s.Send(context.Background(), &m)
			echo(s)
			return
		}
		held <- struct{}{}
		serverErr <- s.Recv(context.Background(), &m)
	})
	ctx := waitCtx(t)
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, &transport.Message{Body: []byte("hold")}); err != nil {
		t.Fatal(err)
	}
	testenv.Recv(t, "the stream to be held", held)

	cut.cut(true)

	if err := testenv.Recv(t, "the server's Recv to fail", serverErr); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("server Recv from a dead client = %v, want transport.ErrClosed", err)
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); !errors.Is(err, transport.ErrClosed) || ctx.Err() != nil {
		t.Errorf("client Recv after losing the connection = %v, want transport.ErrClosed", err)
	}
	if err := s.Send(ctx, &transport.Message{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("client Send after losing the connection = %v, want transport.ErrClosed", err)
	}
	_ = s.Close()
	// Refused: a Dial reports the broker unreachable, promptly.
	if _, err := cli.Dial(ctx, l.Addr()); err == nil || ctx.Err() != nil {
		t.Fatalf("Dial with the broker unreachable = %v, want an error", err)
	}
	cut.allow()
	if err := roundTrip(ctx, cli, l.Addr(), "again"); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
}

// TestListenerReconnects cuts the server's connection and lets it come
// back: accepted streams fail, and the listener serves again under the
// same address.
func TestListenerReconnects(t *testing.T) {
	var cut cutter
	srv := newTestTransport(t, withDialer(cut.dial))
	cli := newTestTransport(t)
	held := make(chan struct{}, 1)
	serverErr := make(chan error, 1)
	l := serve(t, srv, "127.0.0.1:0", func(s transport.Socket) {
		var m transport.Message
		if err := s.Recv(context.Background(), &m); err != nil {
			return
		}
		if string(m.Body) != "hold" {
			_ = s.Send(context.Background(), &m)
			echo(s)
			return
		}
		held <- struct{}{}
		serverErr <- s.Recv(context.Background(), &m)
	})
	ctx := waitCtx(t)
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{Body: []byte("hold")}); err != nil {
		t.Fatal(err)
	}
	testenv.Recv(t, "the stream to be held", held)
	cut.cut(false)
	if err := testenv.Recv(t, "the accepted stream to fail", serverErr); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("server Recv after the connection was cut = %v, want transport.ErrClosed", err)
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); !errors.Is(err, transport.ErrClosed) || ctx.Err() != nil {
		t.Errorf("client Recv on a stream the server lost = %v, want transport.ErrClosed", err)
	}
	testenv.WaitFor(t, "the listener to serve again", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return roundTrip(rctx, cli, l.Addr(), "back") == nil
	})
	if n := cut.count(); n < 2 {
		t.Errorf("the server dialled the broker %d times, want a reconnection", n)
	}
}

// TestOneConnection: listeners and dialled streams of one transport share
// one AMQP connection.
func TestOneConnection(t *testing.T) {
	var c cutter
	tr := newTestTransport(t, withDialer(c.dial))
	ls := []transport.Listener{serve(t, tr, "", echo), serve(t, tr, "127.0.0.1:0", echo)}
	ctx := waitCtx(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := roundTrip(ctx, tr, ls[i%2].Addr(), "x"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := c.count(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestListenAddresses(t *testing.T) {
	a := newTestTransport(t)
	b := newTestTransport(t)
	ctx := waitCtx(t)
	name := "micro.transport.test." + randomHex(8)
	l := serve(t, a, name, echo)
	if l.Addr() != name {
		t.Fatalf("Addr() = %q, want %q", l.Addr(), name)
	}
	if err := roundTrip(ctx, b, name, "named"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Listen(ctx, name); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("Listen on a queue another connection holds = %v, want ErrAddrInUse", err)
	}
	// The failed Listen left b working.
	if err := roundTrip(ctx, b, name, "still"); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"", "127.0.0.1:0", "[::1]:8080", ":0"} {
		g, err := a.Listen(ctx, addr)
		if err != nil {
			t.Fatalf("Listen(%q): %v", addr, err)
		}
		if !strings.HasPrefix(g.Addr(), "micro.transport.") {
			t.Errorf("Listen(%q).Addr() = %q, want a generated queue name", addr, g.Addr())
		}
		if _, _, err := net.SplitHostPort(g.Addr()); err == nil {
			t.Errorf("generated name %q parses as host:port", g.Addr())
		}
		_ = g.Close()
	}
	for _, addr := range []string{"amq.reserved", strings.Repeat("q", 256)} {
		if _, err := a.Listen(ctx, addr); err == nil {
			t.Errorf("Listen(%.20q) succeeded", addr)
		}
	}
	for _, addr := range []string{"", strings.Repeat("q", 256)} {
		if _, err := a.Dial(ctx, addr); err == nil {
			t.Errorf("Dial(%.20q) succeeded", addr)
		}
	}
	if _, err := a.Dial(ctx, "micro.transport.nothing."+randomHex(8)); !errors.Is(err, ErrNoListener) {
		t.Errorf("Dial to a queue that does not exist = %v, want ErrNoListener", err)
	}
}

// TestReceiverLimit: a message over the receiver's (smaller) limit resets
// its stream on both ends with ErrMessageTooLarge; the transports go on.
func TestReceiverLimit(t *testing.T) {
	srv := newTestTransport(t, transport.MaxMessageSize(64<<10))
	cli := newTestTransport(t, transport.MaxMessageSize(1<<20))
	serverErr := make(chan error, 1)
	l := serve(t, srv, "", func(s transport.Socket) {
		var m transport.Message
		err := s.Recv(context.Background(), &m)
		if err == nil && string(m.Body) == "small" {
			_ = s.Send(context.Background(), &m)
			return
		}
		serverErr <- err
	})
	ctx := waitCtx(t)
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{Body: make([]byte, 100<<10)}); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Recv(t, "the server's Recv", serverErr); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("server Recv of a message over its limit = %v, want ErrMessageTooLarge", err)
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); !errors.Is(err, transport.ErrMessageTooLarge) || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("client Recv after the reset = %v, want ErrMessageTooLarge and ErrClosed", err)
	}
	if err := roundTrip(ctx, cli, l.Addr(), "small"); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownCutShort: Shutdown whose ctx ends closes the streams still
// open and returns ctx's error.
func TestShutdownCutShort(t *testing.T) {
	srv := newTestTransport(t)
	cli := newTestTransport(t)
	held := make(chan struct{})
	l := serve(t, srv, "", func(s transport.Socket) {
		var m transport.Message
		if s.Recv(context.Background(), &m) != nil {
			return
		}
		close(held)
		_ = s.Recv(context.Background(), &m) // until Shutdown closes it
	})
	ctx := waitCtx(t)
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{}); err != nil {
		t.Fatal(err)
	}
	testenv.Wait(t, "the stream to be held", held)
	sctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Shutdown(sctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); err != io.EOF {
		t.Fatalf("client Recv after the listener closed = %v, want io.EOF", err)
	}
	if _, err := cli.Dial(ctx, l.Addr()); !errors.Is(err, ErrNoListener) {
		t.Fatalf("Dial after Shutdown = %v, want ErrNoListener", err)
	}
}

// TestClientChannelError: RabbitMQ closing the channel of dialled streams
// (a channel error, the connection lives on) fails those streams; the
// next Dial builds a new channel on the same connection, and the old
// reply queue is deleted.
func TestClientChannelError(t *testing.T) {
	var c cutter
	tr := newTestTransport(t, withDialer(c.dial))
	l := serve(t, tr, "", echo)
	ctx := waitCtx(t)
	s, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cc, _ := tr.currentClient()
	old := cc.queue
	// Publishing to an exchange that does not exist is a channel error:
	// RabbitMQ closes the channel.
	if err := cc.ch.Publish("micro.transport.test.no-such-exchange", "q", false, false, amqp.Publishing{}); err != nil {
		t.Fatal(err)
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); !errors.Is(err, transport.ErrClosed) || ctx.Err() != nil {
		t.Fatalf("Recv on a stream whose channel closed = %v, want transport.ErrClosed", err)
	}
	if err := roundTrip(ctx, tr, l.Addr(), "again"); err != nil {
		t.Fatal(err)
	}
	if n := c.count(); n != 1 {
		t.Fatalf("%d connections, want the first one reused", n)
	}
	raw := newRawPeer(t)
	testenv.WaitFor(t, "the old reply queue to be deleted", func() bool {
		ch, err := raw.conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.QueueDeclarePassive(old, false, false, true, false, nil)
		_ = ch.Close()
		return err != nil
	})
}
