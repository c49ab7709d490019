package nats

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// TestStreamSubjectsUnguessable: a client of a service learns, from the
// ACCEPT of its own stream, the subject of that stream at the service's
// end. From it, it must not be able to find the subjects of the service's
// other streams and reset another client's stream.
func TestStreamSubjectsUnguessable(t *testing.T) {
	addr := outsideAddr(t)
	srv := newTestTransport(t, addr, Keepalive(0))
	l := serveEcho(t, srv, "")
	victim := dial(t, newTestTransport(t, addr, Keepalive(0)), l.Addr())
	roundTrip(t, victim, "before")

	attacker := newTestTransport(t, addr, Keepalive(0))
	own := dial(t, attacker, l.Addr()).(*stream)
	own.mu.Lock()
	peer := own.remote // the service's end of the attacker's own stream
	own.mu.Unlock()
	cut := strings.LastIndexByte(peer, '.')
	prefix, ownID := peer[:cut+1], peer[cut+1:]
	var guesses []string
	for n := range uint64(300) {
		guesses = append(guesses, strconv.FormatUint(n, 36))
	}
	if n, err := strconv.ParseUint(ownID, 36, 64); err == nil {
		for d := range uint64(300) {
			guesses = append(guesses, strconv.FormatUint(n-d, 36), strconv.FormatUint(n+d, 36))
		}
	}
	for _, id := range guesses {
		if id == ownID {
			continue
		}
		if err := attacker.nc.Publish(prefix+id, appendFrame(nil, frameReset, 0, 0, codeClosed, "forged")); err != nil {
			t.Fatal(err)
		}
	}
	// Once the server has the forged frames, anything the victim sends
	// reaches the service's transport after them.
	if err := attacker.nc.FlushTimeout(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, victim, "after")
}

// TestFirstChunkAllocation: the first chunk of a message announces its
// length, but the receiver must not allocate that length before the bytes
// arrive: a 70-byte frame would otherwise cost it MaxMessageSize.
func TestFirstChunkAllocation(t *testing.T) {
	ns := embedded(t, 0, nil)
	tr := newTestTransport(t, ns.ClientURL(), Keepalive(0))
	s := fuzzStream(tr)
	s.maxMsg = 4 << 20
	t.Cleanup(func() { _ = s.Close() })
	s.receive(&natsgo.Msg{Subject: s.local, Reply: s.remote,
		Data: append(appendDataHeader(nil, flagFirst, 1, s.maxMsg), 0)})
	s.mu.Lock()
	n, c, err := len(s.partial), cap(s.partial), s.err
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("the stream failed: %v", err)
	}
	if c > 4096 {
		t.Fatalf("one byte of a %d-byte message received, %d bytes held (%d allocated)", s.maxMsg, n, c)
	}
}

// TestMaxStreams: a listener keeps at most MaxStreams streams open; an
// OPEN beyond that is refused, and once a stream closes there is room for
// another.
func TestMaxStreams(t *testing.T) {
	addr := outsideAddr(t)
	srv := newTestTransport(t, addr, MaxStreams(2))
	l := serve(t, srv, "", func(ctx context.Context, s transport.Socket) {
		for {
			if err := s.Recv(ctx, &transport.Message{}); err != nil {
				return
			}
		}
	})
	client := newTestTransport(t, addr)
	first := dial(t, client, l.Addr())
	dial(t, client, l.Addr())
	_, err := client.Dial(t.Context(), l.Addr())
	if !errors.Is(err, ErrRefused) || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("a third Dial = %v, want ErrRefused", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "room for a stream again", func() bool {
		s, err := client.Dial(t.Context(), l.Addr())
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Dial = %v, want success or ErrRefused", err)
			}
			return false
		}
		_ = s.Close()
		return true
	})
}

// TestMaxStreamsCountsPending: streams waiting for Accept count too, so a
// listener whose Accept is slow or never called holds a bounded number.
func TestMaxStreamsCountsPending(t *testing.T) {
	addr := outsideAddr(t)
	srv := newTestTransport(t, addr, MaxStreams(3))
	l, err := srv.Listen(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	client := newTestTransport(t, addr)
	for range 3 {
		dial(t, client, l.Addr())
	}
	if _, err := client.Dial(t.Context(), l.Addr()); !errors.Is(err, ErrRefused) {
		t.Fatalf("Dial past the limit with Accept never called = %v, want ErrRefused", err)
	}
	ln := l.(*listener)
	ln.mu.Lock()
	pending, open := len(ln.pending), len(ln.sockets)
	ln.mu.Unlock()
	if pending != 3 || open != 3 {
		t.Fatalf("%d pending and %d open streams, want 3 and 3", pending, open)
	}
}

// TestDone: a stream is a transport.DoneSocket, whose Done channel closes
// once the stream can carry nothing more either way, so that the go-micro
// server ends a stream handler's ctx when its client goes away; a
// half-close by the peer does not close it.
func TestDone(t *testing.T) {
	addr := outsideAddr(t)
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
		{"reset by the listener", func(t *testing.T, _, _ transport.Socket, l transport.Listener) { _ = l.Close() }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestTransport(t, addr)
			l, socks := accepted(t, srv)
			client := dial(t, newTestTransport(t, addr), l.Addr())
			if err := client.Send(t.Context(), &transport.Message{Body: []byte("hi")}); err != nil {
				t.Fatal(err)
			}
			server := testenv.Recv(t, "the accepted stream", socks)
			if err := server.Recv(t.Context(), &transport.Message{}); err != nil {
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
			// The half-close has arrived once Recv returns io.EOF.
			if err := client.Recv(t.Context(), &transport.Message{}); err != io.EOF {
				t.Fatalf("Recv = %v, want io.EOF", err)
			}
			select {
			case <-ds.Done():
				t.Fatal("Done closed after a half-close")
			default:
			}
			if err := client.Send(t.Context(), &transport.Message{Body: []byte("still open")}); err != nil {
				t.Fatalf("Send after the peer's half-close = %v", err)
			}
		})
	}
}
