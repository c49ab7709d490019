package nats

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

func TestListenAddresses(t *testing.T) {
	addr := outsideAddr(t)
	tr := newTestTransport(t, addr, SubjectPrefix("micro.test.prefix"))
	subject := "micro.test.given." + randomID()
	tests := []struct {
		addr       string
		wantPrefix string // the address starts with it
		exact      bool   // the address is addr itself
	}{
		{"127.0.0.1:0", "micro.test.prefix.", false},
		{":8080", "micro.test.prefix.", false},
		{"[::1]:0", "micro.test.prefix.", false},
		{"", "micro.test.prefix.", false},
		{subject, subject, true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			l := serveEcho(t, tr, tc.addr)
			got := l.Addr()
			if !strings.HasPrefix(got, tc.wantPrefix) || (tc.exact && got != tc.addr) || validSubject(got) != nil {
				t.Fatalf("Listen(%q).Addr() = %q, want %q", tc.addr, got, tc.wantPrefix)
			}
			roundTrip(t, dial(t, tr, got), "hi")
		})
	}
	for _, bad := range []string{"a..b", "a.>", "with space"} {
		if _, err := tr.Listen(t.Context(), bad); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("Listen(%q) = %v, want ErrInvalidSubject", bad, err)
		}
	}
}

// TestSharedSubject: listeners on one subject, even in different
// processes, share its streams: each is accepted once.
func TestSharedSubject(t *testing.T) {
	addr := outsideAddr(t)
	subject := "micro.test.shared." + randomID()
	var a, b atomic.Int64
	for _, n := range []*atomic.Int64{&a, &b} {
		serve(t, newTestTransport(t, addr), subject, func(ctx context.Context, s transport.Socket) {
			n.Add(1)
			for {
				var m transport.Message
				if s.Recv(ctx, &m) != nil || s.Send(ctx, &m) != nil {
					return
				}
			}
		})
	}
	client := newTestTransport(t, addr)
	const streams = 40
	for range streams {
		s := dial(t, client, subject)
		roundTrip(t, s, "x")
		_ = s.Close()
	}
	if got := a.Load() + b.Load(); got != streams {
		t.Errorf("the listeners accepted %d streams (%d and %d), want %d", got, a.Load(), b.Load(), streams)
	}
}

