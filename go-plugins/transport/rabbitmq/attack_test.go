package rabbitmq

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// publishConfirmed publishes each of pubs to the queue to and waits until
// RabbitMQ has them in that queue.
func publishConfirmed(t *testing.T, p *rawPeer, to string, pubs ...amqp.Publishing) {
	t.Helper()
	ch, err := p.conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for _, pub := range pubs {
		if pub.ReplyTo == "" {
			pub.ReplyTo = p.queue
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(waitCtx(t), "", to, false, false, pub)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(waitCtx(t)); !ok || err != nil {
			t.Fatalf("publish to %s not confirmed: %v", to, err)
		}
	}
}

// TestForgedFramesFromAnotherService: a service that a client dials sees
// the client's reply queue and the id of the stream it opened. From them
// it must not be able to forge the answers of another service on the
// client's stream to that service.
func TestForgedFramesFromAnotherService(t *testing.T) {
	honest := newTestTransport(t)
	lh := serve(t, honest, "", echo)
	evil := newRawPeer(t) // a listener on its own queue
	victim := newTestTransport(t)
	ctx := waitCtx(t)

	toHonest, err := victim.Dial(ctx, lh.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer toHonest.Close()
	toEvil, err := victim.Dial(ctx, evil.queue)
	if err != nil {
		t.Fatal(err)
	}
	defer toEvil.Close()
	var open amqp.Delivery
	for open.Type != typeOpen {
		select {
		case open = <-evil.in:
		case <-ctx.Done():
			t.Fatal("no open frame reached the evil service")
		}
	}
	// The ids the client's other streams may have, guessed from this one.
	var forged []amqp.Publishing
	guess := func(id string) {
		forged = append(forged, amqp.Publishing{Type: typeData, CorrelationId: id, ReplyTo: lh.Addr(), Body: []byte("forged")})
	}
	if cut := strings.LastIndexByte(open.CorrelationId, '.'); cut >= 0 {
		prefix := open.CorrelationId[:cut+1]
		if n, err := strconv.ParseUint(open.CorrelationId[cut+1:], 36, 64); err == nil {
			for d := range uint64(50) {
				guess(prefix + strconv.FormatUint(n-d, 36))
			}
		}
	}
	guess(open.CorrelationId)
	publishConfirmed(t, evil, open.ReplyTo, forged...)

	// The echo is published after the forged frames sit in the queue.
	if err := toHonest.Send(ctx, &transport.Message{Body: []byte("ping")}); err != nil {
		t.Fatal(err)
	}
	var m transport.Message
	if err := toHonest.Recv(ctx, &m); err != nil || string(m.Body) != "ping" {
		t.Fatalf("Recv on the stream to the honest service = %q, %v; want the echo", m.Body, err)
	}
}

// TestOpenFromAListenerQueue: an open frame whose reply-to is not a
// dialler's reply queue (here, the listener's own queue: a stream that
// would talk to itself for ever) is dropped.
func TestOpenFromAListenerQueue(t *testing.T) {
	srv := newTestTransport(t)
	l := serve(t, srv, "", echo)
	p := newRawPeer(t)
	publishConfirmed(t, p, l.Addr(),
		amqp.Publishing{Type: typeOpen, CorrelationId: "loop", ReplyTo: l.Addr()},
		amqp.Publishing{Type: typeData, CorrelationId: "loop", ReplyTo: l.Addr(), Body: []byte("ping")},
	)
	// The listener handles its queue in order: once this round trip is
	// done, it has seen the forged frames.
	if err := roundTrip(waitCtx(t), newTestTransport(t), l.Addr(), "x"); err != nil {
		t.Fatal(err)
	}
	ln := l.(*listener)
	ln.mu.Lock()
	defer ln.mu.Unlock()
	for k := range ln.streams {
		if k.replyTo == l.Addr() {
			t.Fatalf("the listener accepted a stream to its own queue")
		}
	}
}

// TestListenOnAReplyQueueName: Listen refuses names of the form of the
// transport's reply queues.
func TestListenOnAReplyQueueName(t *testing.T) {
	tr := newTestTransport(t)
	name := "micro.transport." + randomHex(8) + ".reply.1"
	if l, err := tr.Listen(waitCtx(t), name); err == nil {
		_ = l.Close()
		t.Fatalf("Listen(%q) worked", name)
	}
}

// TestMaxStreams: a listener keeps at most MaxStreams streams open; one
// beyond is refused, and once a stream closes there is room again.
func TestMaxStreams(t *testing.T) {
	srv := newTestTransport(t, MaxStreams(2))
	l := serve(t, srv, "", echo)
	cli := newTestTransport(t)
	ctx := waitCtx(t)
	var open []transport.Socket
	for range 2 {
		s, err := cli.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		open = append(open, s)
		if err := s.Send(ctx, &transport.Message{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Recv(ctx, &transport.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := cli.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Recv(ctx, &transport.Message{}); !errors.Is(err, errRefused) {
		t.Fatalf("Recv on a stream past the limit = %v, want it refused", err)
	}
	_ = s.Close()
	_ = open[0].Close()
	testenv.WaitFor(t, "room for a stream again", func() bool {
		rctx, cancel := context.WithTimeout(ctx, testenv.Patience/4)
		defer cancel()
		return roundTrip(rctx, cli, l.Addr(), "again") == nil
	})
}

// TestDone: a stream is a transport.DoneSocket, whose Done channel closes
// once the stream can carry nothing more either way; a half-close by the
// peer does not close it.
func TestDone(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, local, peer transport.Socket, l transport.Listener)
		done bool
	}{
		{"peer half-closed", func(t *testing.T, _, peer transport.Socket, _ transport.Listener) {
			if err := peer.CloseSend(); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"peer closed", func(t *testing.T, _, peer transport.Socket, _ transport.Listener) { _ = peer.Close() }, true},
		{"closed here", func(t *testing.T, local, _ transport.Socket, _ transport.Listener) { _ = local.Close() }, true},
		{"listener closed", func(t *testing.T, _, _ transport.Socket, l transport.Listener) { _ = l.Close() }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			socks := make(chan transport.Socket, 1)
			release := make(chan struct{})
			l := serve(t, newTestTransport(t), "", func(s transport.Socket) {
				socks <- s
				<-release
			})
			t.Cleanup(func() { close(release) })
			ctx := waitCtx(t)
			client, err := newTestTransport(t).Dial(ctx, l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if err := client.Send(ctx, &transport.Message{Body: []byte("hi")}); err != nil {
				t.Fatal(err)
			}
			server := testenv.Recv(t, "the accepted stream", socks)
			if err := server.Recv(ctx, &transport.Message{}); err != nil {
				t.Fatal(err)
			}
			ds, ok := client.(transport.DoneSocket)
			if !ok {
				t.Fatal("the stream is not a transport.DoneSocket")
			}
			tc.end(t, client, server, l)
			if tc.done {
				testenv.Wait(t, "Done to close", ds.Done())
				return
			}
			if err := client.Recv(ctx, &transport.Message{}); err != io.EOF {
				t.Fatalf("Recv = %v, want io.EOF", err)
			}
			select {
			case <-ds.Done():
				t.Fatal("Done closed after a half-close")
			default:
			}
			if err := client.Send(ctx, &transport.Message{Body: []byte("still open")}); err != nil {
				t.Fatalf("Send after the peer's half-close = %v", err)
			}
		})
	}
}

// TestListenerAnswersOnlyReplyQueues: frames at a listener's queue come
// from diallers' reply queues; a listener answers no other, so that a
// forged probe (16 KiB listing thousands of ids) cannot make it send
// resets to any queue one names.
func TestListenerAnswersOnlyReplyQueues(t *testing.T) {
	l := serve(t, newTestTransport(t), "", echo)
	p := newRawPeer(t)
	other, err := p.ch.QueueDeclare("micro.transport.test."+randomHex(8), false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	publishConfirmed(t, p, l.Addr(),
		amqp.Publishing{Type: typeProbe, ReplyTo: other.Name, Body: []byte("ghost.1\nghost.2")},
		amqp.Publishing{Type: typeData, ReplyTo: other.Name, CorrelationId: "ghost.3", Body: []byte("?")},
		amqp.Publishing{Type: typeProbe, Body: []byte("marker")},
	)
	// The listener answers in order on one channel: once the marker's
	// reset is here, any answer to the other queue would be in it.
	if code := p.expectReset("marker"); code != codeUnknown {
		t.Fatalf("marker reset code %d", code)
	}
	if _, ok, err := p.ch.Get(other.Name, true); err != nil || ok {
		t.Fatalf("the listener answered a queue that is not a reply queue (%v)", err)
	}
}

// TestListenTwiceOnOneName: a transport's second Listen on a queue name
// it already listens on fails with ErrAddrInUse, as it does from another
// connection. (RabbitMQ lets the connection that owns an exclusive queue
// declare and consume it again: two listeners would split each stream's
// frames between them, and the first to close would delete the other's
// queue.) Once the first closes, the name is free again.
func TestListenTwiceOnOneName(t *testing.T) {
	tr := newTestTransport(t)
	name := "micro.test.twice." + randomHex(8)
	l := serve(t, tr, name, echo)
	if l2, err := tr.Listen(waitCtx(t), name); !errors.Is(err, ErrAddrInUse) {
		if err == nil {
			_ = l2.Close()
		}
		t.Fatalf("second Listen(%q) = %v, want ErrAddrInUse", name, err)
	}
	if err := roundTrip(waitCtx(t), newTestTransport(t), name, "still served"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l3 := serve(t, tr, name, echo)
	if err := roundTrip(waitCtx(t), newTestTransport(t), l3.Addr(), "again"); err != nil {
		t.Fatal(err)
	}
}
