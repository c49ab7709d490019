package mqtt

import (
	"context"
	"errors"
	"sync"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// rawClient is a plain paho client, for publishing what the broker would
// never publish.
func rawClient(t *testing.T, addr string) paho.Client {
	t.Helper()
	po := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("raw-" + clientID("", "")[6:]).SetAutoReconnect(false)
	c := paho.NewClient(po)
	if tok := c.Connect(); !tok.WaitTimeout(testenv.Patience) || tok.Error() != nil {
		t.Fatalf("raw connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

func rawPublish(t *testing.T, c paho.Client, name string, payload []byte) {
	t.Helper()
	tok := c.Publish(name, 1, false, payload)
	if !tok.WaitTimeout(testenv.Patience) || tok.Error() != nil {
		t.Fatalf("raw publish: %v", tok.Error())
	}
}

// errorSink collects what the ErrorHandler gets.
type errorSink struct {
	mu   sync.Mutex
	errs []error
}

func (s *errorSink) handle(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *errorSink) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// TestGarbagePayloads publishes payloads that are not envelopes, raw on
// the mapped topic: each reaches the error path (the ErrorHandler, for the
// plain and for the queue-group subscription alike), no handler sees it,
// and valid messages published afterwards still arrive.
func TestGarbagePayloads(t *testing.T) {
	addr := sharedAddr(t)
	sink := &errorSink{}
	sb := connected(t, addr, ErrorHandler(sink.handle))
	pub := connected(t, addr)
	tp := uniqueTopic(t)
	plain, group := &inbox{}, &inbox{}
	if _, err := sb.Subscribe(t.Context(), tp, plain.handle); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Subscribe(t.Context(), tp, group.handle, broker.Queue("g")); err != nil {
		t.Fatal(err)
	}
	name, err := MapTopic(tp)
	if err != nil {
		t.Fatal(err)
	}
	garbage := [][]byte{
		nil,
		[]byte("plain text"),
		[]byte(`{"header":{"Id":"x"},"body":"aGk="}`),
		{envelopeMagic},
		{envelopeMagic, 7, 0},                       // unknown version
		{envelopeMagic, 1, 3, 1, 'k'},               // truncated header
		{envelopeMagic, 1, 2, 1, 'k', 0, 1, 'k', 0}, // duplicate key
		{envelopeMagic, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	raw := rawClient(t, addr)
	for _, p := range garbage {
		rawPublish(t, raw, name, p)
	}
	valid := ids("valid-", 10)
	publish(t, pub, tp, valid...)
	// A valid envelope published by another client arrives as well.
	rawPublish(t, raw, name, EncodeEnvelope(&broker.Message{Header: map[string]string{"Id": "raw-valid"}}))

	want := 2 * len(garbage) // once per subscription: they are on two connections
	testenv.WaitFor(t, "valid messages and every error", func() bool {
		return plain.count() >= len(valid)+1 && group.count() >= len(valid)+1 && len(sink.all()) >= want
	})
	all := append(valid, "raw-valid")
	expectOnce(t, "plain", plain, all)
	expectOnce(t, "group", group, all)
	if n := plain.count(); n != len(all) {
		t.Errorf("plain handler saw %d messages, want %d", n, len(all))
	}
	errs := sink.all()
	if len(errs) != want {
		t.Errorf("%d errors reported, want %d: %v", len(errs), want, errs)
	}
	queues := map[string]int{}
	for _, err := range errs {
		var de *DeliveryError
		if !errors.As(err, &de) || !errors.Is(err, ErrInvalidEnvelope) {
			t.Errorf("reported %v (%T), want a *DeliveryError wrapping ErrInvalidEnvelope", err, err)
			continue
		}
		if de.Topic != tp {
			t.Errorf("DeliveryError.Topic = %q, want %q", de.Topic, tp)
		}
		queues[de.Queue]++
	}
	if queues[""] != len(garbage) || queues["g"] != len(garbage) {
		t.Errorf("errors per queue group = %v, want %d each for \"\" and \"g\"", queues, len(garbage))
	}
}

// TestGarbageIsLoggedWithoutHandler checks the default error path: a
// warning through the broker's logger.
func TestGarbageIsLoggedWithoutHandler(t *testing.T) {
	addr := sharedAddr(t)
	rec := &logRecorder{}
	sb := connected(t, addr, broker.Logger(newSlog(rec)))
	tp := uniqueTopic(t)
	in := &inbox{}
	if _, err := sb.Subscribe(t.Context(), tp, in.handle); err != nil {
		t.Fatal(err)
	}
	name, _ := MapTopic(tp)
	raw := rawClient(t, addr)
	rawPublish(t, raw, name, []byte("garbage"))
	rawPublish(t, raw, name, EncodeEnvelope(&broker.Message{Header: map[string]string{"Id": "ok"}}))
	testenv.WaitFor(t, "the valid message", func() bool { return in.has("ok") == 1 })
	testenv.WaitFor(t, "the warning", func() bool { return rec.count("broker/mqtt: dropping message") == 1 })
	if n := in.count(); n != 1 {
		t.Errorf("handler saw %d messages, want 1", n)
	}
}

// TestHandlerPanics checks that a panicking handler is contained: the
// message is settled and later ones still arrive.
func TestHandlerPanics(t *testing.T) {
	addr := sharedAddr(t)
	sb := connected(t, addr)
	tp := uniqueTopic(t)
	in := &inbox{}
	if _, err := sb.Subscribe(t.Context(), tp, func(ctx context.Context, e broker.Event) error {
		if e.Message().Header["Id"] == "boom" {
			panic("on purpose")
		}
		return in.handle(ctx, e)
	}); err != nil {
		t.Fatal(err)
	}
	publish(t, sb, tp, "boom", "after")
	testenv.WaitFor(t, "the message after the panic", func() bool { return in.has("after") == 1 })
}

// TestNacksDoNotStall fails every delivery of more messages than
// Mosquitto's in-flight window (20): a nack must still acknowledge the
// message to the server, or delivery would stop at the window.
func TestNacksDoNotStall(t *testing.T) {
	addr := sharedAddr(t)
	sb := connected(t, addr)
	pub := connected(t, addr)
	tp := uniqueTopic(t)
	in := &inbox{}
	if _, err := sb.Subscribe(t.Context(), tp, func(ctx context.Context, e broker.Event) error {
		_ = in.handle(ctx, e)
		return errors.New("fails on purpose")
	}); err != nil {
		t.Fatal(err)
	}
	const n = 100
	publish(t, pub, tp, ids("n", n)...)
	testenv.WaitFor(t, "every failed message", func() bool { return in.count() >= n })
	expectOnce(t, "failing handler", in, ids("n", n))
}

// TestManualAckLate acks after the handler returned, from another
// goroutine: the messages count as acked (delivery goes on past the
// in-flight window).
func TestManualAckLate(t *testing.T) {
	addr := sharedAddr(t)
	sb := connected(t, addr)
	pub := connected(t, addr)
	tp := uniqueTopic(t)
	in := &inbox{}
	events := make(chan broker.Event, 200)
	if _, err := sb.Subscribe(t.Context(), tp, func(ctx context.Context, e broker.Event) error {
		events <- e
		return in.handle(ctx, e)
	}, broker.DisableAutoAck()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // acks until the test is over
		defer close(done)
		for {
			select {
			case e := <-events:
				_ = e.Ack()
				_ = e.Nack() // does nothing after Ack
			case <-t.Context().Done():
				return
			}
		}
	}()
	t.Cleanup(func() { <-done })
	const n = 60
	publish(t, pub, tp, ids("m", n)...)
	testenv.WaitFor(t, "every message", func() bool { return in.count() >= n })
	expectOnce(t, "late acker", in, ids("m", n))
}

// TestUnsubscribeOneOfTwo checks that two subscriptions of one broker to
// one topic share its MQTT subscription: unsubscribing one leaves the
// other receiving.
func TestUnsubscribeOneOfTwo(t *testing.T) {
	addr := sharedAddr(t)
	sb := connected(t, addr)
	pub := connected(t, addr)
	tp := uniqueTopic(t)
	a, b := &inbox{}, &inbox{}
	subA, err := sb.Subscribe(t.Context(), tp, a.handle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Subscribe(t.Context(), tp, b.handle); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, tp, "both")
	testenv.WaitFor(t, "first message at both", func() bool { return a.has("both") == 1 && b.has("both") == 1 })
	if err := subA.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := sb.(*mqttBroker).session().main
	name, _ := MapTopic(tp)
	c.mu.Lock()
	left := len(c.filters[name].subs)
	c.mu.Unlock()
	if left != 1 {
		t.Fatalf("%d local subscribers left on the topic, want 1", left)
	}
	publish(t, pub, tp, "only-b")
	testenv.WaitFor(t, "second message at b", func() bool { return b.has("only-b") == 1 })
	// Everything on the connection is in order: "only-b" was the last
	// message, so a would have it by now if it were still subscribed.
	if a.has("only-b") != 0 {
		t.Error("unsubscribed handler got a message")
	}
}

// TestOverflow blocks a QoS 0 subscriber (QoS 0 has no in-flight window)
// with MaxPending(2): surplus messages are dropped and reported, and every
// message is either handled or reported.
func TestOverflow(t *testing.T) {
	addr := sharedAddr(t)
	sink := &errorSink{}
	sb := connected(t, addr, QoS(0), MaxPending(2), ErrorHandler(sink.handle))
	pub := connected(t, addr, QoS(0))
	tp := uniqueTopic(t)
	in := &inbox{}
	release := make(chan struct{})
	if _, err := sb.Subscribe(t.Context(), tp, func(ctx context.Context, e broker.Event) error {
		<-release
		return in.handle(ctx, e)
	}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	publish(t, pub, tp, ids("o", n)...)
	// The handler holds one message and the queue two: the rest overflow.
	testenv.WaitFor(t, "overflow reports", func() bool { return len(sink.all()) >= n-3 })
	close(release)
	testenv.WaitFor(t, "every message handled or reported", func() bool { return in.count()+len(sink.all()) >= n })
	for _, err := range sink.all() {
		if !errors.Is(err, ErrOverflow) {
			t.Errorf("reported %v, want ErrOverflow", err)
		}
	}
	if got := in.count() + len(sink.all()); got != n {
		t.Errorf("handled + reported = %d, want %d", got, n)
	}
	if in.count() > 3 {
		t.Errorf("handled %d messages with room for 3", in.count())
	}
}
