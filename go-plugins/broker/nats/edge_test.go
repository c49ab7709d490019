package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// Disconnect keeps the connection up until the handlers under way have
// returned, however long they take, and only then drains and closes it: in
// JetStream mode the ack of a handler that returns during Disconnect
// reaches the server, so the message is not redelivered after AckWait.
// nats.go's drain gives up after its DrainTimeout (30s by default) and
// closes the connection; the test shortens it so that "longer than the
// drain timeout" is quick.
func TestDisconnectKeepsConnectionForRunningHandlers(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			srv := embedded(t, 0, t.TempDir())
			opts := []broker.Option{broker.Addrs(srv.ClientURL())}
			if mode == "jetstream" {
				opts = append(opts, JetStream("DK", "dk.>"), AckWait(time.Hour))
			}
			pub := connected(t, opts...)
			closed := make(chan struct{})
			b := newTest(t, append(opts, NATSOptions(
				natsgo.DrainTimeout(200*time.Millisecond),
				natsgo.ClosedHandler(func(*natsgo.Conn) { close(closed) }),
			))...)
			if err := b.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			entered := make(chan struct{})
			var closedDuringCall atomic.Bool
			subscribe(t, b, "dk.t", func(ctx context.Context, e broker.Event) error {
				if e.Message().Header["Id"] != "m0" {
					return nil
				}
				close(entered)
				<-ctx.Done()
				// Work on after Disconnect began, for longer than the
				// drain timeout. The connection must stay up meanwhile;
				// the window only bounds how long the test looks.
				select {
				case <-closed:
					closedDuringCall.Store(true)
				case <-time.After(2 * time.Second):
				}
				return nil // acks
			}, broker.Queue("g"))
			if mode == "core" {
				in := newInbox()
				probe := subscribe(t, b, "dk.t", in.handle)
				syncProbes(t, pub, "dk.t", in)
				if err := probe.Unsubscribe(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			publishIDs(t, pub, "dk.t", "m0")
			testenv.Wait(t, "handler to start", entered)
			if err := b.Disconnect(t.Context()); err != nil {
				t.Fatalf("Disconnect: %v", err)
			}
			if closedDuringCall.Load() {
				t.Error("the connection closed while a handler was still running")
			}
			testenv.Wait(t, "the connection to close once the handler returned", closed)
			if mode == "core" {
				return
			}
			js := jsClient(t, srv.ClientURL())
			c, err := js.Consumer(t.Context(), "DK", consumerName("g", "dk.t"))
			if err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "the running handler's ack to reach the server", func() bool {
				info, err := c.Info(t.Context())
				return err == nil && info.AckFloor.Consumer == 1 && info.NumAckPending == 0
			})
		})
	}
}

// On the last delivery MaxDeliver allows, a failing handler's message is
// given up, and the log says so rather than promising a redelivery.
func TestJetStreamMaxDeliverLogsGivingUp(t *testing.T) {
	srv := embedded(t, 0, t.TempDir())
	rec := &records{}
	b := connected(t, broker.Addrs(srv.ClientURL()), JetStream("GIVEUP", "giveup.>"), MaxDeliver(2), broker.Logger(slog.New(rec)))
	// The server's advisory, as the documentation promises.
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	advisories := make(chan *natsgo.Msg, 4)
	name := consumerName("g", "giveup.t")
	if _, err := nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.GIVEUP."+name, advisories); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	in.fail = func(string, int) error { return errors.New("never") }
	subscribe(t, b, "giveup.t", in.handle, broker.Queue("g"))
	publishIDs(t, b, "giveup.t", "poison")
	testenv.WaitFor(t, "the message to be given up", func() bool {
		return rec.logged("broker/nats: handler failed on the last delivery; message given up")
	})
	testenv.Recv(t, "the max-deliveries advisory", advisories)
	if !rec.logged("deliveries=2") {
		t.Errorf("the give-up log does not count the deliveries: %q", rec.msgs)
	}
	if n := in.count("poison"); n != 2 {
		t.Errorf("poison delivered %d times, want 2", n)
	}
}

