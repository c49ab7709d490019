package rabbitmq

import (
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/transport"
)

func TestEngineURL(t *testing.T) {
	tests := []struct {
		in, want string
		tls      bool
		bad      bool
	}{
		{in: "127.0.0.1:5672", want: "amqp://guest:guest@127.0.0.1:5672/"},
		{in: "rabbit:5671", tls: true, want: "amqps://guest:guest@rabbit:5671/"},
		{in: "amqp://u:p@h:1/vh", want: "amqp://u:p@h:1/vh"},
		{in: "amqp://u:p@h/vh", tls: true, want: "amqps://u:p@h/vh"},
		{in: "amqps://u:p@h:5671/", want: "amqps://u:p@h:5671/"},
		{in: " 127.0.0.1:5672 ", want: "amqp://guest:guest@127.0.0.1:5672/"},
		{in: "rabbit", bad: true},
		{in: "http://h:1/", bad: true},
		{in: "", bad: true},
	}
	for _, tc := range tests {
		got, err := engineURL(tc.in, tc.tls)
		if tc.bad {
			if err == nil {
				t.Errorf("engineURL(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("engineURL(%q, %v) = %q, %v; want %q", tc.in, tc.tls, got, err, tc.want)
		}
	}
}

func TestIsReplyQueue(t *testing.T) {
	for name, want := range map[string]bool{
		replyQueueName("0123456789abcdef", 1):        true,
		replyQueueName("0123456789abcdef", 12):       true,
		"micro.transport.0123456789abcdef.reply.":    false,
		"micro.transport.0123456789ABCDEF.reply.1":   false,
		"micro.transport.0123456789abcde.reply.1":    false,
		"micro.transport.0123456789abcdef.reply.1x":  false,
		"micro.transport.0123456789abcdef.replies.1": false,
		"micro.transport." + randomHex(16):           false,
		"greeter":                                    false,
		"":                                           false,
	} {
		if got := isReplyQueue(name); got != want {
			t.Errorf("isReplyQueue(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:secret@127.0.0.1:5672/":  "amqp://127.0.0.1:5672/",
		"amqps://u:secret@h/vhost":             "amqps://h:5671/vhost",
		"amqp://u:secret@h:1/%2Fvh":            "amqp://h:1//vh",
		"amqp://u:secret@[::1:bad/unparsable%": "amqp://(unparsable)",
	} {
		if got := redact(in); got != want || strings.Contains(got, "secret") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSettings(t *testing.T) {
	s, err := newSettings("abc")
	if err != nil {
		t.Fatal(err)
	}
	if s.name != "micro-transport-abc" || s.probeInterval != DefaultProbeInterval || s.heartbeat != DefaultHeartbeat ||
		len(s.urls) != 1 || s.urls[0] != DefaultAddress || s.opts.Timeout != transport.DefaultTimeout ||
		s.opts.MaxMessageSize != transport.DefaultMaxMessageSize || s.maxStreams != DefaultMaxStreams {
		t.Fatalf("defaults: %+v", s)
	}
	if s, _ := newSettings("abc", MaxStreams(0)); s.maxStreams != DefaultMaxStreams {
		t.Fatalf("MaxStreams(0) gave %d", s.maxStreams)
	}
	s, err = newSettings("abc", ConnectionName("orders"), ProbeInterval(3*time.Second), Heartbeat(time.Second), MaxStreams(7),
		transport.Addrs("a:1", "amqp://b:2/"), transport.MaxMessageSize(1<<40), transport.Timeout(-1))
	if err != nil {
		t.Fatal(err)
	}
	if s.name != "orders" || s.probeInterval != 3*time.Second || s.heartbeat != time.Second || len(s.urls) != 2 ||
		s.opts.MaxMessageSize != maxCredit-frameOverhead || s.opts.Timeout != transport.DefaultTimeout || s.maxStreams != 7 {
		t.Fatalf("options: %+v", s)
	}
	if _, err := NewTransport(transport.Addrs("not an address")); err == nil {
		t.Fatal("NewTransport with a bad address succeeded")
	}
}
