package nats

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// fast makes reconnects quick, as tests restart servers.
func fast() broker.Option { return ReconnectBackoff(10*time.Millisecond, 200*time.Millisecond) }

// connectedTo reports whether b's connection is up.
func connectedTo(b *natsBroker) bool {
	s := b.sess.Load()
	return s != nil && s.nc.IsConnected()
}

// restart shuts srv down, waits until every broker noticed, runs whileDown
// and starts a server on the same port and store directory.
func restart(t *testing.T, srv interface {
	Shutdown()
	WaitForShutdown()
}, port int, dir string, whileDown func(), bs ...*natsBroker) {
	t.Helper()
	srv.Shutdown()
	srv.WaitForShutdown()
	testenv.WaitFor(t, "brokers to notice the server is gone", func() bool {
		for _, b := range bs {
			if connectedTo(b) {
				return false
			}
		}
		return true
	})
	if whileDown != nil {
		whileDown()
	}
	embedded(t, port, dir)
}

func TestServerRestartCore(t *testing.T) {
	dir := t.TempDir()
	srv := embedded(t, 0, dir)
	p, url := port(t, srv), srv.ClientURL()
	rec := &records{}
	// one broker publishes and subscribes; another only subscribes
	both := connected(t, broker.Addrs(url), fast(), broker.Logger(slog.New(rec)))
	other := connected(t, broker.Addrs(url), fast())
	const topic = "restart.core"
	in1, in2 := newInbox(), newInbox()
	subscribe(t, both, topic, in1.handle)
	subscribe(t, other, topic, in2.handle)
	syncProbes(t, both, topic, in1, in2)
	publishIDs(t, both, topic, ids("before", 5)...)
	in1.waitFor(t, ids("before", 5)...)
	in2.waitFor(t, ids("before", 5)...)

	restart(t, srv, p, dir, func() {
		// Publishes while the server is down are buffered, not refused.
		publishIDs(t, both, topic, ids("down", 10)...)
	}, both, other)

	// The buffer is sent once the connection is back, after the
	// subscriptions are renewed: its own subscriber gets all of it.
	in1.waitFor(t, ids("down", 10)...)
	// The subscribers resume without being recreated.
	syncProbes(t, both, topic, in1, in2)
	publishIDs(t, both, topic, ids("after", 10)...)
	in1.waitFor(t, ids("after", 10)...)
	in2.waitFor(t, ids("after", 10)...)
	for id, n := range in1.snapshot() {
		if n != 1 {
			t.Errorf("message %s arrived %d times", id, n)
		}
	}
	testenv.WaitFor(t, "reconnect logs", func() bool {
		return rec.logged("broker/nats: connection lost; reconnecting") && rec.logged("broker/nats: reconnected")
	})
}

func TestReconnectBufferFull(t *testing.T) {
	dir := t.TempDir()
	srv := embedded(t, 0, dir)
	tests := []struct {
		name string
		size int
		n    int // publishes of 1 KiB while down before one must fail
	}{
		{"small buffer", 4 << 10, 10},
		{"buffering off", -1, 1},
	}
	var bs []*natsBroker
	for _, tt := range tests {
		bs = append(bs, connected(t, broker.Addrs(srv.ClientURL()), fast(), ReconnectBuffer(tt.size)))
	}
	restart(t, srv, port(t, srv), dir, func() {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var err error
				for range tt.n {
					if err = bs[i].Publish(t.Context(), "full", &broker.Message{Body: make([]byte, 1024)}); err != nil {
						break
					}
				}
				if err == nil || !strings.Contains(err.Error(), `publish to "full"`) {
					t.Errorf("Publish with a full buffer: %v, want an error", err)
				}
			})
		}
	}, bs...)
}

func TestServerRestartJetStream(t *testing.T) {
	dir := t.TempDir()
	srv := embedded(t, 0, dir)
	p, url := port(t, srv), srv.ClientURL()
	js := JetStream("RESTART", "rs.>")
	sub := connected(t, broker.Addrs(url), fast(), js)
	pub := connected(t, broker.Addrs(url), fast(), js)
	const topic = "rs.orders"
	in := newInbox()
	subscribe(t, sub, topic, in.handle, broker.Queue("workers"))
	publishIDs(t, pub, topic, ids("before", 5)...)
	in.waitFor(t, ids("before", 5)...)

	published := make(chan error, 1)
	restart(t, srv, p, dir, func() {
		// A JetStream publish waits for the stream's ack, so one made
		// while the server is down completes once it is back.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			published <- pub.Publish(ctx, topic, &broker.Message{Header: map[string]string{"Id": "down0"}})
		}()
	}, sub, pub)
	if err := testenv.Recv(t, "publish made while down", published); err != nil {
		t.Fatalf("Publish while down: %v", err)
	}
	in.waitFor(t, "down0")
	publishIDs(t, pub, topic, ids("after", 5)...)
	in.waitFor(t, ids("after", 5)...)
}

