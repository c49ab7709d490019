package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/transporttest"
)

// blackhole accepts TCP connections and never answers; accepted gets a
// value for each.
func blackhole(t *testing.T) (addr string, accepted chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			accepted <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// TestConnectBounded: a broker that accepts and never speaks cannot hold
// a Dial past Options.Timeout, its ctx or the transport's Close.
func TestConnectBounded(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		addr, _ := blackhole(t)
		tr, err := NewTransport(transport.Addrs(addr), transport.Timeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		ctx := waitCtx(t)
		_, err = tr.Dial(ctx, "q")
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Dial to a silent broker = %v, want an error before the test's deadline", err)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("error %q does not name the broker", err)
		}
		if _, err := tr.Listen(ctx, ""); err == nil || ctx.Err() != nil {
			t.Fatalf("Listen with a silent broker = %v", err)
		}
	})
	t.Run("ctx", func(t *testing.T) {
		addr, accepted := blackhole(t)
		tr, err := NewTransport(transport.Addrs(addr), transport.Timeout(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-accepted
			cancel()
		}()
		if _, err := tr.Dial(ctx, "q"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial whose ctx ended = %v, want context.Canceled", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		addr, accepted := blackhole(t)
		tr, err := NewTransport(transport.Addrs(addr), transport.Timeout(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			<-accepted
			_ = tr.Close()
		}()
		if _, err := tr.Dial(waitCtx(t), "q"); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Dial during Close = %v, want transport.ErrClosed", err)
		}
		if _, err := tr.Dial(waitCtx(t), "q"); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Dial after Close = %v, want transport.ErrClosed", err)
		}
		if _, err := tr.Listen(waitCtx(t), ""); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Listen after Close = %v, want transport.ErrClosed", err)
		}
	})
	t.Run("failover", func(t *testing.T) {
		addr, _ := blackhole(t)
		// The first address is silent; the second is the broker. The
		// timeout bounds the handshake with the broker too, so it leaves
		// room for a loaded machine.
		tr, err := NewTransport(transport.Addrs(addr, brokerURL(t)), transport.Timeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		l := serve(t, tr, "", echo)
		if err := roundTrip(waitCtx(t), tr, l.Addr(), "failover"); err != nil {
			t.Fatal(err)
		}
	})
}

// tlsProxy terminates TLS with cfg and forwards to backend, as a
// RabbitMQ listening on amqps would.
func tlsProxy(t *testing.T, cfg *tls.Config, backend string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil {
			return false
		}
		conns = append(conns, c)
		return true
	}
	conns = []net.Conn{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				_ = c.Close()
				continue
			}
			if !track(c) || !track(b) {
				_ = c.Close()
				_ = b.Close()
				return
			}
			wg.Go(func() { _, _ = io.Copy(b, c); _ = b.Close() })
			wg.Go(func() { _, _ = io.Copy(c, b); _ = c.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		conns = nil
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestConformanceTLS(t *testing.T) {
	broker := testenv.Addr(t, "rabbitmq", "127.0.0.1:5672")
	cfg := testenv.SelfSignedTLS(t)
	proxy := tlsProxy(t, cfg, broker)
	transporttest.RunConfig(t, func(t *testing.T) transport.Transport {
		// amqp:// becomes amqps:// because TLS is set.
		tr, err := NewTransport(transport.Addrs("amqp://guest:guest@"+proxy+"/"), transport.TLS(cfg),
			ConnectionName("micro-transport-test-tls"))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, transporttest.Config{StreamMessages: 2000})
}

func TestTLSUntrusted(t *testing.T) {
	broker := testenv.Addr(t, "rabbitmq", "127.0.0.1:5672")
	proxy := tlsProxy(t, testenv.SelfSignedTLS(t), broker)
	other := testenv.SelfSignedTLS(t) // trusts another certificate
	tr, err := NewTransport(transport.Addrs(proxy), transport.TLS(other))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx := waitCtx(t)
	_, err = tr.Dial(ctx, "q")
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Dial to a broker with an untrusted certificate = %v, want a certificate error", err)
	}
}
