package mqtt

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
)

func TestServerURLs(t *testing.T) {
	tests := []struct {
		name   string
		addrs  []string
		secure bool
		want   []string
		err    string
	}{
		{"default", nil, false, []string{DefaultAddress}, ""},
		{"default TLS", nil, true, []string{"tls://127.0.0.1:8883"}, ""},
		{"host port", []string{"10.0.0.1:1884"}, false, []string{"tcp://10.0.0.1:1884"}, ""},
		{"host only", []string{"mqtt.example"}, false, []string{"tcp://mqtt.example:1883"}, ""},
		{"host only TLS", []string{"mqtt.example"}, true, []string{"tls://mqtt.example:8883"}, ""},
		{"tcp upgraded by TLS", []string{"tcp://h:1883"}, true, []string{"tls://h:1883"}, ""},
		{"ws upgraded by TLS", []string{"ws://h:9001/mqtt"}, true, []string{"wss://h:9001/mqtt"}, ""},
		{"ws without port", []string{"ws://h/mqtt"}, false, []string{"ws://h/mqtt"}, ""},
		{"ipv6", []string{"[::1]:1883"}, false, []string{"tcp://[::1]:1883"}, ""},
		{"userinfo", []string{"tcp://u:p@h:1883"}, false, []string{"tcp://u:p@h:1883"}, ""},
		{"comma list", []string{"a:1, b:2", ""}, false, []string{"tcp://a:1", "tcp://b:2"}, ""},
		{"several", []string{"mqtts://a", "ssl://b:1"}, false, []string{"mqtts://a:8883", "ssl://b:1"}, ""},
		{"bad scheme", []string{"http://h:1"}, false, nil, "not supported"},
		{"no host", []string{"tcp://:1883"}, false, nil, "no host"},
		{"unparsable", []string{"tcp://h:port"}, false, nil, "address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serverURLs(tt.addrs, tt.secure)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("serverURLs = %v, %v; want error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("serverURLs = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []broker.Option
		err  string
		chk  func(t *testing.T, b *mqttBroker)
	}{
		{name: "defaults", chk: func(t *testing.T, b *mqttBroker) {
			c := b.cfg
			if c.qos != DefaultQoS || !c.cleanSession || !c.shared || c.keepAlive != DefaultKeepAlive ||
				c.connectTimeout != DefaultConnectTimeout || c.maxReconnect != DefaultMaxReconnectInterval ||
				c.maxPending != DefaultMaxPending || c.clientID != "" || c.onError != nil {
				t.Errorf("defaults = %+v", c)
			}
			if b.Address() != DefaultAddress || b.String() != "mqtt" {
				t.Errorf("Address, String = %q, %q", b.Address(), b.String())
			}
		}},
		{name: "set", opts: []broker.Option{
			QoS(2), ClientID("svc-1"), CleanSession(false), SharedSubscriptions(false),
			Credentials("u", "p"), MaxPending(7), ErrorHandler(func(error) {}),
			broker.Addrs("10.1.1.1:1"), broker.TLS(&tls.Config{}),
		}, chk: func(t *testing.T, b *mqttBroker) {
			c := b.cfg
			if c.qos != 2 || c.clientID != "svc-1" || c.cleanSession || c.shared || !c.hasCredentials ||
				c.username != "u" || c.password != "p" || c.maxPending != 7 || c.onError == nil {
				t.Errorf("config = %+v", c)
			}
			if b.Address() != "tls://10.1.1.1:1" {
				t.Errorf("Address = %q", b.Address())
			}
		}},
		{name: "QoS 3", opts: []broker.Option{QoS(3)}, err: "QoS 3"},
		{name: "persistent without id", opts: []broker.Option{CleanSession(false)}, err: "ClientID"},
		{name: "bad address", opts: []broker.Option{broker.Addrs("udp://h:1")}, err: "scheme"},
		// An option outside its range fails New rather than being ignored
		// (or, for a keep-alive under a second, silently turning pings off).
		{name: "keep-alive under a second", opts: []broker.Option{KeepAlive(500 * time.Millisecond)}, err: "keep-alive"},
		{name: "keep-alive zero", opts: []broker.Option{KeepAlive(0)}, err: "keep-alive"},
		{name: "keep-alive past 16 bits", opts: []broker.Option{KeepAlive(65536 * time.Second)}, err: "keep-alive"},
		{name: "connect timeout negative", opts: []broker.Option{ConnectTimeout(-time.Second)}, err: "connect timeout"},
		{name: "reconnect interval zero", opts: []broker.Option{MaxReconnectInterval(0)}, err: "reconnect interval"},
		{name: "max pending zero", opts: []broker.Option{MaxPending(0)}, err: "max pending"},
		{name: "client id not UTF-8", opts: []broker.Option{ClientID("a\xffb")}, err: "client id"},
		{name: "keep-alive bounds", opts: []broker.Option{KeepAlive(time.Second), ConnectTimeout(time.Millisecond),
			MaxReconnectInterval(time.Millisecond)}, chk: func(t *testing.T, b *mqttBroker) {
			if c := b.cfg; c.keepAlive != time.Second || c.connectTimeout != time.Millisecond || c.maxReconnect != time.Millisecond {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "keep-alive most", opts: []broker.Option{KeepAlive(65535 * time.Second)}, chk: func(t *testing.T, b *mqttBroker) {
			if b.cfg.keepAlive != 65535*time.Second {
				t.Errorf("keep-alive = %v", b.cfg.keepAlive)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.opts...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("New = %v; want error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.chk(t, b.(*mqttBroker))
		})
	}
}

func TestRegistered(t *testing.T) {
	b, err := broker.Open("mqtt")
	if err != nil {
		t.Fatalf(`broker.Open("mqtt"): %v`, err)
	}
	if b.String() != "mqtt" {
		t.Errorf("String() = %q", b.String())
	}
	if _, err := broker.Open("mqtt", QoS(9)); err == nil {
		t.Error("Open with QoS 9 succeeded")
	}
}

func TestAddressHidesPassword(t *testing.T) {
	b, err := New(broker.Addrs("tcp://user:secret@h:1883"))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Address(); strings.Contains(got, "secret") || !strings.Contains(got, "user") {
		t.Errorf("Address() = %q", got)
	}
}

func TestClientID(t *testing.T) {
	a, b := clientID("", ""), clientID("", "g")
	if a == b || len(a) != 23 || !strings.HasPrefix(a, "micro-") {
		t.Errorf("random ids %q, %q", a, b)
	}
	if got := clientID("svc", ""); got != "svc" {
		t.Errorf("clientID(svc) = %q", got)
	}
	if got := clientID("svc", "workers"); got != "svc-q-workers" {
		t.Errorf("clientID(svc, workers) = %q", got)
	}
}

func TestNotConnectedWithoutServer(t *testing.T) {
	// Nothing listens on port 1 of loopback: Connect fails clearly, and
	// the broker stays unconnected.
	b, err := New(broker.Addrs("127.0.0.1:1"), broker.Logger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(t.Context()); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Connect = %v; want an error naming the server", err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Errorf("Publish = %v; want ErrNotConnected", err)
	}
	if err := b.Disconnect(t.Context()); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
}
