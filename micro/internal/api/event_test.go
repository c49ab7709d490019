package api

import (
	"context"
	stdjson "encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// Greeting is the event a typed subscriber receives.
type Greeting struct {
	Name string `json:"name"`
}

// received is one event a typed go-micro subscriber got, with its
// metadata.
type received struct {
	msg Greeting
	md  metadata.Metadata
}

// startSubscriber runs a go-micro server with a typed subscriber on topic.
func (e *env) startSubscriber(t *testing.T, topic string) <-chan received {
	t.Helper()
	ch := make(chan received, 10)
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv, err := server.New(server.Name("subscriber"), server.Address("127.0.0.1:0"), server.Registry(e.reg),
		server.Transport(tr), server.Broker(e.bus.NewBroker()), server.Logger(e.logger))
	if err != nil {
		t.Fatal(err)
	}
	fn := func(ctx context.Context, g *Greeting) error {
		md, _ := metadata.FromContext(ctx)
		ch <- received{*g, md}
		return nil
	}
	if err := srv.Subscribe(srv.NewSubscriber(topic, fn)); err != nil {
		t.Fatal(err)
	}
	start(t, srv)
	return ch
}

func TestEvent(t *testing.T) {
	e := newEnv(t)
	typed := e.startSubscriber(t, "greeter.events")
	raw := make(chan *broker.Message, 10)
	sub, err := e.broker.Subscribe(t.Context(), "greeter.events", func(ctx context.Context, ev broker.Event) error {
		raw <- ev.Message()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe(context.Background()) })

	for _, tc := range []struct {
		name   string
		opts   []Option
		target string
	}{
		{"event route", nil, "/event/greeter.events"},
		{"event route with slashes", nil, "/event/greeter/events"},
		{"event handler", []Option{Handler("event")}, "/greeter.events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.gateway(t, tc.opts...)
			before := time.Now().UTC()
			w := do(t, s, "POST", tc.target, "application/json", `{"name":"Ann"}`)
			var ack struct{ Id, Topic string }
			wantJSON(t, w, &ack)
			if ack.Topic != "greeter.events" || len(ack.Id) != 32 {
				t.Fatalf("answer %+v", ack)
			}
			m := <-raw
			if string(m.Body) != `{"name":"Ann"}` {
				t.Errorf("body %q", m.Body)
			}
			h := m.Header
			if h["Content-Type"] != "application/json" || h["Micro-Topic"] != "greeter.events" || h["Micro-Id"] != ack.Id {
				t.Errorf("headers %v", h)
			}
			at, err := time.Parse(time.RFC3339Nano, h["Micro-Time"])
			if err != nil || at.Before(before.Add(-time.Second)) {
				t.Errorf("Micro-Time %q: %v", h["Micro-Time"], err)
			}
			if h["Micro-Origin"] != "192.0.2.1:1234" {
				t.Errorf("Micro-Origin %q", h["Micro-Origin"])
			}
			r := <-typed
			if r.msg.Name != "Ann" {
				t.Errorf("typed subscriber got %+v", r.msg)
			}
			if id, _ := r.md.Get("Micro-Time"); id == "" {
				t.Errorf("typed subscriber's metadata %v lacks Micro-Time", r.md)
			}
		})
	}

	s := e.gateway(t)
	for _, tc := range []struct {
		name, method, target, ct, body string
		code                           int
	}{
		{"wrong method", "GET", "/event/greeter.events", "", "", 405},
		{"no topic", "POST", "/event/", "application/json", "{}", 404},
		{"malformed json", "POST", "/event/greeter.events", "application/json", `{"name":`, 400},
		{"empty json", "POST", "/event/greeter.events", "application/json", ``, 400},
		{"no codec", "POST", "/event/greeter.events", "application/x-www-form-urlencoded", `name=Ann`, 415},
		{"bad topic", "POST", "/event/a%20b", "application/json", `{}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, s, tc.method, tc.target, tc.ct, tc.body), tc.code)
			w := do(t, s, "POST", "/event/other", "", `{"ok":true}`)
			var ack map[string]string
			wantJSON(t, w, &ack)
		})
	}

	// A broker that is not connected: 503.
	nb := e.bus.NewBroker()
	w := do(t, eventHandler(&options{broker: nb, timeout: time.Second, maxBody: 1 << 10}, "/"), "POST", "/x", "", `{}`)
	wantError(t, w, http.StatusServiceUnavailable)

	// Without a broker there is no event route.
	s2, err := New(Client(e.client), Logger(e.logger))
	if err != nil {
		t.Fatal(err)
	}
	w = do(t, s2, "POST", "/event/x", "application/json", `{}`)
	if w.Code == 200 {
		var v any
		_ = stdjson.Unmarshal(w.Body.Bytes(), &v)
		t.Fatalf("event published without a broker: %v", v)
	}
}
