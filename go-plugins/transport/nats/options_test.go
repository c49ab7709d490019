package nats

import (
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/transport"
)

func TestSettings(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name  string
		opts  []transport.Option
		check func(t *testing.T, s settings)
	}{
		{"defaults", nil, func(t *testing.T, s settings) {
			if !slices.Equal(s.addrs, []string{DefaultAddr}) || s.timeout != transport.DefaultTimeout ||
				s.maxMsg != transport.DefaultMaxMessageSize || s.prefix != DefaultSubjectPrefix ||
				s.window != DefaultWindow || s.keepalive != DefaultKeepalive || s.log != slog.Default() || s.conn != nil ||
				s.streams != DefaultMaxStreams {
				t.Errorf("defaults: %+v", s)
			}
		}},
		{"addresses", []transport.Option{transport.Addrs("127.0.0.1:4222", " tls://a:1 , b:2", "")}, func(t *testing.T, s settings) {
			want := []string{"nats://127.0.0.1:4222", "tls://a:1", "nats://b:2"}
			if !slices.Equal(s.addrs, want) {
				t.Errorf("addrs %q, want %q", s.addrs, want)
			}
		}},
		{"generic", []transport.Option{transport.Timeout(time.Second), transport.MaxMessageSize(1000)}, func(t *testing.T, s settings) {
			if s.timeout != time.Second || s.maxMsg != 1000 {
				t.Errorf("timeout %v, maxMsg %d", s.timeout, s.maxMsg)
			}
		}},
		{"huge message size", []transport.Option{transport.MaxMessageSize(1 << 40)}, func(t *testing.T, s settings) {
			if s.maxMsg != maxMessageSize {
				t.Errorf("maxMsg %d, want the cap %d", s.maxMsg, maxMessageSize)
			}
		}},
		{"own", []transport.Option{SubjectPrefix("svc.rpc"), Window(4096), Keepalive(time.Minute), Logger(logger), MaxStreams(10)}, func(t *testing.T, s settings) {
			if s.prefix != "svc.rpc" || s.window != 4096 || s.keepalive != time.Minute || s.log != logger || s.streams != 10 {
				t.Errorf("own options: %+v", s)
			}
		}},
		{"keepalive off", []transport.Option{Keepalive(-1)}, func(t *testing.T, s settings) {
			if s.keepalive != 0 {
				t.Errorf("keepalive %v, want 0 (off)", s.keepalive)
			}
		}},
		{"bad window ignored", []transport.Option{Window(0)}, func(t *testing.T, s settings) {
			if s.window != DefaultWindow {
				t.Errorf("window %d", s.window)
			}
		}},
		{"bad max streams ignored", []transport.Option{MaxStreams(0)}, func(t *testing.T, s settings) {
			if s.streams != DefaultMaxStreams {
				t.Errorf("max streams %d", s.streams)
			}
		}},
		{"conn options add up", []transport.Option{ConnOptions(natsgo.Name("a")), ConnOptions(natsgo.Token("t"), natsgo.NoEcho())}, func(t *testing.T, s settings) {
			if len(s.conn) != 3 {
				t.Errorf("%d nats options, want 3", len(s.conn))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSettings(tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestBadSubjectPrefix(t *testing.T) {
	for _, p := range []string{"", "a.", "a.*", "a b"} {
		if _, err := NewTransport(SubjectPrefix(p)); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("NewTransport(SubjectPrefix(%q)) = %v, want ErrInvalidSubject", p, err)
		}
	}
}

func TestValidSubject(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"a", true},
		{"micro.transport.abc", true},
		{"127.0.0.1:8080", true},
		{"_INBOX.x.1", true},
		{"", false},
		{".a", false},
		{"a.", false},
		{"a..b", false},
		{"a.*.b", false},
		{">", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"a\x7f", false},
		{string(make([]byte, 2000)), false},
	}
	for _, tc := range tests {
		if err := validSubject(tc.s); (err == nil) != tc.ok {
			t.Errorf("validSubject(%q) = %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
}

func TestIsHostPort(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:0", true},
		{":8080", true},
		{"[::1]:9000", true},
		{"localhost:80", true},
		{"greeter", false},
		{"micro.transport.x", false},
		{"a:b", false},
		{"a:99999", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := isHostPort(tc.addr); got != tc.want {
			t.Errorf("isHostPort(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
