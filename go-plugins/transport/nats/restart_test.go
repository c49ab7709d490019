package nats

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// TestServerRestart stops the NATS server under open streams and starts it
// again on the same port: the open streams end at once with
// ErrConnectionLost (what was sent meanwhile is lost, so they cannot go
// on), the listener and the go-micro server survive (the client
// subscribes again), and new streams and calls succeed once the
// transports have reconnected.
func TestServerRestart(t *testing.T) {
	ns := embedded(t, 0, nil)
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	disconnected := make(chan struct{}, 1)
	opts := []transport.Option{
		ConnOptions(natsgo.ReconnectWait(20 * time.Millisecond)),
		// The user's own handler is still called.
		ConnOptions(natsgo.DisconnectErrHandler(func(*natsgo.Conn, error) { signal(disconnected) })),
	}
	srvT := newTestTransport(t, url, opts...)
	cliT := newTestTransport(t, url, opts...)

	// A raw stream and a go-micro service over the same transports.
	l := serveEcho(t, srvT, "micro.test.restart."+randomID())
	raw := dial(t, cliT, l.Addr())
	roundTrip(t, raw, "before")
	reg := memory.New()
	startGreeter(t, reg, srvT)
	c := newClient(t, reg, cliT)
	if msg, err := hello(t.Context(), c, "before"); err != nil || msg != "Hello before" {
		t.Fatalf("call before the restart = %q, %v", msg, err)
	}
	stream, err := c.Stream(t.Context(), c.NewRequest("greeter", "Say.Stream", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stream.Close() }()
	if err := stream.Send(&HelloRequest{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Recv(&HelloResponse{}); err != nil {
		t.Fatal(err)
	}

	rawErr := make(chan error, 1)
	go func() {
		var m transport.Message
		rawErr <- raw.Recv(context.Background(), &m)
	}()
	streamErr := make(chan error, 1)
	go func() { streamErr <- stream.Recv(&HelloResponse{}) }()

	ns.Shutdown()
	ns.WaitForShutdown()
	if err := testenv.Recv(t, "the raw stream to fail", rawErr); !errors.Is(err, ErrConnectionLost) || !errors.Is(err, transport.ErrClosed) {
		t.Errorf("raw Recv across the outage = %v, want ErrConnectionLost", err)
	}
	if err := testenv.Recv(t, "the go-micro stream to fail", streamErr); err == nil {
		t.Error("go-micro stream Recv across the outage succeeded")
	}
	testenv.Wait(t, "the user's disconnect handler", disconnected)

	// While the server is down a Dial waits for the reconnect, bounded by
	// its ctx.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	if _, err := cliT.Dial(ctx, l.Addr()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial while disconnected = %v, want the ctx's deadline", err)
	}
	cancel()

	embedded(t, port, nil)
	for _, tr := range []*natsTransport{srvT, cliT} {
		testenv.WaitFor(t, "the transports to reconnect", tr.nc.IsConnected)
		// A round trip makes sure the server has the subscriptions back.
		if err := tr.nc.FlushTimeout(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	s := dial(t, cliT, l.Addr())
	roundTrip(t, s, "after")
	if msg, err := hello(t.Context(), c, "after"); err != nil || msg != "Hello after" {
		t.Fatalf("call after the restart = %q, %v", msg, err)
	}
	if err := echoStream(t.Context(), c, 100); err != nil {
		t.Fatalf("stream after the restart: %v", err)
	}
}

// TestDialWaitsForReconnect: a Dial made while the server is down
// succeeds once it is back, within the Dial's ctx and the transport's
// Timeout.
func TestDialWaitsForReconnect(t *testing.T) {
	ns := embedded(t, 0, nil)
	port := ns.Addr().(*net.TCPAddr).Port
	opts := []transport.Option{ConnOptions(natsgo.ReconnectWait(20 * time.Millisecond)), transport.Timeout(time.Minute)}
	srvT := newTestTransport(t, ns.ClientURL(), opts...)
	cliT := newTestTransport(t, ns.ClientURL(), opts...)
	l := serveEcho(t, srvT, "micro.test.wait."+randomID())
	ns.Shutdown()
	ns.WaitForShutdown()
	testenv.WaitFor(t, "the client to notice", func() bool { return !cliT.nc.IsConnected() })

	type result struct {
		s   transport.Socket
		err error
	}
	dialed := make(chan result, 1)
	go func() {
		s, err := cliT.Dial(context.Background(), l.Addr())
		dialed <- result{s, err}
	}()
	embedded(t, port, nil)
	r := testenv.Recv(t, "the Dial to finish", dialed)
	if r.err != nil {
		// The client may have reconnected before the listener's
		// transport subscribed again; that Dial is told so at once, and
		// the next one works.
		if !errors.Is(r.err, natsgo.ErrNoResponders) {
			t.Fatalf("Dial across the restart = %v", r.err)
		}
		testenv.WaitFor(t, "the listener to reconnect", srvT.nc.IsConnected)
		if err := srvT.nc.FlushTimeout(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		r.s = dial(t, cliT, l.Addr())
	} else {
		t.Cleanup(func() { _ = r.s.Close() })
	}
	roundTrip(t, r.s, "back")
}
