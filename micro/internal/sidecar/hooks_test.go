package sidecar

import (
	"bytes"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// manualTicks makes the keep-alive of each socket tick only when the test
// sends on its channel; tickers receives each new socket's channel.
func manualTicks(tickers chan chan time.Time) Option {
	return func(o *options) {
		o.pingTicker = func(time.Duration) (<-chan time.Time, func()) {
			c := make(chan time.Time)
			tickers <- c
			return c, func() {}
		}
	}
}

// tick sends one keep-alive tick, returning once the socket's writer took
// it.
func tick(t *testing.T, c chan time.Time) {
	t.Helper()
	select {
	case c <- time.Now():
	case <-time.After(testenv.Patience):
		t.Fatal("timed out waiting for the socket's writer to take a tick")
	}
}

// listenOn makes Start serve on ln.
func listenOn(ln net.Listener) Option { return func(o *options) { o.listener = ln } }

// socketOf returns the sidecar's side of the one open socket on topic.
func socketOf(t *testing.T, s *Server, topic string) *socket {
	t.Helper()
	var found *socket
	testenv.WaitFor(t, "the socket on "+topic, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for ss := range s.sockets {
			if ss.topic == topic {
				found = ss
			}
		}
		return found != nil
	})
	return found
}

// logBuffer collects log lines, for tests that check what is logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// event is a broker.Event for calling a deliverer directly.
type event struct{ msg *broker.Message }

func (e event) Topic() string            { return "t" }
func (e event) Message() *broker.Message { return e.msg }
func (e event) Ack() error               { return nil }
func (e event) Nack() error              { return nil }