func TestDisconnectFlushesPublishes(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	sub := connected(t, broker.Addrs(srv.ClientURL()))
	pub := newTest(t, broker.Addrs(srv.ClientURL()))
	if err := pub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	subscribe(t, sub, "flush", in.handle)
	syncProbes(t, pub, "flush", in)
	want := ids("m", 2000)
	publishIDs(t, pub, "flush", want...)
	// Publish returns once the message is in the client's buffer;
	// Disconnect sends the buffer before it closes.
	if err := pub.Disconnect(t.Context()); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	in.waitFor(t, want...)
}

func TestDisconnectWaitsForHandlers(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			srv := embedded(t, 0, t.TempDir())
			opts := []broker.Option{broker.Addrs(srv.ClientURL())}
			if mode == "jetstream" {
				opts = append(opts, JetStream("DW", "dw.>"))
			}
			pub := connected(t, opts...)
			b := newTest(t, opts...)
			if err := b.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			const topic = "dw.t"
			entered := make(chan struct{})
			ctxDone := make(chan struct{})
			release := make(chan struct{})
			var calls atomic.Int64
			subscribe(t, b, topic, func(ctx context.Context, e broker.Event) error {
				if calls.Add(1) > 1 {
					return nil
				}
				close(entered)
				<-ctx.Done()
				close(ctxDone)
				<-release // finishes its work although its ctx ended
				return nil
			})
			publishIDs(t, pub, topic, ids("m", 5)...)
			testenv.Wait(t, "handler to start", entered)

			disconnected := make(chan error, 1)
			go func() { disconnected <- b.Disconnect(t.Context()) }()
			testenv.Wait(t, "Disconnect to end the handler's context", ctxDone)
			select {
			case err := <-disconnected:
				t.Fatalf("Disconnect returned (%v) while a handler was running", err)
			default:
			}
			close(release)
			if err := testenv.Recv(t, "Disconnect", disconnected); err != nil {
				t.Fatalf("Disconnect: %v", err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("handler called %d times; the messages waiting behind the running call must not start", n)
			}
			if err := b.Disconnect(t.Context()); err != nil {
				t.Errorf("second Disconnect: %v", err)
			}
		})
	}
}

func TestDisconnectGivesUpWithCtx(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	pub := connected(t, broker.Addrs(srv.ClientURL()))
	b := newTest(t, broker.Addrs(srv.ClientURL()))
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	entered, release, left := make(chan struct{}), make(chan struct{}), make(chan struct{})
	subscribe(t, b, "stuck", func(context.Context, broker.Event) error {
		close(entered)
		<-release // ignores its context
		close(left)
		return nil
	})
	publishIDs(t, pub, "stuck", "m0")
	testenv.Wait(t, "handler to start", entered)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := b.Disconnect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "handlers still running") {
		t.Errorf("Disconnect with a stuck handler: %v", err)
	}
	close(release)
	testenv.Wait(t, "handler to return", left)
	if err := b.Disconnect(t.Context()); err != nil {
		t.Errorf("Disconnect once the handler returned: %v", err)
	}
}

func TestConnectAgainAfterDisconnect(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := connected(t, broker.Addrs(srv.ClientURL()))
	if err := b.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(t.Context()); err != nil {
		t.Fatalf("Connect after Disconnect: %v", err)
	}
	in := newInbox()
	subscribe(t, b, "again", in.handle)
	syncProbes(t, b, "again", in)
	if got := b.Address(); got != srv.ClientURL() {
		t.Errorf("Address() = %q, want %q", got, srv.ClientURL())
	}
}

func TestHandlerFailuresDoNotBlock(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	rec := &records{}
	b := connected(t, broker.Addrs(srv.ClientURL()), broker.Logger(slog.New(rec)))
	in := newInbox()
	in.fail = func(id string, _ int) error {
		switch id {
		case "m0":
			panic("handler bug")
		case "m1":
			return errors.New("database down")
		case "m2":
			var none []int
			_ = none[len(id)] // a runtime error panic
		}
		return nil
	}
	subscribe(t, b, "fail", in.handle)
	syncProbes(t, b, "fail", in)
	want := ids("m", 10)
	publishIDs(t, b, "fail", want...)
	in.waitFor(t, want...)
	for _, s := range []string{"handler panicked topic=fail queue= panic=handler bug", "handler failed; core NATS does not redeliver", "index out of range"} {
		if !rec.logged(s) {
			t.Errorf("nothing logged containing %q", s)
		}
	}
}

