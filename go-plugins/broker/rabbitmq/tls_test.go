package rabbitmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// TestTLS talks amqps to a TLS terminator in front of the server.
func TestTLS(t *testing.T) {
	e := setup(t)
	cfg := testenv.SelfSignedTLS(t)
	px := newProxy(t, e.server, cfg)

	b := e.connected(t, broker.Addrs(px.addr()), broker.TLS(&tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}))
	if got, want := b.Address(), "amqps://"+px.addr(); got != want {
		t.Errorf("Address() = %q, want %q", got, want)
	}
	got := make(chan string, 1)
	if _, err := b.Subscribe(t.Context(), "secure", func(_ context.Context, ev broker.Event) error {
		got <- string(ev.Message().Body)
		return nil
	}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Publish(t.Context(), "secure", &broker.Message{Body: []byte("over tls")}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if s := testenv.Recv(t, "message over TLS", got); s != "over tls" {
		t.Errorf("got %q", s)
	}

	// A client that does not trust the server's certificate cannot connect.
	untrusted := e.newBroker(t, broker.Addrs(px.addr()), broker.TLS(&tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}))
	if err := untrusted.Connect(t.Context()); err == nil {
		t.Error("Connect with an untrusted server certificate succeeded")
	}
}
