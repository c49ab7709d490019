package nats

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/broker/brokertest"
	"github.com/openmicro/go-micro/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet keeps the broker's expected warnings out of the test output.
func quiet() broker.Option { return broker.Logger(slog.New(slog.DiscardHandler)) }

// engine returns the address of the NATS server the conformance tests run
// against (with JetStream), skipping or failing as testenv decides.
func engine(t *testing.T) string {
	t.Helper()
	return testenv.Addr(t, "nats", "127.0.0.1:4222")
}

// embedded runs a nats-server with JetStream in the test on port (0 for a
// free one) storing under dir, shut down at cleanup.
func embedded(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(testenv.Patience) {
		s.Shutdown()
		t.Fatal("embedded nats-server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// port is the client port of a running server.
func port(t testing.TB, s *server.Server) int {
	t.Helper()
	return s.Addr().(*net.TCPAddr).Port
}

// newTest returns an unconnected broker.
func newTest(t testing.TB, opts ...broker.Option) *natsBroker {
	t.Helper()
	b, err := newBroker(append([]broker.Option{quiet()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// connected returns a connected broker, disconnected at cleanup.
func connected(t testing.TB, opts ...broker.Option) *natsBroker {
	t.Helper()
	b := newTest(t, opts...)
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Disconnect(ctx); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
	})
	return b
}

// uniq returns a name no other test run uses.
func uniq(prefix string) string { return prefix + strings.ToLower(rand.Text()[:10]) }

// dropStream deletes a JetStream stream at cleanup.
func dropStream(t testing.TB, addr, stream string) {
	t.Helper()
	t.Cleanup(func() {
		nc, err := natsgo.Connect(addr)
		if err != nil {
			t.Errorf("cleanup: connect: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("cleanup: delete stream %s: %v", stream, err)
		}
	})
}

func TestConformance(t *testing.T) {
	addr := engine(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newTest(t, broker.Addrs(addr))
	}, brokertest.Timeout(30*time.Second))
}

func TestConformanceJetStream(t *testing.T) {
	addr := engine(t)
	// A stream and subject prefix of this run alone, so that runs and
	// other users of the server do not meet.
	stream := uniq("BROKERTEST_")
	prefix := stream + "."
	dropStream(t, addr, stream)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newTest(t, broker.Addrs(addr), SubjectPrefix(prefix), JetStream(stream, prefix+">"))
	}, brokertest.Timeout(30*time.Second))
}

func TestConformanceEmbedded(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return newTest(t, broker.Addrs(srv.ClientURL()))
	}, brokertest.Timeout(30*time.Second))
}

func TestRegistered(t *testing.T) {
	b, err := broker.Open("nats", quiet())
	if err != nil {
		t.Fatalf(`broker.Open("nats"): %v`, err)
	}
	if b.String() != "nats" {
		t.Errorf("String() = %q", b.String())
	}
	if b.Address() != DefaultAddr {
		t.Errorf("Address() before Connect = %q, want %q", b.Address(), DefaultAddr)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  []broker.Option
		check func(t *testing.T, b *natsBroker)
	}{
		{"defaults", nil, func(t *testing.T, b *natsBroker) {
			want := config{
				reconnectBuf:      DefaultReconnectBuffer,
				backoffMin:        DefaultReconnectMin,
				backoffMax:        DefaultReconnectMax,
				dialTimeout:       DefaultDialTimeout,
				ackWait:           DefaultAckWait,
				maxDeliver:        -1,
				inactiveThreshold: DefaultInactiveThreshold,
			}
			if !equalConfig(b.cfg, want) {
				t.Errorf("config = %+v, want %+v", b.cfg, want)
			}
			if len(b.addrs) != 1 || b.addrs[0] != DefaultAddr {
				t.Errorf("addrs = %q", b.addrs)
			}
		}},
		{"all set", []broker.Option{
			broker.Addrs("nats://a:4222", " ", "b:4223"),
			SubjectPrefix("p."),
			ReconnectBuffer(1024),
			ReconnectBackoff(time.Second, 2*time.Second),
			DialTimeout(3 * time.Second),
			JetStream("S", "p.>", "q.*"),
			Durable("svc"),
			AckWait(time.Minute),
			MaxDeliver(5),
			RedeliveryDelay(time.Second),
			NATSOptions(natsgo.Name("x")),
		}, func(t *testing.T, b *natsBroker) {
			c := b.cfg
			if c.prefix != "p." || c.reconnectBuf != 1024 || c.backoffMin != time.Second || c.backoffMax != 2*time.Second ||
				c.dialTimeout != 3*time.Second || c.stream != "S" || strings.Join(c.subjects, ",") != "p.>,q.*" ||
				c.durable != "svc" || c.ackWait != time.Minute || c.maxDeliver != 5 || c.nakDelay != time.Second ||
				len(c.natsOpts) != 1 {
				t.Errorf("config = %+v", c)
			}
			if strings.Join(b.addrs, ",") != "nats://a:4222,b:4223" {
				t.Errorf("addrs = %q", b.addrs)
			}
		}},
		{"backoff max below min", []broker.Option{ReconnectBackoff(time.Second, time.Millisecond)}, func(t *testing.T, b *natsBroker) {
			if b.cfg.backoffMax != time.Second {
				t.Errorf("backoffMax = %v, want the min", b.cfg.backoffMax)
			}
		}},
		{"buffering off", []broker.Option{ReconnectBuffer(-1)}, func(t *testing.T, b *natsBroker) {
			if b.cfg.reconnectBuf != -1 {
				t.Errorf("reconnectBuf = %d", b.cfg.reconnectBuf)
			}
		}},
		{"address redacted", []broker.Option{broker.Addrs("nats://u:secret@h:1", "nats://tok@h:2")}, func(t *testing.T, b *natsBroker) {
			if a := b.Address(); strings.Contains(a, "secret") || strings.Contains(a, "tok") || !strings.Contains(a, "h:1") {
				t.Errorf("Address() = %q", a)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, newTest(t, tt.opts...))
		})
	}
}

func equalConfig(a, b config) bool {
	return a.prefix == b.prefix && a.reconnectBuf == b.reconnectBuf && a.backoffMin == b.backoffMin &&
		a.backoffMax == b.backoffMax && a.dialTimeout == b.dialTimeout && a.stream == b.stream &&
		len(a.subjects) == len(b.subjects) && a.durable == b.durable && a.ackWait == b.ackWait &&
		a.maxDeliver == b.maxDeliver && a.nakDelay == b.nakDelay && a.inactiveThreshold == b.inactiveThreshold &&
		len(a.natsOpts) == len(b.natsOpts)
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts []broker.Option
		want string
	}{
		{"empty stream", []broker.Option{JetStream("")}, "invalid JetStream stream name"},
		{"dotted stream", []broker.Option{JetStream("a.b", "x")}, "invalid JetStream stream name"},
		{"durable without JetStream", []broker.Option{Durable("d")}, "Durable needs JetStream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReconnectDelay(t *testing.T) {
	c := config{backoffMin: 100 * time.Millisecond, backoffMax: time.Second}
	tests := []struct {
		attempts int
		want     time.Duration // before jitter
	}{
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{1000, time.Second},
	}
	for _, tt := range tests {
		for range 20 {
			if d := c.reconnectDelay(tt.attempts); d < tt.want/2 || d > tt.want {
				t.Errorf("reconnectDelay(%d) = %v, want within [%v, %v]", tt.attempts, d, tt.want/2, tt.want)
			}
		}
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestConnectDeadAddress(t *testing.T) {
	addr := deadAddr(t)
	b := newTest(t, broker.Addrs(addr))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := b.Connect(ctx)
	if err == nil {
		b.Disconnect(ctx)
		t.Fatal("Connect to a dead address succeeded")
	}
	if !strings.Contains(err.Error(), addr) || !strings.HasPrefix(err.Error(), "broker/nats: connect to ") {
		t.Errorf("error %q does not name the address %s", err, addr)
	}
	if err := b.Publish(ctx, "a", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Publish after a failed Connect: %v", err)
	}
	if err := b.Disconnect(ctx); err != nil {
		t.Errorf("Disconnect after a failed Connect: %v", err)
	}
}

// A server that accepts connections but never speaks: Connect must give up
// when its ctx ends, not when the (here far longer) dial timeout does.
func TestConnectHangingServerHonoursCtx(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	b := newTest(t, broker.Addrs(ln.Addr().String()), DialTimeout(10*time.Minute))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Connect(ctx) }()
	err = testenv.Recv(t, "Connect to return", done)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect: %v, want context.DeadlineExceeded", err)
	}
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %v does not name the address", err)
	}
}

func TestJetStreamNotEnabled(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(testenv.Patience) {
		t.Fatal("server not ready")
	}
	b := newTest(t, broker.Addrs(s.ClientURL()), JetStream("S", "s.>"))
	err = b.Connect(t.Context())
	if err == nil {
		b.Disconnect(t.Context())
		t.Fatal("Connect in JetStream mode to a server without JetStream succeeded")
	}
	if !strings.Contains(err.Error(), `JetStream stream "S"`) {
		t.Errorf("error %q does not name the stream", err)
	}
}

func TestJetStreamMissingStreamWithoutSubjects(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := newTest(t, broker.Addrs(srv.ClientURL()), JetStream("NOPE"))
	err := b.Connect(t.Context())
	if err == nil {
		b.Disconnect(t.Context())
		t.Fatal("Connect succeeded without a stream")
	}
	if !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("error %q", err)
	}
}

