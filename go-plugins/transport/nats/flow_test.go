package nats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// accepted serves streams of tr by handing them to the test.
func accepted(t *testing.T, tr transport.Transport) (transport.Listener, <-chan transport.Socket) {
	t.Helper()
	socks := make(chan transport.Socket, 16)
	l := serve(t, tr, "", func(ctx context.Context, s transport.Socket) {
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				_ = s.Close()
			case <-done:
			}
		}()
		defer close(done)
		socks <- s
		<-ctx.Done()
	})
	return l, socks
}

// TestReceiverBuffersOneWindow: a receiver that reads nothing holds at most
// its window plus one message, whatever the sender tries, and the sender
// blocks; once the receiver reads, every message arrives in order.
func TestReceiverBuffersOneWindow(t *testing.T) {
	ns := embedded(t, 0, func(o *server.Options) { o.MaxPayload = 4 << 10 })
	const window, maxMsg = 16 << 10, 64 << 10
	opts := []transport.Option{Window(window), transport.MaxMessageSize(maxMsg)}
	client := newTestTransport(t, ns.ClientURL(), opts...)
	srv := newTestTransport(t, ns.ClientURL(), opts...)
	l, socks := accepted(t, srv)
	s := dial(t, client, l.Addr())

	msg := func(i int) *transport.Message {
		body := make([]byte, 8+(i*7919)%(20<<10))
		binary.BigEndian.PutUint64(body, uint64(i))
		for j := 8; j < len(body); j++ {
			body[j] = byte(i + j)
		}
		return &transport.Message{Header: map[string]string{"I": fmt.Sprint(i)}, Body: body}
	}
	sent := 0
	for ; ; sent++ {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := s.Send(ctx, msg(sent))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("Send %d: %v", sent, err)
		}
		if sent > 10000 {
			t.Fatal("Send never blocked")
		}
	}
	ss := testenv.Recv(t, "the accepted stream", socks).(*stream)
	// Everything sent has arrived once the receiver holds the credit the
	// sender used up.
	cs := s.(*stream)
	cs.mu.Lock()
	used := window - cs.credit
	cs.mu.Unlock()
	testenv.WaitFor(t, "the frames to arrive", func() bool {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return ss.inflight == used
	})
	if limit := int64(window + maxMsg + (maxMsg/(4<<10)+2)*frameCost); used > limit {
		t.Errorf("the receiver holds %d bytes, over window plus one message (%d)", used, limit)
	}
	t.Logf("sent %d messages (%d bytes of credit) before Send blocked", sent, used)

	// Now both sides run: 2000 more messages, none lost or reordered.
	const more = 2000
	sendErr := make(chan error, 1)
	go func() {
		for i := sent; i < sent+more; i++ {
			if err := s.Send(t.Context(), msg(i)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- s.CloseSend()
	}()
	for i := range sent + more {
		var m transport.Message
		if err := ss.Recv(t.Context(), &m); err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		want := msg(i)
		if m.Header["I"] != want.Header["I"] || !bytes.Equal(m.Body, want.Body) {
			t.Fatalf("message %d: got I=%s with %d bytes", i, m.Header["I"], len(m.Body))
		}
	}
	if err := ss.Recv(t.Context(), &transport.Message{}); err != io.EOF {
		t.Fatalf("Recv after the last message = %v, want io.EOF", err)
	}
	if err := testenv.Recv(t, "the sender", sendErr); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverLimit: a message over the receiver's MaxMessageSize (but
// within the sender's) resets the stream; both ends get an error that
// matches transport.ErrMessageTooLarge and transport.ErrClosed.
func TestReceiverLimit(t *testing.T) {
	addr := outsideAddr(t)
	client := newTestTransport(t, addr)
	srv := newTestTransport(t, addr, transport.MaxMessageSize(64<<10))
	l, socks := accepted(t, srv)
	s := dial(t, client, l.Addr())
	if err := s.Send(t.Context(), &transport.Message{Body: make([]byte, 100<<10)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ss := testenv.Recv(t, "the accepted stream", socks)
	err := ss.Recv(t.Context(), &transport.Message{})
	if !errors.Is(err, transport.ErrMessageTooLarge) || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("receiver Recv = %v, want ErrMessageTooLarge and ErrClosed", err)
	}
	err = s.Recv(t.Context(), &transport.Message{})
	if !errors.Is(err, transport.ErrMessageTooLarge) || !errors.Is(err, ErrReset) {
		t.Errorf("sender Recv = %v, want ErrMessageTooLarge and ErrReset", err)
	}
}