func TestCoreAckNackAreNoOps(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	b := connected(t, broker.Addrs(srv.ClientURL()))
	in := newInbox()
	var errs atomic.Int64
	subscribe(t, b, "nack", func(ctx context.Context, e broker.Event) error {
		if err := in.handle(ctx, e); err != nil {
			return err
		}
		if e.Message().Header["Id"] == "m0" {
			if e.Nack() != nil || e.Ack() != nil {
				errs.Add(1)
			}
		}
		return nil
	}, broker.DisableAutoAck())
	syncProbes(t, b, "nack", in)
	publishIDs(t, b, "nack", "m0", "m1")
	// One connection to one subscription keeps order: m1 comes after m0
	// and after any redelivery of m0 there would be.
	in.waitFor(t, "m1")
	if n := in.count("m0"); n != 1 {
		t.Errorf("nacked message arrived %d times; core NATS does not redeliver", n)
	}
	if errs.Load() != 0 {
		t.Error("Ack or Nack returned an error in core NATS mode")
	}
}

func TestUnsubscribeFromHandler(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			srv := embedded(t, 0, t.TempDir())
			opts := []broker.Option{broker.Addrs(srv.ClientURL())}
			if mode == "jetstream" {
				opts = append(opts, JetStream("UH", "uh.>"))
			}
			b := connected(t, opts...)
			var sub broker.Subscriber
			ready := make(chan struct{})
			done := make(chan error, 1)
			var calls atomic.Int64
			sub = subscribe(t, b, "uh.t", func(ctx context.Context, e broker.Event) error {
				<-ready
				if calls.Add(1) == 1 {
					done <- sub.Unsubscribe(ctx)
				}
				return nil
			})
			close(ready)
			publishIDs(t, b, "uh.t", "m0")
			if err := testenv.Recv(t, "Unsubscribe from the handler", done); err != nil {
				t.Errorf("Unsubscribe from the handler: %v", err)
			}
		})
	}
}

// rawPublish speaks the NATS protocol itself to send a message with the
// header block hdr, which nats.go would not let through malformed. It
// returns the server's error, if it answered one.
func rawPublish(t testing.TB, addr, subject string, hdr, body []byte) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testenv.Patience)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testenv.Patience))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil { // INFO
		t.Fatal(err)
	}
	var msg []byte
	msg = fmt.Appendf(msg, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1}\r\n")
	msg = fmt.Appendf(msg, "HPUB %s %d %d\r\n", subject, len(hdr), len(hdr)+len(body))
	msg = append(msg, hdr...)
	msg = append(msg, body...)
	msg = append(msg, "\r\nPING\r\n"...)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(line, "PONG"):
			return nil
		case strings.HasPrefix(line, "-ERR"):
			return errors.New(strings.TrimSpace(line))
		}
	}
}

func TestForeignMessages(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	addr := srv.Addr().String()
	rec := &records{}
	b := connected(t, broker.Addrs(srv.ClientURL()), broker.Logger(slog.New(rec)))
	got := make(chan *broker.Message, 16)
	subscribe(t, b, "foreign", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	})
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tests := []struct {
		name       string
		send       func() error
		wantHeader map[string]string
		wantBody   string
	}{
		{"no header", func() error { return nc.Publish("foreign", []byte("plain")) }, nil, "plain"},
		{"empty", func() error { return nc.Publish("foreign", nil) }, nil, ""},
		{"several values", func() error {
			m := natsgo.NewMsg("foreign")
			m.Header["K"] = []string{"a", "b"}
			m.Data = []byte("multi")
			return nc.PublishMsg(m)
		}, map[string]string{"K": "a, b"}, "multi"},
		{"status line", func() error {
			return rawPublish(t, addr, "foreign", []byte("NATS/1.0 503 No Responders\r\nX: y\r\n\r\n"), []byte("st"))
		}, map[string]string{"X": "y", "Status": "503", "Description": "No Responders"}, "st"},
		{"header without colon", func() error {
			return rawPublish(t, addr, "foreign", []byte("NATS/1.0\r\nnocolon\r\n\r\n"), []byte("bad1"))
		}, nil, "bad1"},
		{"not a NATS header", func() error {
			return rawPublish(t, addr, "foreign", []byte("HTTP/1.1\r\n\r\n"), []byte("bad2"))
		}, nil, "bad2"},
		{"unterminated header", func() error {
			return rawPublish(t, addr, "foreign", []byte("NATS/1.0\r\nA: b"), []byte("bad3"))
		}, nil, "bad3"},
		{"binary garbage", func() error {
			return rawPublish(t, addr, "foreign", []byte{0, 1, 2, 0xff, '\r', '\n'}, []byte{0xfe, 0})
		}, nil, "\xfe\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatalf("send: %v", err)
			}
			m := testenv.Recv(t, "the message", got)
			if string(m.Body) != tt.wantBody {
				t.Errorf("body %q, want %q", m.Body, tt.wantBody)
			}
			if len(m.Header) != len(tt.wantHeader) {
				t.Errorf("header %q, want %q", m.Header, tt.wantHeader)
			}
			for k, v := range tt.wantHeader {
				if m.Header[k] != v {
					t.Errorf("header %s = %q, want %q", k, m.Header[k], v)
				}
			}
		})
	}
	if !rec.logged(natsgo.ErrBadHeaderMsg.Error()) {
		t.Error("malformed headers were not logged")
	}
}