func TestTopicValidation(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := connected(t, broker.Addrs(srv.ClientURL()))
	h := func(context.Context, broker.Event) error { return nil }
	tests := []struct {
		topic            string
		pubOK, subOK     bool
		pubWant, subWant error
	}{
		{"orders", true, true, nil, nil},
		{"orders.eu.new", true, true, nil, nil},
		{"ordérs", true, true, nil, nil},
		{"orders.*", false, true, broker.ErrInvalidTopic, nil},
		{"orders.>", false, true, broker.ErrInvalidTopic, nil},
		{">", false, true, broker.ErrInvalidTopic, nil},
		{"a.>.b", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"a..b", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{".a", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"a.", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"a b", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"a\tb", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"a\u00a0b", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
		{"a\xffb", false, false, broker.ErrInvalidTopic, broker.ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			err := b.Publish(t.Context(), tt.topic, &broker.Message{})
			if tt.pubOK != (err == nil) || (tt.pubWant != nil && !errors.Is(err, tt.pubWant)) {
				t.Errorf("Publish(%q) = %v", tt.topic, err)
			}
			sub, err := b.Subscribe(t.Context(), tt.topic, h)
			if tt.subOK != (err == nil) || (tt.subWant != nil && !errors.Is(err, tt.subWant)) {
				t.Errorf("Subscribe(%q) = %v", tt.topic, err)
			}
			if sub != nil {
				if err := sub.Unsubscribe(t.Context()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Run("queue with space", func(t *testing.T) {
		if _, err := b.Subscribe(t.Context(), "a", h, broker.Queue("a b")); !errors.Is(err, ErrInvalidQueue) {
			t.Errorf("Subscribe with queue %q: %v", "a b", err)
		}
	})
	t.Run("nil handler", func(t *testing.T) {
		if _, err := b.Subscribe(t.Context(), "a", nil); !errors.Is(err, ErrNilHandler) {
			t.Errorf("Subscribe with nil handler: %v", err)
		}
	})
}

func TestInvalidHeaderKey(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := connected(t, broker.Addrs(srv.ClientURL()))
	for _, key := range []string{"", "a b", "a:b", "a/b", "é", "a\nb"} {
		err := b.Publish(t.Context(), "t", &broker.Message{Header: map[string]string{"Ok": "1", key: "v"}})
		if !errors.Is(err, ErrInvalidHeader) || !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Errorf("Publish with header key %q: %v, want ErrInvalidHeader naming the key", key, err)
		}
	}
}
