package rabbitmq

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds the waits of these tests: far longer than anything takes
// on a loaded machine.
const patience = 60 * time.Second

// rabbitAddr returns host:port of the test server, or skips.
func rabbitAddr(t testing.TB) string {
	t.Helper()
	return testenv.Addr(t, "rabbitmq", "127.0.0.1:5672")
}

// amqpURL is the URL of the server at host:port.
func amqpURL(addr string) string { return "amqp://guest:guest@" + addr + "/" }

// unique returns a name unique to this run of the test.
func unique(t testing.TB, prefix string) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	return prefix + "-" + name + "-" + strings.ToLower(rand.Text()[:10])
}

// waitFor polls cond until it holds or patience passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatalf("test ended waiting for %s", what)
		}
	}
}

// admin is a plain AMQP connection of the test's own, for declaring and
// deleting what the test needs and looking into queues.
type admin struct {
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newAdmin(t testing.TB, addr string) *admin {
	t.Helper()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(unique(t, "micro-test-admin"))
	conn, err := amqp.DialConfig(amqpURL(addr), amqp.Config{Properties: props})
	if err != nil {
		t.Fatalf("admin dial: %v", err)
	}
	a := &admin{conn: conn}
	a.reopen(t)
	t.Cleanup(func() { _ = conn.Close() })
	return a
}

// reopen opens a fresh channel (a failed operation closes the old one).
func (a *admin) reopen(t testing.TB) {
	t.Helper()
	ch, err := a.conn.Channel()
	if err != nil {
		t.Fatalf("admin channel: %v", err)
	}
	a.ch = ch
}

// exchange returns a fresh exchange name, deleted when the test ends
// (after every broker of the test has disconnected).
func testExchange(t testing.TB, addr string) string {
	t.Helper()
	name := unique(t, "micro-test")
	t.Cleanup(func() {
		a := newAdminNoCleanup(addr)
		if a == nil {
			return
		}
		defer a.conn.Close()
		_ = a.ch.ExchangeDelete(name, false, false)
	})
	return name
}

func newAdminNoCleanup(addr string) *admin {
	conn, err := amqp.Dial(amqpURL(addr))
	if err != nil {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		return nil
	}
	return &admin{conn: conn, ch: ch}
}

// logs records what a broker logs.
type logs struct {
	mu   sync.Mutex
	recs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

// count returns how many records contain s.
func (l *logs) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if strings.Contains(r, s) {
			n++
		}
	}
	return n
}

func (l *logs) dump(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if !strings.HasPrefix(r, "DEBUG") {
			t.Log(r)
		}
	}
}

// env is what the brokers of one test share: the server and an exchange
// of the test's own.
type env struct {
	server   string // host:port of the RabbitMQ server
	exchange string
}

// setup finds the server (or skips) and makes an exchange name for the
// test, deleted when the test ends.
func setup(t testing.TB) *env {
	t.Helper()
	server := rabbitAddr(t)
	return &env{server: server, exchange: testExchange(t, server)}
}

// testBroker is a broker of a test with what the test looks at.
type testBroker struct {
	*rabbitBroker
	logs *logs
	name string // client-provided connection name
}

