package nats

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// serveEcho listens on tr and echoes every message until the peer
// half-closes; cleanup closes the listener and waits for the handlers.
func serveEcho(t *testing.T, tr transport.Transport, addr string) transport.Listener {
	t.Helper()
	return serve(t, tr, addr, func(ctx context.Context, s transport.Socket) {
		for {
			var m transport.Message
			if s.Recv(ctx, &m) != nil || s.Send(ctx, &m) != nil {
				return
			}
		}
	})
}

// serve listens on tr and runs handler for every stream; cleanup closes
// the listener and waits for Accept and the handlers.
func serve(t *testing.T, tr transport.Transport, addr string, handler func(context.Context, transport.Socket)) transport.Listener {
	t.Helper()
	l, err := tr.Listen(t.Context(), addr)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var handlers testenv.Group
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer func() { _ = s.Close() }()
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			handler(ctx, s)
		})
	}()
	t.Cleanup(func() {
		cancel()
		_ = l.Close()
		// Accept returns nil once closed, or ErrConnectionLost when the
		// test killed the connection.
		if err := testenv.Recv(t, "Accept to return", accepted); err != nil && !errors.Is(err, ErrConnectionLost) {
			t.Errorf("Accept = %v", err)
		}
		done := make(chan struct{})
		go func() { handlers.Wait(); close(done) }()
		testenv.Wait(t, "the handlers to return", done)
	})
	return l
}

func dial(t *testing.T, tr transport.Transport, addr string) transport.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := tr.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func roundTrip(t *testing.T, s transport.Socket, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Send(ctx, &transport.Message{Body: []byte(body)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if string(m.Body) != body {
		t.Fatalf("Recv = %q, want %q", m.Body, body)
	}
}

// TestDialNoResponders: a Dial to a subject nobody listens on fails with
// nats.ErrNoResponders, reported by the server, not by a timeout (the
// transport's Timeout and the ctx are far longer than the test allows).
func TestDialNoResponders(t *testing.T) {
	addr := outsideAddr(t)
	tr := newTestTransport(t, addr, transport.Timeout(time.Hour))
	tests := []struct {
		addr, hint string
	}{
		{"micro.transport.nobody-" + randomID(), "nothing listens on that subject"},
		{"127.0.0.1:9", "dials subjects, not host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				s, err := tr.Dial(context.Background(), tc.addr)
				if err == nil {
					_ = s.Close()
				}
				errc <- err
			}()
			err := testenv.Recv(t, "Dial to fail", errc)
			if !errors.Is(err, natsgo.ErrNoResponders) {
				t.Fatalf("Dial = %v, want nats.ErrNoResponders", err)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("Dial = %q, want it to say %q", err, tc.hint)
			}
		})
	}
}

func TestDialInvalidSubject(t *testing.T) {
	tr := newTestTransport(t, outsideAddr(t))
	for _, addr := range []string{"", "a..b", "a.*", "a b", "a.>"} {
		if _, err := tr.Dial(t.Context(), addr); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("Dial(%q) = %v, want ErrInvalidSubject", addr, err)
		}
	}
}

// TestKilledPeer: when the process at the other end dies (its connection
// closes without a word), a Recv waiting on the stream ends with
// ErrPeerGone at the next keepalive PING, which the NATS server answers
// with "no responders". The test drives the keepalive itself, so that only
// that answer can end the stream.
func TestKilledPeer(t *testing.T) {
	addr := outsideAddr(t)
	client := newTestTransport(t, addr, Keepalive(0))
	server := newTestTransport(t, addr)
	l := serveEcho(t, server, "")
	s := dial(t, client, l.Addr())
	roundTrip(t, s, "hello")

	recvErr := make(chan error, 1)
	go func() {
		var m transport.Message
		recvErr <- s.Recv(context.Background(), &m)
	}()
	server.nc.Close() // as a crash would: no RESET, no CLOSE
	// The NATS server drops the dead connection's subscriptions on its
	// own time: PING until it answers "no responders".
	cs := s.(*stream)
	var err error
	testenv.WaitFor(t, "Recv to fail after the peer died", func() bool {
		select {
		case err = <-recvErr:
			return true
		default:
		}
		cs.mu.Lock()
		cs.pingOut = false // never late: only the server's answer may end it
		cs.mu.Unlock()
		cs.keepalive(time.Now().Add(time.Hour), time.Hour)
		return false
	})
	if !errors.Is(err, ErrPeerGone) || !errors.Is(err, transport.ErrClosed) || !errors.Is(err, natsgo.ErrNoResponders) {
		t.Fatalf("Recv = %v, want ErrPeerGone, nats.ErrNoResponders and transport.ErrClosed", err)
	}
	if err := s.Send(t.Context(), &transport.Message{Body: []byte("anyone?")}); !errors.Is(err, ErrPeerGone) {
		t.Errorf("Send after the peer died = %v, want ErrPeerGone", err)
	}
}

