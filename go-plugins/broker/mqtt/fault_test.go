package mqtt

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// TestReconnect kills the test's own Mosquitto under a subscriber (with a
// plain and a queue-group subscription) and a publisher, starts it again on
// the same port, and checks that both reconnect, that the subscriptions
// are restored (the restarted server has forgotten them) and that later
// messages arrive.
func TestReconnect(t *testing.T) {
	m := startMosquitto(t, "")
	subLog, pubLog := &logRecorder{}, &logRecorder{}
	fast := MaxReconnectInterval(200 * time.Millisecond)
	sb := connected(t, m.addr, fast, broker.Logger(slog.New(subLog)))
	pub := connected(t, m.addr, fast, broker.Logger(slog.New(pubLog)))
	tp := uniqueTopic(t)
	plain, group := &inbox{}, &inbox{}
	if _, err := sb.Subscribe(t.Context(), tp, plain.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Subscribe(t.Context(), tp, group.handle, broker.Queue("workers")); err != nil {
		t.Fatal(err)
	}
	before := ids("before-", 5)
	publish(t, pub, tp, before...)
	testenv.WaitFor(t, "messages before the outage", func() bool { return plain.count() >= 5 && group.count() >= 5 })

	m.kill()
	// The subscriber's two connections (main and queue group) and the
	// publisher's notice the loss.
	testenv.WaitFor(t, "connections to be lost", func() bool {
		return subLog.count("broker/mqtt: connection lost") >= 2 && pubLog.count("broker/mqtt: connection lost") >= 1
	})
	// A QoS 1 publish waits for the server, so with it down it ends with
	// its ctx (paho keeps the message and may send it after reconnecting).
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err := pub.Publish(ctx, tp, &broker.Message{Header: map[string]string{"Id": "during"}})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish during the outage = %v, want DeadlineExceeded", err)
	}
	m.start()
	testenv.WaitFor(t, "subscriptions to be restored", func() bool {
		return subLog.count("broker/mqtt: reconnected; subscriptions restored") >= 2
	})
	testenv.WaitFor(t, "publisher to reconnect", func() bool {
		return pubLog.count("broker/mqtt: reconnected") >= 1
	})
	after := ids("after-", 10)
	publish(t, pub, tp, after...)
	testenv.WaitFor(t, "messages after the restart", func() bool {
		for _, id := range after {
			if plain.has(id) == 0 || group.has(id) == 0 {
				return false
			}
		}
		return true
	})
	expectOnce(t, "plain", plain, append(before, after...))
	expectOnce(t, "group", group, append(before, after...))
}

