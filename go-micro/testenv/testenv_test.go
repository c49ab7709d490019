package testenv

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of acting.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	failed  string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = format
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = format
}

func TestAddrEnv(t *testing.T) {
	for engine, want := range map[string]string{
		"rabbitmq": "MICRO_TEST_RABBITMQ_ADDR",
		"Redis":    "MICRO_TEST_REDIS_ADDR",
		"my-sql":   "MICRO_TEST_MY_SQL_ADDR",
	} {
		if got := AddrEnv(engine); got != want {
			t.Errorf("AddrEnv(%q) = %q, want %q", engine, got, want)
		}
	}
}

func TestRequired(t *testing.T) {
	cases := []struct {
		env    string
		engine string
		want   bool
	}{
		{"", "redis", false},
		{"all", "redis", true},
		{"redis", "redis", true},
		{"nats, Redis", "redis", true},
		{"nats", "redis", false},
		{"redisx", "redis", false},
	}
	for _, c := range cases {
		t.Setenv(RequireEnv, c.env)
		if got := Required(c.engine); got != c.want {
			t.Errorf("Required(%q) with %s=%q = %v, want %v", c.engine, RequireEnv, c.env, got, c.want)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestAddrFound(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Setenv(AddrEnv("fake"), l.Addr().String())
	r := &recorder{}
	if got := Addr(r, "fake", closedAddr(t)); got != l.Addr().String() {
		t.Fatalf("Addr = %q, want the env address %q", got, l.Addr())
	}
	if r.skipped != "" || r.failed != "" {
		t.Fatalf("unexpected skip %q / fail %q", r.skipped, r.failed)
	}
}

func TestAddrMissing(t *testing.T) {
	addr := closedAddr(t)

	t.Setenv(RequireEnv, "")
	r := &recorder{}
	Addr(r, "fake", addr)
	if r.skipped == "" || r.failed != "" {
		t.Fatalf("not required: want a skip, got skip %q fail %q", r.skipped, r.failed)
	}

	t.Setenv(RequireEnv, "all")
	r = &recorder{}
	Addr(r, "fake", addr)
	if r.failed == "" || !strings.Contains(r.failed, "required") {
		t.Fatalf("required: want a failure, got skip %q fail %q", r.skipped, r.failed)
	}
}

func TestWaitHelpers(t *testing.T) {
	var n int
	var mu sync.Mutex
	go func() {
		mu.Lock()
		n = 3
		mu.Unlock()
	}()
	WaitFor(t, "n to be set", func() bool { mu.Lock(); defer mu.Unlock(); return n == 3 })

	done := make(chan struct{})
	close(done)
	Wait(t, "a closed channel", done)

	ch := make(chan int, 1)
	ch <- 7
	if got := Recv(t, "a value", ch); got != 7 {
		t.Fatalf("Recv = %d", got)
	}
}

func TestGroup(t *testing.T) {
	var g Group
	if !g.Enter() {
		t.Fatal("Enter refused before Wait")
	}
	waited := make(chan struct{})
	go func() { g.Wait(); close(waited) }()
	WaitFor(t, "Wait to begin", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.closing })
	if g.Enter() {
		t.Fatal("Enter accepted after Wait began")
	}
	select {
	case <-waited:
		t.Fatal("Wait returned before Leave")
	default:
	}
	g.Leave()
	Wait(t, "Wait to return", waited)
}

func TestSelfSignedTLS(t *testing.T) {
	cfg := SelfSignedTLS(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		errc <- c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("dial with the same config: %v", err)
	}
	_ = c.Close()
	if err := Recv(t, "the server handshake", errc); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}
