package nats

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// outsideAddr returns the address of the NATS server the tests share
// (MICRO_TEST_NATS_ADDR, default 127.0.0.1:4222), or skips the test.
func outsideAddr(t testing.TB) string {
	t.Helper()
	return testenv.Addr(t, "nats", "127.0.0.1:4222")
}

// embedded starts a NATS server in the test on a free loopback port (or
// on port, when not 0) and shuts it down at cleanup.
func embedded(t testing.TB, port int, configure func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:   "127.0.0.1",
		Port:   port,
		NoLog:  true,
		NoSigs: true,
	}
	if port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if configure != nil {
		configure(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the embedded nats server did not start")
	}
	return ns
}

// quiet drops the transport's logs in tests: connection events are
// expected there, and may be logged after a test has ended.
var quiet = slog.New(slog.DiscardHandler)

// newTestTransport builds a transport to addr and closes it at cleanup.
func newTestTransport(t testing.TB, addr string, opts ...transport.Option) *natsTransport {
	t.Helper()
	tr, err := newTransport(append([]transport.Option{transport.Addrs(addr), Logger(quiet)}, opts...)...)
	if err != nil {
		t.Fatalf("NewTransport(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}
