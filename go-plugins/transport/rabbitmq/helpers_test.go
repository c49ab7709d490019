package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// brokerURL returns the URL of the RabbitMQ the tests use, or skips.
func brokerURL(t testing.TB) string {
	t.Helper()
	return "amqp://guest:guest@" + testenv.Addr(t, "rabbitmq", "127.0.0.1:5672") + "/"
}

// newTestTransport returns a transport on the test broker, closed at the
// end of the test.
func newTestTransport(t testing.TB, opts ...transport.Option) *rmqTransport {
	t.Helper()
	opts = append([]transport.Option{transport.Addrs(brokerURL(t)), ConnectionName("micro-transport-test-" + t.Name())}, opts...)
	tr, err := newTransport(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// cutter is a TCP dialer for the broker connection that a test can cut,
// as a crash or a network failure would, and stop from reconnecting.
type cutter struct {
	mu     sync.Mutex
	conns  []net.Conn
	dials  int
	refuse bool
}

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dials++
	if c.refuse {
		return nil, errors.New("refused by the test")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

// cut closes every connection dialled so far; refuse stops new ones.
func (c *cutter) cut(refuse bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse = refuse
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}

func (c *cutter) allow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse = false
}

func (c *cutter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

// serve runs handler for every stream accepted on a new listener of tr;
// cleanup closes the listener and waits for Accept and the handlers.
func serve(t *testing.T, tr transport.Transport, addr string, handler func(s transport.Socket)) transport.Listener {
	t.Helper()
	l, err := tr.Listen(t.Context(), addr)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	var handlers testenv.Group
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer func() { _ = s.Close() }()
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			handler(s)
		})
	}()
	t.Cleanup(func() {
		_ = l.Close()
		if err := testenv.Recv(t, "Accept to return", accepted); err != nil {
			t.Errorf("Accept = %v", err)
		}
		done := make(chan struct{})
		go func() { handlers.Wait(); close(done) }()
		testenv.Wait(t, "handlers to return", done)
	})
	return l
}

// echo sends back what it reads until an error.
func echo(s transport.Socket) {
	ctx := context.Background()
	for {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		if err := s.Send(ctx, &m); err != nil {
			return
		}
	}
}

// waitCtx is a context bounded by testenv.Patience.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testenv.Patience)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip dials addr, sends body and reads the echo.
func roundTrip(ctx context.Context, tr transport.Transport, addr, body string) error {
	s, err := tr.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	if err := s.Send(ctx, &transport.Message{Body: []byte(body)}); err != nil {
		return err
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		return err
	}
	if string(m.Body) != body {
		return fmt.Errorf("echo %q, want %q", m.Body, body)
	}
	return nil
}
