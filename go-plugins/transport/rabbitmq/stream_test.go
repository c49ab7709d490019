package rabbitmq

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

// fakeOwner records what a stream publishes.
type fakeOwner struct {
	mu       sync.Mutex
	sent     []amqp.Publishing
	released int
	fail     error
}

func (o *fakeOwner) publish(key string, p amqp.Publishing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.sent = append(o.sent, p)
	return nil
}

func (o *fakeOwner) writable(context.Context) error { return nil }

func (o *fakeOwner) release(*stream) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.released++
}

func (o *fakeOwner) types() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ts []string
	for _, p := range o.sent {
		ts = append(ts, p.Type)
	}
	return ts
}

func testStream() (*stream, *fakeOwner) {
	o := &fakeOwner{}
	s := newStream(o, "id", "local", "remote", 1<<20)
	s.opened = true
	return s, o
}

func data(body string) *frame {
	return &frame{typ: typeData, msg: transport.Message{Body: []byte(body)}, size: len(body)}
}

func TestCloseTellsThePeer(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *stream)
		want  []string
	}{
		{"open both ways", func(s *stream) {}, []string{typeReset}},
		{"peer half-closed", func(s *stream) { s.onEnd() }, []string{typeReset}},
		{"we half-closed", func(s *stream) { _ = s.CloseSend() }, []string{typeEnd, typeReset}},
		{"both half-closed", func(s *stream) { _ = s.CloseSend(); s.onEnd() }, []string{typeEnd}},
		{"peer reset", func(s *stream) { s.onReset(codeClosed) }, nil},
		{"peer gone", func(s *stream) { s.fail(errPeerGone("remote")) }, nil},
		{"never opened", func(s *stream) { s.opened = false }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, o := testStream()
			tc.setup(s)
			for range 2 {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if got := o.types(); len(got) != len(tc.want) || (len(got) > 0 && got[len(got)-1] != tc.want[len(tc.want)-1]) {
				t.Fatalf("published %v, want %v", got, tc.want)
			}
			if o.released != 2 {
				t.Fatalf("released %d times, want every Close to release (idempotent in the owner)", o.released)
			}
		})
	}
}

func TestResetCodes(t *testing.T) {
	tests := []struct {
		code     byte
		recv     error // what Recv returns
		send     error // what Send's error matches
		tooLarge bool
	}{
		{codeClosed, io.EOF, transport.ErrClosed, false},
		{codeRefused, errRefused, transport.ErrClosed, false},
		{codeTooLarge, errPeerTooLarge, transport.ErrClosed, true},
		{codeFlow, errPeerFlow, transport.ErrClosed, false},
		{codeMalformed, errPeerBadFrame, transport.ErrClosed, false},
		{codeUnknown, errUnknown, transport.ErrClosed, false},
		{200, transport.ErrClosed, transport.ErrClosed, false},
	}
	for _, tc := range tests {
		s, _ := testStream()
		s.onReset(tc.code)
		var m transport.Message
		err := s.Recv(context.Background(), &m)
		if !errors.Is(err, tc.recv) {
			t.Errorf("code %d: Recv = %v, want %v", tc.code, err, tc.recv)
		}
		if errors.Is(err, transport.ErrMessageTooLarge) != tc.tooLarge {
			t.Errorf("code %d: Recv = %v, ErrMessageTooLarge match should be %v", tc.code, err, tc.tooLarge)
		}
		if err := s.Send(context.Background(), &transport.Message{}); !errors.Is(err, tc.send) {
			t.Errorf("code %d: Send = %v, want %v", tc.code, err, tc.send)
		}
	}
}

func TestQueuedBeforeReset(t *testing.T) {
	s, _ := testStream()
	s.onData(data("a"))
	s.onData(data("b"))
	s.onReset(codeClosed)
	for _, want := range []string{"a", "b"} {
		var m transport.Message
		if err := s.Recv(context.Background(), &m); err != nil || string(m.Body) != want {
			t.Fatalf("Recv = %q, %v; want %q", m.Body, err, want)
		}
	}
	var m transport.Message
	if err := s.Recv(context.Background(), &m); err != io.EOF {
		t.Fatalf("Recv = %v, want io.EOF", err)
	}
}

func TestDataAfterEnd(t *testing.T) {
	s, _ := testStream()
	s.onEnd()
	if code, reset := s.onData(data("late")); !reset || code != codeMalformed {
		t.Fatalf("data after end: reset %v code %d", reset, code)
	}
	if err := s.Send(context.Background(), &transport.Message{}); !errors.Is(err, errBadFrame) {
		t.Fatalf("Send = %v, want errBadFrame", err)
	}
}

func TestCreditAccounting(t *testing.T) {
	s, o := testStream()
	// The receiver returns credit once a quarter window was read.
	body := make([]byte, 1000)
	n := 0
	for o.types() == nil {
		if _, reset := s.onData(&frame{typ: typeData, msg: transport.Message{Body: body}, size: len(body)}); reset {
			t.Fatal("reset within the window")
		}
		var m transport.Message
		if err := s.Recv(context.Background(), &m); err != nil {
			t.Fatal(err)
		}
		n++
	}
	want := (window/4 + len(body) + frameOverhead - 1) / (len(body) + frameOverhead)
	if n != want {
		t.Fatalf("window frame after %d messages, want %d", n, want)
	}
	// The sender blocks once its credit is spent, and a window frame
	// lets it go on.
	s2, _ := testStream()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sent := 0
	for s2.Send(context.Background(), &transport.Message{Body: make([]byte, 64<<10)}) == nil {
		sent++
		if s2.sendCredit <= 0 {
			break
		}
	}
	if err := s2.Send(ctx, &transport.Message{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send without credit = %v, want it to wait (and see ctx end)", err)
	}
	if s2.onWindow(window) {
		t.Fatal("a window frame within bounds reset the stream")
	}
	if err := s2.Send(context.Background(), &transport.Message{}); err != nil {
		t.Fatalf("Send after a window frame: %v", err)
	}
	if !s2.onWindow(maxCredit) {
		t.Fatal("credit past 2^31-1 was accepted")
	}
	if sent < window/(64<<10) {
		t.Fatalf("sent only %d messages of 64 KiB on a 1 MiB window", sent)
	}
}

func TestPublishFailureFailsStream(t *testing.T) {
	s, o := testStream()
	o.fail = errConnLost(nil)
	if err := s.Send(context.Background(), &transport.Message{}); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send = %v", err)
	}
	var m transport.Message
	if err := s.Recv(context.Background(), &m); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Recv after a failed publish = %v", err)
	}
}

func TestNilMessage(t *testing.T) {
	s, _ := testStream()
	if err := s.Send(context.Background(), nil); err == nil {
		t.Fatal("Send(nil) succeeded")
	}
	if err := s.Recv(context.Background(), nil); err == nil {
		t.Fatal("Recv(nil) succeeded")
	}
}

// TestBlockedConnection: while RabbitMQ blocks the connection, Send waits
// within its ctx; once unblocked it goes on.
func TestBlockedConnection(t *testing.T) {
	b := newBrokerConn(nil, nil, slog.Default())
	if err := b.writable(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.setBlocked(true, "memory alarm")
	b.setBlocked(true, "again")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.writable(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("writable while blocked = %v, want the ctx's error", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.writable(context.Background()) }()
	b.setBlocked(false, "")
	b.setBlocked(false, "")
	if err := <-done; err != nil {
		t.Fatalf("writable after the block lifted = %v", err)
	}
}