// TestPersistentSession checks CleanSession(false): messages published
// while the subscriber is away (Disconnect, then Connect again with the
// same ClientID) are delivered once it subscribes again.
func TestPersistentSession(t *testing.T) {
	m := startMosquitto(t, "")
	sb := newTestBroker(t, m.addr, ClientID("persist-"+strconv.FormatInt(time.Now().UnixNano(), 36)), CleanSession(false))
	pub := connected(t, m.addr)
	tp := uniqueTopic(t)
	if err := sb.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := &inbox{}
	if _, err := sb.Subscribe(t.Context(), tp, first.handle); err != nil {
		t.Fatal(err)
	}
	if err := sb.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	away := ids("away-", 5)
	publish(t, pub, tp, away...)

	if err := sb.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = sb.Disconnect(ctx)
	})
	// The server sends the queued messages right after CONNECT; wait until
	// they are here, held for a Subscribe, so the test covers that order.
	c := sb.(*mqttBroker).session().main
	testenv.WaitFor(t, "queued messages to arrive before Subscribe", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.orphans) == len(away)
	})
	second := &inbox{}
	sub, err := sb.Subscribe(t.Context(), tp, second.handle)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "messages queued while away", func() bool { return second.count() >= len(away) })
	expectOnce(t, "returning subscriber", second, away)
	if n := first.count(); n != 0 {
		t.Errorf("first subscriber got %d messages after Disconnect", n)
	}
	// Unsubscribe removes the subscription from the server's session.
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestTLS runs a Mosquitto of the test's own with a TLS listener and
// checks that broker.TLS secures the connection and that a broker that
// does not trust the server's certificate cannot connect.
func TestTLS(t *testing.T) {
	certFile, keyFile, cfg := testenv.SelfSignedFiles(t)
	m := startMosquitto(t, "certfile "+certFile+"\nkeyfile "+keyFile)

	b := connected(t, m.addr, broker.TLS(cfg))
	if got := b.Address(); got != "tls://"+m.addr {
		t.Errorf("Address = %q, want tls://%s", got, m.addr)
	}
	tp := uniqueTopic(t)
	in := &inbox{}
	if _, err := b.Subscribe(t.Context(), tp, in.handle); err != nil {
		t.Fatal(err)
	}
	publish(t, b, tp, "secure")
	testenv.WaitFor(t, "message over TLS", func() bool { return in.has("secure") == 1 })

	untrusting := cfg.Clone()
	untrusting.RootCAs = nil // the system roots do not know the test's certificate
	nb := newTestBroker(t, m.addr, broker.TLS(untrusting), ConnectTimeout(5*time.Second))
	if err := nb.Connect(t.Context()); err == nil {
		_ = nb.Disconnect(t.Context())
		t.Fatal("Connect trusting nothing succeeded")
	}
	plain := newTestBroker(t, m.addr, ConnectTimeout(5*time.Second))
	if err := plain.Connect(t.Context()); err == nil {
		_ = plain.Disconnect(t.Context())
		t.Fatal("plain Connect to a TLS listener succeeded")
	}
}

// TestConnectCancelled checks that Connect with an ended ctx fails with
// its error and leaves the broker unconnected.
func TestConnectCancelled(t *testing.T) {
	b := newTestBroker(t, blackHole(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Connect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect with a cancelled ctx = %v", err)
	}
	if err := b.Publish(t.Context(), "t", &broker.Message{}); !errors.Is(err, broker.ErrNotConnected) {
		t.Fatalf("Publish = %v, want ErrNotConnected", err)
	}
}

// TestSubscribeDuringOutage: Subscribe called while the server cannot be
// reached waits for it within its ctx, like Publish at QoS 1: with a ctx
// that ends first it fails with ErrReconnecting and the ctx's error, and
// otherwise it goes through once the server is back, plain and for a new
// queue group alike, and the subscriptions deliver.
func TestSubscribeDuringOutage(t *testing.T) {
	m := startMosquitto(t, "")
	rec := &logRecorder{}
	b := connected(t, m.addr, MaxReconnectInterval(200*time.Millisecond), broker.Logger(slog.New(rec)))
	tp := uniqueTopic(t)
	m.kill()
	testenv.WaitFor(t, "the connection to be lost", func() bool { return rec.count("broker/mqtt: connection lost") >= 1 })

	for _, group := range []string{"", "early"} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err := b.Subscribe(ctx, tp, (&inbox{}).handle, broker.Queue(group))
		cancel()
		if !errors.Is(err, ErrReconnecting) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Subscribe (group %q) during the outage with a short ctx = %v, want ErrReconnecting and DeadlineExceeded", group, err)
		}
	}

	plain, group := &inbox{}, &inbox{}
	errs := make(chan error, 2)
	go func() {
		_, err := b.Subscribe(t.Context(), tp, plain.handle)
		errs <- err
	}()
	go func() {
		_, err := b.Subscribe(t.Context(), tp, group.handle, broker.Queue("late"))
		errs <- err
	}()
	m.start()
	for range 2 {
		if err := testenv.Recv(t, "Subscribe during the outage", errs); err != nil {
			t.Fatalf("Subscribe during the outage: %v", err)
		}
	}
	publish(t, b, tp, "after")
	testenv.WaitFor(t, "the message at both", func() bool { return plain.has("after") == 1 && group.has("after") == 1 })
}