// TestKilledPeerWhileSending: a Send waiting for credit from a peer that
// dies fails instead of waiting for ever. The test drives the keepalive
// itself: with a real one, a loaded machine answering a PING late would
// fail the stream before the sender ran out of credit.
func TestKilledPeerWhileSending(t *testing.T) {
	addr := outsideAddr(t)
	client := newTestTransport(t, addr, Keepalive(0))
	server := newTestTransport(t, addr)
	got := make(chan struct{})
	l := serve(t, server, "", func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		if s.Recv(ctx, &m) == nil {
			close(got)
		}
		<-ctx.Done() // reads nothing more
	})
	s := dial(t, client, l.Addr())
	if err := s.Send(t.Context(), &transport.Message{Body: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	testenv.Wait(t, "the server to read", got)
	sendErr := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = s.Send(context.Background(), &transport.Message{Body: make([]byte, 64<<10)})
		}
		sendErr <- err
	}()
	cs := s.(*stream)
	testenv.WaitFor(t, "the sender to run out of credit", func() bool {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.credit <= 0
	})
	server.nc.Close()
	// Only the NATS server's "no responders" answer to a PING may end it.
	var err error
	testenv.WaitFor(t, "the blocked Send to fail", func() bool {
		select {
		case err = <-sendErr:
			return true
		default:
		}
		cs.mu.Lock()
		cs.pingOut = false
		cs.mu.Unlock()
		cs.keepalive(time.Now().Add(time.Hour), time.Hour)
		return false
	})
	if !errors.Is(err, ErrPeerGone) || !errors.Is(err, natsgo.ErrNoResponders) {
		t.Fatalf("Send = %v, want ErrPeerGone from nats.ErrNoResponders", err)
	}
}

// TestSilentPeer: a peer that accepted a stream but answers nothing (hung,
// or cut off by the network) fails the stream with ErrPeerGone once a
// keepalive PING goes unanswered.
func TestSilentPeer(t *testing.T) {
	addr := outsideAddr(t)
	nc, err := natsgo.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	listen := "micro.test.silent." + randomID()
	peer := listen + ".stream"
	var pings, resets atomic.Int64
	if _, err := nc.Subscribe(listen, func(m *natsgo.Msg) {
		if f, err := parseFrame(m.Data); err == nil && f.typ == frameOpen {
			_ = nc.PublishRequest(m.Reply, peer, appendFrame(nil, frameAccept, protocolVersion, 0, DefaultWindow, ""))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(peer, func(m *natsgo.Msg) {
		if f, err := parseFrame(m.Data); err == nil {
			switch f.typ {
			case framePing:
				pings.Add(1)
			case frameReset:
				resets.Add(1)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	client := newTestTransport(t, addr, Keepalive(100*time.Millisecond))
	s := dial(t, client, listen)
	errc := make(chan error, 1)
	go func() {
		var m transport.Message
		errc <- s.Recv(context.Background(), &m)
	}()
	err = testenv.Recv(t, "Recv to fail", errc)
	if !errors.Is(err, ErrPeerGone) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("Recv = %v, want ErrPeerGone for an unanswered keepalive", err)
	}
	testenv.WaitFor(t, "the PING and the RESET to reach the peer", func() bool {
		return pings.Load() >= 1 && resets.Load() == 1
	})
}

// TestKeepaliveSparesLiveStreams: a stream silent for many keepalive
// intervals, whose peer answers PINGs, stays open. The test drives the
// keepalive check itself, with a clock of its own, so that no answer can
// be late on a loaded machine.
func TestKeepaliveSparesLiveStreams(t *testing.T) {
	addr := outsideAddr(t)
	client := newTestTransport(t, addr, Keepalive(0))
	server := newTestTransport(t, addr, Keepalive(0))
	release := make(chan struct{})
	l := serve(t, server, "", func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		if s.Recv(ctx, &m) != nil {
			return
		}
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		_ = s.Send(ctx, &transport.Message{Body: []byte("late")})
	})
	s := dial(t, client, l.Addr())
	if err := s.Send(t.Context(), &transport.Message{Body: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	cs := s.(*stream)
	const d = time.Second
	now := time.Now()
	for i := range 5 {
		// Silent for far longer than d by the test's clock: a PING goes
		// out, and the answer clears it before the next round.
		now = now.Add(time.Hour)
		cs.keepalive(now, d)
		testenv.WaitFor(t, "the PONG", func() bool { return client.pongs.Load() == int64(i+1) })
	}
	cs.mu.Lock()
	alive, pingOut := cs.err == nil, cs.pingOut
	cs.mu.Unlock()
	if !alive || pingOut {
		t.Fatalf("after answered PINGs: alive %v, PING outstanding %v", alive, pingOut)
	}
	close(release)
	var m transport.Message
	if err := s.Recv(t.Context(), &m); err != nil || string(m.Body) != "late" {
		t.Fatalf("Recv = %q, %v; want late", m.Body, err)
	}
}

// TestKeepaliveTimeout: a PING left unanswered for the keepalive interval
// fails the stream.
func TestKeepaliveTimeout(t *testing.T) {
	addr := outsideAddr(t)
	client := newTestTransport(t, addr, Keepalive(0))
	l := serveEcho(t, newTestTransport(t, addr, Keepalive(0)), "")
	s := dial(t, client, l.Addr())
	cs := s.(*stream)
	const d = time.Second
	now := time.Now()
	cs.mu.Lock()
	cs.pingOut, cs.pingAt = true, now // a PING that was never answered
	cs.mu.Unlock()
	cs.keepalive(now.Add(d/2), d) // not yet late
	cs.mu.Lock()
	alive := cs.err == nil
	cs.mu.Unlock()
	if !alive {
		t.Fatal("the stream failed before its PING was late")
	}
	cs.keepalive(now.Add(d), d)
	err := s.Recv(t.Context(), &transport.Message{})
	if !errors.Is(err, ErrPeerGone) || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Recv = %v, want ErrPeerGone", err)
	}
}