// A JetStream subscriber whose consumer disappears (deleted by an
// operator, expired after a long partition, lost with a server's store)
// makes a new one and goes on receiving, instead of going quiet.
func TestJetStreamConsumerRecreated(t *testing.T) {
	tests := []struct {
		name  string
		sopts []broker.SubscribeOption
	}{
		{"queue group", []broker.SubscribeOption{broker.Queue("g")}},
		{"own consumer", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := embedded(t, 0, t.TempDir())
			stream := fmt.Sprintf("GONE%d", i)
			rec := &records{}
			b := connected(t, broker.Addrs(srv.ClientURL()), JetStream(stream, "gone.>"), broker.Logger(slog.New(rec)))
			in := newInbox()
			sub := subscribe(t, b, "gone.t", in.handle, tt.sopts...)
			publishIDs(t, b, "gone.t", "before")
			in.waitFor(t, "before")

			name := sub.(*subscriber).consumer
			js := jsClient(t, srv.ClientURL())
			if err := js.DeleteConsumer(t.Context(), stream, name); err != nil {
				t.Fatal(err)
			}
			// What is published before the new consumer exists is lost
			// to it (it starts with new messages): probe until one
			// gets through.
			syncProbes(t, b, "gone.t", in)
			publishIDs(t, b, "gone.t", "after")
			in.waitFor(t, "after")
			if !rec.logged("broker/nats: JetStream consumer gone; created it again") {
				t.Error("the recreation was not logged")
			}
			if err := sub.Unsubscribe(t.Context()); err != nil {
				t.Fatal(err)
			}
			names := consumerNames(t, js, stream)
			if len(tt.sopts) == 0 && len(names) != 0 {
				t.Errorf("consumers left after Unsubscribe: %q", names)
			}
			if len(tt.sopts) != 0 && (len(names) != 1 || names[0] != name) {
				t.Errorf("consumers %q, want the queue group's %q", names, name)
			}
		})
	}
}

// The consumer is deleted while the subscriber's connection is down:
// once back, its pulls go unanswered, and it makes the consumer again.
// (Should the broker reconnect before the deletion, the deletion is seen
// as in TestJetStreamConsumerRecreated; the subscriber recovers either
// way.)
func TestJetStreamConsumerGoneAfterReconnect(t *testing.T) {
	dir := t.TempDir()
	srv := embedded(t, 0, dir)
	p := port(t, srv)
	rec := &records{}
	b := connected(t, broker.Addrs(srv.ClientURL()), JetStream("AWAY", "away.>"),
		ReconnectBackoff(3*time.Second, 3*time.Second), broker.Logger(slog.New(rec)))
	in := newInbox()
	sub := subscribe(t, b, "away.t", in.handle, broker.Queue("g"))
	publishIDs(t, b, "away.t", "before")
	in.waitFor(t, "before")
	restart(t, srv, p, dir, nil, b)
	js := jsClient(t, srv.ClientURL())
	if err := js.DeleteConsumer(t.Context(), "AWAY", sub.(*subscriber).consumer); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the broker to reconnect", func() bool { return connectedTo(b) })
	syncProbes(t, b, "away.t", in)
	publishIDs(t, b, "away.t", "after")
	in.waitFor(t, "after")
	if !rec.logged("broker/nats: JetStream consumer gone; created it again") {
		t.Error("the recreation was not logged")
	}
}

// A JetStream Publish whose ctx ends while the connection is down fails,
// yet the message stays in the reconnect buffer and is stored once the
// connection is back, as the package documentation warns: a retry after
// such an error may store the message twice.
func TestJetStreamPublishFailedWhileDownIsStoredLater(t *testing.T) {
	dir := t.TempDir()
	srv := embedded(t, 0, dir)
	p := port(t, srv)
	b := connected(t, broker.Addrs(srv.ClientURL()), fast(), JetStream("LATE", "late.>"))
	restart(t, srv, p, dir, func() {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := b.Publish(ctx, "late.t", &broker.Message{Body: []byte("x")}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Publish while down: %v, want the ctx's deadline", err)
		}
	}, b)
	js := jsClient(t, srv.ClientURL())
	testenv.WaitFor(t, "the failed publish to be stored", func() bool {
		st, err := js.Stream(t.Context(), "LATE")
		return err == nil && st.CachedInfo().State.Msgs == 1
	})
}