// newBroker builds a broker for the test on the env's server and exchange
// (opts come last, so broker.Addrs there wins), with a unique connection
// name and a log recorder. It disconnects and deletes the group queues it
// declared when the test ends.
func (e *env) newBroker(t testing.TB, opts ...broker.Option) *testBroker {
	t.Helper()
	lg := &logs{}
	name := unique(t, "micro-test-conn")
	all := append([]broker.Option{
		broker.Addrs(amqpURL(e.server)),
		broker.Logger(slog.New(lg)),
		Exchange(e.exchange),
		ConnectionName(name),
		ReconnectBackoff(20*time.Millisecond, 500*time.Millisecond),
		// A safety net should a test die before its cleanup.
		QueueArguments(amqp.Table{"x-expires": int32(10 * 60 * 1000)}),
	}, opts...)
	b, err := New(all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rb := b.(*rabbitBroker)
	t.Cleanup(func() {
		if t.Failed() {
			// What the broker said is the first clue to a failure (the
			// suite's own cleanup, which may fail, has run by now).
			t.Logf("the log of broker %s:", name)
			lg.dump(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_ = rb.Disconnect(ctx)
		rb.declMu.Lock()
		queues := make([]string, 0, len(rb.declared))
		for q := range rb.declared {
			queues = append(queues, q)
		}
		rb.declMu.Unlock()
		if len(queues) == 0 {
			return
		}
		a := newAdminNoCleanup(e.server)
		if a == nil {
			return
		}
		defer a.conn.Close()
		for _, q := range queues {
			if _, err := a.ch.QueueDelete(q, false, false, false); err != nil {
				// A failed delete closes the channel.
				if ch, err := a.conn.Channel(); err == nil {
					a.ch = ch
				}
			}
		}
	})
	return &testBroker{rabbitBroker: rb, logs: lg, name: name}
}

// connected is newBroker plus Connect.
func (e *env) connected(t testing.TB, opts ...broker.Option) *testBroker {
	t.Helper()
	b := e.newBroker(t, opts...)
	if err := b.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return b
}

// closeConnections closes, from the server side, the connections whose
// client-provided name is one of names, and returns how many it closed.
// It uses rabbitmqctl; other clients' connections are left alone.
func closeConnections(t testing.TB, names ...string) int {
	t.Helper()
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Missing(t, "rabbitmq", "rabbitmqctl not found to close connections from the server side")
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	out, err := exec.CommandContext(ctx, ctl, "list_connections", "pid", "client_properties",
		"-q", "--no-table-headers").Output()
	if err != nil {
		testenv.Missing(t, "rabbitmq", fmt.Sprintf("rabbitmqctl list_connections: %v", err))
	}
	var pids []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pid, props, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.Contains(props, `{"connection_name","`+n+`"}`) {
				pids = append(pids, pid)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pids))
	for i, pid := range pids {
		wg.Go(func() {
			out, err := exec.CommandContext(ctx, ctl, "close_connection", pid, "micro fault test").CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("close_connection %s: %v: %s", pid, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return len(pids)
}

// proxy forwards TCP connections to the server, so a test can cut them
// and refuse new ones (a network outage), or terminate TLS in front of a
// server that speaks plain AMQP.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	down   bool
	frames bool          // forward the server's side frame by frame (see mute)
	muted  bool          // drop the server's frames on channels other than 0
	life   time.Duration // when above 0, each connection is cut after it
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t testing.TB, target string, tlsConfig *tls.Config) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	p := &proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer p.wg.Done()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		_ = c.Close()
		_ = s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	life, frames := p.life, p.frames
	p.mu.Unlock()
	if life > 0 {
		t := time.AfterFunc(life, func() { _ = c.Close(); _ = s.Close() })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(s, c); _ = s.Close(); _ = c.Close() })
	wg.Go(func() {
		if frames {
			p.forwardFromServer(c, s)
		} else {
			_, _ = io.Copy(c, s)
		}
		_ = s.Close()
		_ = c.Close()
	})
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// forwardFromServer copies the server's AMQP frames to the client: after
// the protocol header, each frame is type (1 byte), channel (2), size (4),
// payload and 0xCE. While the proxy mutes channels it drops every frame
// that is not on channel 0, so the connection stays alive (heartbeats,
// connection.close-ok) while no channel ever hears back: a server too
// loaded or blocked to answer.
func (p *proxy) forwardFromServer(dst, src net.Conn) {
	r := bufio.NewReaderSize(src, 64<<10)
	header := make([]byte, 7)
	for {
		if _, err := io.ReadFull(r, header); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(header[3:7])
		frame := make([]byte, 7+int(size)+1)
		copy(frame, header)
		if _, err := io.ReadFull(r, frame[7:]); err != nil {
			return
		}
		p.mu.Lock()
		mute := p.muted
		p.mu.Unlock()
		if mute && binary.BigEndian.Uint16(header[1:3]) != 0 {
			continue
		}
		if _, err := dst.Write(frame); err != nil {
			return
		}
	}
}

// framed forwards the server's side frame by frame from the next
// connection on, so that mute can act on it.
func (p *proxy) framed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames = true
}

// mute drops the server's frames on every channel but 0 from now on.
func (p *proxy) mute() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.muted = true
}

// cut closes every forwarded connection and refuses new ones until up.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// flap cuts every connection made from now on after d: a server reached
// again and again, but never for long.
func (p *proxy) flap(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.life = d
}

// up accepts connections again.
func (p *proxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// discard is a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// silentServer accepts TCP connections and never answers, like a server
// that hangs; it returns its host:port.
func silentServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
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
	return ln.Addr().String()
}
