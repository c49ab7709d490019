package http

import (
	"testing"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// donePair dials a listener and returns both ends of one stream, after a
// message has crossed so that the server has the stream.
func donePair(t *testing.T) (client, server transport.DoneSocket, l transport.Listener) {
	t.Helper()
	tr := newTransport()
	t.Cleanup(func() { _ = tr.Close() })
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	accepted := make(chan transport.Socket, 1)
	go func() {
		_ = l.Accept(func(s transport.Socket) {
			accepted <- s
			<-s.(transport.DoneSocket).Done()
			_ = s.Close()
		})
	}()
	c, err := tr.Dial(t.Context(), l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Send(t.Context(), &transport.Message{Body: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	s := testenv.Recv(t, "the stream accepted", accepted)
	var m transport.Message
	if err := s.Recv(t.Context(), &m); err != nil {
		t.Fatal(err)
	}
	return c.(transport.DoneSocket), s.(transport.DoneSocket), l
}

func isDone(s transport.DoneSocket) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

func TestDone(t *testing.T) {
	t.Run("peer closes", func(t *testing.T) {
		c, s, _ := donePair(t)
		if isDone(s) || isDone(c) {
			t.Fatal("Done closed on a live stream")
		}
		if err := c.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var m transport.Message
		if err := s.Recv(t.Context(), &m); err == nil {
			t.Fatal("Recv after the peer's half-close returned a message")
		}
		if isDone(s) {
			t.Fatal("Done closed by a half-close: the server may still send")
		}
		_ = c.Close()
		testenv.Wait(t, "the server's Done after the client closed", s.Done())
		if !isDone(c) {
			t.Error("the client's own Close did not close its Done")
		}
	})
	t.Run("connection lost", func(t *testing.T) {
		c, s, l := donePair(t)
		_ = l.Close()
		testenv.Wait(t, "the client's Done after the listener closed", c.Done())
		testenv.Wait(t, "the server's Done after the listener closed", s.Done())
	})
	t.Run("done after the end", func(t *testing.T) {
		c, _, _ := donePair(t)
		_ = c.Close()
		// Done is first asked for after the end: it must come closed.
		if !isDone(c) {
			t.Error("Done of a closed stream is not closed")
		}
	})
}