// TestShutdownRefuses: a Dial to a listener that is shutting down fails
// with ErrRefused (or finds nobody once the subscription is gone), and
// Shutdown waits for the open stream.
func TestShutdownRefuses(t *testing.T) {
	addr := outsideAddr(t)
	tr := newTestTransport(t, addr)
	release := make(chan struct{})
	l := serve(t, tr, "", func(ctx context.Context, s transport.Socket) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	held := dial(t, tr, l.Addr())
	roundTripless := held.Send(t.Context(), &transport.Message{Body: []byte("hold")})
	if roundTripless != nil {
		t.Fatal(roundTripless)
	}
	shut := make(chan error, 1)
	go func() { shut <- l.Shutdown(context.Background()) }()
	testenv.WaitFor(t, "the listener to refuse", func() bool {
		s, err := tr.Dial(t.Context(), l.Addr())
		if err == nil {
			_ = s.Close()
			return false
		}
		if !errors.Is(err, ErrRefused) && !errors.Is(err, natsgo.ErrNoResponders) {
			t.Fatalf("Dial during Shutdown = %v, want ErrRefused or nats.ErrNoResponders", err)
		}
		return true
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a stream open", err)
	default:
	}
	close(release)
	if err := testenv.Recv(t, "Shutdown", shut); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// TestListenerCloseResets: closing a listener cuts its streams; their
// peers get an error (not a clean io.EOF) that matches ErrReset.
func TestListenerCloseResets(t *testing.T) {
	addr := outsideAddr(t)
	tr := newTestTransport(t, addr)
	l, err := tr.Listen(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	got := make(chan transport.Socket, 1)
	wg.Go(func() { _ = l.Accept(func(s transport.Socket) { got <- s }) })
	s := dial(t, tr, l.Addr())
	if err := s.Send(t.Context(), &transport.Message{}); err != nil {
		t.Fatal(err)
	}
	ss := testenv.Recv(t, "the accepted stream", got)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ss.Send(t.Context(), &transport.Message{}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send on a stream of a closed listener = %v, want ErrClosed", err)
	}
	if err := s.Recv(t.Context(), &transport.Message{}); !errors.Is(err, ErrReset) || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("peer Recv = %v, want ErrReset", err)
	}
	if err := l.Accept(func(transport.Socket) {}); !errors.Is(err, errAcceptTwice) {
		t.Errorf("second Accept = %v", err)
	}
}

// TestUnknownStream: a frame sent to a stream subject that no stream owns
// is answered with RESET; a RESET is not answered.
func TestUnknownStream(t *testing.T) {
	addr := outsideAddr(t)
	tr := newTestTransport(t, addr)
	nc, err := natsgo.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	reply := "micro.test.unknown." + randomID()
	sub, err := nc.SubscribeSync(reply + ".*")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame []byte
		reset bool
	}{
		{"data", append(appendDataHeader(nil, flagFirst|flagLast, 1, 2), "hi"...), true},
		{"ping", appendFrame(nil, framePing, 0, 1, 0, ""), true},
		{"end", appendFrame(nil, frameEnd, 0, 1, 0, ""), true},
		{"reset", appendFrame(nil, frameReset, 0, 0, codeClosed, ""), false},
		{"close", appendFrame(nil, frameClose, 0, 1, 0, ""), false},
		{"garbage", []byte("garbage"), false},
	}
	// next reads the next answer, which must be a RESET sent to subject.
	next := func(t *testing.T, subject string) {
		t.Helper()
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != subject {
			t.Fatalf("an answer to %s, want one to %s", m.Subject, subject)
		}
		if f, err := parseFrame(m.Data); err != nil || f.typ != frameReset || f.n != codeUnknown {
			t.Fatalf("answer %x (%v), want RESET", m.Data, err)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := nc.PublishRequest(tr.inbox+"nosuchstream", reply+".frame", tc.frame); err != nil {
				t.Fatal(err)
			}
			// A PING to an unknown stream afterwards marks the end: the
			// transport answers frames in order.
			if err := nc.PublishRequest(tr.inbox+"nosuchstream", reply+".marker", appendFrame(nil, framePing, 0, 2, 0, "")); err != nil {
				t.Fatal(err)
			}
			if tc.reset {
				next(t, reply+".frame")
			}
			next(t, reply+".marker")
		})
	}
}

// TestTLS connects to a server that requires TLS with transport.TLS.
func TestTLS(t *testing.T) {
	cfg := testenv.SelfSignedTLS(t)
	ns := embedded(t, 0, func(o *server.Options) {
		o.TLS = true
		o.TLSConfig = cfg
		o.TLSTimeout = 10
	})
	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	if _, err := NewTransport(transport.Addrs(ns.ClientURL()), transport.Timeout(5*time.Second), Logger(quiet)); err == nil {
		t.Fatal("a plain connection to a TLS-only server worked")
	}
	tr := newTestTransport(t, url, transport.TLS(cfg))
	l := serveEcho(t, tr, "")
	roundTrip(t, dial(t, tr, l.Addr()), "secret")
}

// TestTransportClose: after Close, Dial and Listen fail with ErrClosed.
func TestTransportClose(t *testing.T) {
	tr := newTestTransport(t, outsideAddr(t))
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Dial(t.Context(), "a.b"); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Dial = %v", err)
	}
	if _, err := tr.Listen(t.Context(), ""); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Listen = %v", err)
	}
	if !tr.nc.IsClosed() {
		t.Error("the connection is still open")
	}
}
