package http

import (
	"context"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

const wait = 10 * time.Second

// serveEcho listens on tr and echoes every stream until it half-closes.
func serveEcho(t *testing.T, tr transport.Transport) transport.Listener {
	t.Helper()
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handlers testenv.Group
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		_ = l.Accept(func(s transport.Socket) {
			defer s.Close()
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			ctx := context.Background()
			var m transport.Message
			for s.Recv(ctx, &m) == nil {
				if s.Send(ctx, &m) != nil {
					return
				}
			}
		})
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-accepted
		handlers.Wait()
	})
	return l
}

func newHTTP(t *testing.T, opts ...transport.Option) *httpTransport {
	t.Helper()
	tr := newTransport(opts...)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func roundTrip(t *testing.T, tr transport.Transport, addr, body string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	s, err := tr.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{Body: []byte(body)}); err != nil {
		return err
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); err != nil {
		return err
	}
	if string(m.Body) != body {
		t.Errorf("echo = %q, want %q", m.Body, body)
	}
	return nil
}

func (t *httpTransport) conns(addr string) []*conn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if ac := t.pool[addr]; ac != nil {
		return append([]*conn(nil), ac.conns...)
	}
	return nil
}

func TestPlainHTTPRequest(t *testing.T) {
	l := serveEcho(t, newHTTP(t))
	tests := []struct {
		name   string
		header map[string]string
	}{
		{"no upgrade", nil},
		{"other protocol", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := nethttp.NewRequestWithContext(t.Context(), "GET", "http://"+l.Addr()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			client := &nethttp.Client{Transport: &nethttp.Transport{DisableKeepAlives: true}}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != nethttp.StatusUpgradeRequired || !strings.Contains(string(body), upgradeToken) {
				t.Fatalf("got %s %q, want 426 naming %s", resp.Status, body, upgradeToken)
			}
		})
	}
}

func TestStreamsShareOneConnection(t *testing.T) {
	tr := newHTTP(t)
	l := serveEcho(t, tr)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := roundTrip(t, tr, l.Addr(), "x"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(tr.conns(l.Addr())); n != 1 {
		t.Fatalf("%d pooled connections, want 1", n)
	}
}

func TestReceivedMessageTooLarge(t *testing.T) {
	server := newHTTP(t, transport.MaxMessageSize(64<<10))
	client := newHTTP(t)
	l := serveEcho(t, server)
	if err := roundTrip(t, client, l.Addr(), "warm up"); err != nil {
		t.Fatal(err)
	}
	before := client.conns(l.Addr())
	serverBefore := serverConns(l)
	if len(before) != 1 || len(serverBefore) != 1 {
		t.Fatalf("%d client and %d server connections after one call, want 1 and 1", len(before), len(serverBefore))
	}

	ctx := t.Context()
	s, err := client.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(ctx, &transport.Message{Body: make([]byte, 100<<10)}); err != nil {
		t.Fatalf("Send under the client's limit: %v", err)
	}
	var m transport.Message
	err = s.Recv(ctx, &m)
	if !errors.Is(err, transport.ErrMessageTooLarge) || !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Recv after the server refused a message = %v, want ErrMessageTooLarge and ErrClosed", err)
	}
	if !strings.Contains(err.Error(), "reset by peer") {
		t.Errorf("error %q does not say the peer reset the stream", err)
	}
	// The connection keeps serving.
	if err := roundTrip(t, client, l.Addr(), "after"); err != nil {
		t.Fatal(err)
	}
	if after := client.conns(l.Addr()); len(after) != 1 || after[0] != before[0] || after[0].closed() {
		t.Fatalf("the client's connection was replaced after a refused message")
	}
	if after := serverConns(l); len(after) != 1 || after[0] != serverBefore[0] || after[0].closed() {
		t.Fatalf("the server's connection was replaced after a refused message")
	}
}

// serverConns lists a listener's upgraded connections.
func serverConns(l transport.Listener) []*conn {
	ll := l.(*listener)
	ll.mu.Lock()
	defer ll.mu.Unlock()
	var cs []*conn
	for c := range ll.conns {
		cs = append(cs, c)
	}
	return cs
}

func TestDeadConnectionLeavesPool(t *testing.T) {
	tr := newHTTP(t)
	l := serveEcho(t, tr)
	if err := roundTrip(t, tr, l.Addr(), "hi"); err != nil {
		t.Fatal(err)
	}
	s, err := tr.Dial(t.Context(), l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(t.Context(), &transport.Message{}); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	var m transport.Message
	_ = s.Recv(t.Context(), &m) // the echo, if it made it
	if err := s.Recv(t.Context(), &m); !errors.Is(err, transport.ErrClosed) && err != io.EOF {
		t.Fatalf("Recv on a dead connection = %v, want ErrClosed or EOF", err)
	}
	testenv.WaitFor(t, "dead connection removed from the pool", func() bool { return len(tr.conns(l.Addr())) == 0 })
	if err := roundTrip(t, tr, l.Addr(), "again"); err == nil {
		t.Fatal("round trip to a closed listener worked")
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	tr := newHTTP(t)
	tr.idleTimeout = time.Millisecond
	l := serveEcho(t, tr)
	if err := roundTrip(t, tr, l.Addr(), "hi"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "idle connection closed", func() bool { return len(tr.conns(l.Addr())) == 0 })
	if err := roundTrip(t, tr, l.Addr(), "redial"); err != nil {
		t.Fatalf("after idle close: %v", err)
	}
}

func TestUpgradeTimeout(t *testing.T) {
	tr := newHTTP(t, transport.Timeout(time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	// A TCP server that never answers the upgrade.
	srv := nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		<-r.Context().Done()
	})}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	_, err = tr.Dial(ctx, ln.Addr().String())
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Dial to a server that never upgrades = %v, want a timeout before the test deadline", err)
	}
}

func TestMaxMessageSizeClamped(t *testing.T) {
	tests := []struct {
		name string
		in   int
		want int
	}{
		{"default", 0, transport.DefaultMaxMessageSize},
		{"negative", -1, transport.DefaultMaxMessageSize},
		{"small", 100, 100},
		{"beyond a 32-bit frame length", 1 << 40, maxMessageSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := newTransport(transport.MaxMessageSize(tc.in)).opts.MaxMessageSize; got != tc.want {
				t.Fatalf("MaxMessageSize(%d) gave %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}
