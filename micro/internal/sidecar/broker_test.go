package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openmicro/go-micro/broker"
	httpbroker "github.com/openmicro/go-micro/broker/http"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// countingBroker counts the subscriptions that are open.
type countingBroker struct {
	broker.Broker
	open atomic.Int64
}

func (b *countingBroker) Subscribe(ctx context.Context, topic string, h broker.Handler, opts ...broker.SubscribeOption) (broker.Subscriber, error) {
	sub, err := b.Broker.Subscribe(ctx, topic, h, opts...)
	if err != nil {
		return nil, err
	}
	b.open.Add(1)
	return &countedSub{Subscriber: sub, b: b}, nil
}

type countedSub struct {
	broker.Subscriber
	b    *countingBroker
	once sync.Once
}

func (s *countedSub) Unsubscribe(ctx context.Context) error {
	s.once.Do(func() { s.b.open.Add(-1) })
	return s.Subscriber.Unsubscribe(ctx)
}

// frame is one websocket message.
type frame struct {
	typ  int
	data []byte
}

// wsClient is an app's socket: a goroutine reads it into frames until it
// fails, and err is its last error.
type wsClient struct {
	conn   *websocket.Conn
	frames chan frame
	done   chan struct{}
	err    error // set before done is closed
}

// dial opens /broker?query on the sidecar; with read it starts reading.
func dial(t *testing.T, s *Server, query string, read bool, header ...string) *wsClient {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	conn, rsp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+s.Addr()+"/broker?"+query, h)
	if err != nil {
		t.Fatalf("dial /broker?%s: %v (response %v)", query, err, rsp)
	}
	c := &wsClient{conn: conn, frames: make(chan frame, 4096), done: make(chan struct{})}
	t.Cleanup(func() {
		_ = conn.Close()
		if read {
			<-c.done
		}
	})
	if read {
		go c.readAll()
	}
	return c
}

func (c *wsClient) readAll() {
	defer close(c.done)
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		c.frames <- frame{typ, data}
	}
}

// closeError waits for the socket to end and returns its close error.
func (c *wsClient) closeError(t *testing.T) *websocket.CloseError {
	t.Helper()
	testenv.Wait(t, "the socket to close", c.done)
	var ce *websocket.CloseError
	if !errors.As(c.err, &ce) {
		t.Fatalf("the socket ended with %v, not a close frame", c.err)
	}
	return ce
}

func (c *wsClient) send(t *testing.T, typ int, data string) {
	t.Helper()
	if err := c.conn.WriteMessage(typ, []byte(data)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestBrokerBadInput(t *testing.T) {
	b := &countingBroker{Broker: connectedBroker(t)}
	s := start(t, Broker(b), CORSOrigins("http://app.example"))
	noBroker := start(t)
	base := "http://" + s.Addr() + "/broker"
	upgrade := []string{"Connection", "Upgrade", "Upgrade", "websocket"}
	tests := []struct {
		name   string
		s      *Server
		method string
		query  string
		header []string
		code   int
		detail string
	}{
		{"no topic", s, "GET", "", upgrade, 400, "no topic"},
		{"empty topic", s, "GET", "?topic=", upgrade, 400, "invalid topic"},
		{"topic with a space", s, "GET", "?topic=a%20b", upgrade, 400, "invalid topic"},
		{"topic with a control character", s, "GET", "?topic=a%01", upgrade, 400, "invalid topic"},
		{"queue with a space", s, "GET", "?topic=a&queue=x%20y", upgrade, 400, "queue"},
		{"bad mode", s, "GET", "?topic=a&mode=both", upgrade, 400, "mode"},
		{"queue without subscribing", s, "GET", "?topic=a&mode=pub&queue=g", upgrade, 400, "mode=pub"},
		{"not a websocket", s, "GET", "?topic=a", nil, 400, "websocket only"},
		{"incomplete handshake", s, "GET", "?topic=a", upgrade, 400, "websocket: "},
		{"POST", s, "POST", "?topic=a", nil, 405, "POST"},
		{"origin not allowed", s, "GET", "?topic=a", append([]string{"Origin", "http://evil.example"}, upgrade...), 403, "origin"},
		{"no broker", noBroker, "GET", "?topic=a", upgrade, 503, "no broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := strings.Replace(base, s.Addr(), tt.s.Addr(), 1) + tt.query
			rsp := do(t, tt.method, url, "", tt.header...)
			wantError(t, tt.name, rsp, tt.code, tt.detail)
		})
	}
	testenv.WaitFor(t, "the failed handshakes to unsubscribe", func() bool { return b.open.Load() == 0 })

	// The sidecar still serves sockets, from an allowed origin too.
	c := dial(t, s, "topic=a", true, "Origin", "http://app.example")
	if err := b.Publish(t.Context(), "a", &broker.Message{Body: []byte(`"ok"`)}); err != nil {
		t.Fatal(err)
	}
	if f := testenv.Recv(t, "an event", c.frames); string(f.data) != `"ok"` {
		t.Errorf("got %q", f.data)
	}
}

// TestQueueGroup: two sockets in one queue group share the messages, each
// message reaching exactly one of them, while a plain socket gets all.
func TestQueueGroup(t *testing.T) {
	b := connectedBroker(t)
	s := start(t, Broker(b), SocketBuffer(1024))
	queueGroupRound(t, s, "orders", 300, true)
}

// queueGroupRound dials two sockets of one queue group, a plain socket and
// a publishing one on topic, publishes n messages and checks that the
// plain socket gets every one (in order when ordered) and the group each
// exactly once between its members; then that a last message reaches the
// plain socket and one member, and nothing else is on its way.
func queueGroupRound(t *testing.T, s *Server, topic string, n int, ordered bool) {
	t.Helper()
	g1 := dial(t, s, "topic="+topic+"&queue=workers&mode=sub", true)
	g2 := dial(t, s, "topic="+topic+"&queue=workers&mode=sub", true)
	plain := dial(t, s, "topic="+topic+"&mode=sub", true)
	pub := dial(t, s, "topic="+topic+"&mode=pub", false)

	for i := range n {
		pub.send(t, websocket.TextMessage, fmt.Sprintf(`{"n":%d}`, i))
	}
	want := make(map[string]bool, n)
	for i := range n {
		want[fmt.Sprintf(`{"n":%d}`, i)] = true
	}
	// The plain socket gets every message, once (in order when ordered).
	plainSeen := make(map[string]bool, n)
	for i := range n {
		f := testenv.Recv(t, fmt.Sprintf("message %d on the plain socket", i), plain.frames)
		got := string(f.data)
		if f.typ != websocket.TextMessage || !want[got] || plainSeen[got] || ordered && got != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("plain socket: message %d is %q (type %d, seen before: %v)", i, got, f.typ, plainSeen[got])
		}
		plainSeen[got] = true
	}
	// The group gets each message once.
	seen := make(map[string]int, n)
	per := [2]int{}
	for range n {
		var f frame
		select {
		case f = <-g1.frames:
			per[0]++
		case f = <-g2.frames:
			per[1]++
		case <-time.After(testenv.Patience):
			t.Fatalf("the group got %d messages of %d", len(seen), n)
		}
		seen[string(f.data)]++
		if !want[string(f.data)] {
			t.Fatalf("the group got %q, never published", f.data)
		}
	}
	for m, k := range seen {
		if k != 1 {
			t.Errorf("the group got %s %d times", m, k)
		}
	}
	if len(seen) != n {
		t.Errorf("the group got %d distinct messages, want %d", len(seen), n)
	}
	t.Logf("shared between the group's sockets: %v", per)

	// Nothing more arrives: publish a last message, which the plain socket
	// and one group member get once; no duplicate came before it.
	pub.send(t, websocket.TextMessage, `"end"`)
	if f := testenv.Recv(t, "the last message", plain.frames); string(f.data) != `"end"` {
		t.Fatalf("plain socket: %q after the last message", f.data)
	}
	select {
	case f := <-g1.frames:
		if string(f.data) != `"end"` {
			t.Errorf("g1 got %q more", f.data)
		}
	case f := <-g2.frames:
		if string(f.data) != `"end"` {
			t.Errorf("g2 got %q more", f.data)
		}
	case <-time.After(testenv.Patience):
		t.Fatal("the group never got the last message")
	}
	if len(g1.frames)+len(g2.frames) != 0 {
		t.Errorf("the group got %d messages more", len(g1.frames)+len(g2.frames))
	}
}

// TestPubSubSocket: a socket in the default mode gets what it publishes
// itself and what others publish; frames are text for UTF-8 and binary
// otherwise.
func TestPubSubSocket(t *testing.T) {
	b := connectedBroker(t)
	s := start(t, Broker(b))
	c := dial(t, s, "topic=chat", true)
	c.send(t, websocket.TextMessage, "hello")
	if f := testenv.Recv(t, "the echo", c.frames); string(f.data) != "hello" || f.typ != websocket.TextMessage {
		t.Errorf("echo %q type %d", f.data, f.typ)
	}
	if err := b.Publish(t.Context(), "chat", &broker.Message{Body: []byte{0xff, 0x00}}); err != nil {
		t.Fatal(err)
	}
	if f := testenv.Recv(t, "a binary event", c.frames); string(f.data) != "\xff\x00" || f.typ != websocket.BinaryMessage {
		t.Errorf("binary event %q type %d", f.data, f.typ)
	}
}

// TestPublishHeaders: the app's frames are published with Content-Type
// application/json when they are JSON and application/octet-stream
// otherwise, and with Micro-Topic and Micro-Id.
func TestPublishHeaders(t *testing.T) {
	b := connectedBroker(t)
	got := make(chan *broker.Message, 8)
	sub, err := b.Subscribe(t.Context(), "t", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe(context.Background()) })
	s := start(t, Broker(b))
	c := dial(t, s, "topic=t&mode=pub", false)
	for _, tt := range []struct {
		typ  int
		body string
		ct   string
	}{
		{websocket.TextMessage, `{"a":1}`, "application/json"},
		{websocket.TextMessage, `plain words`, "application/octet-stream"},
		{websocket.BinaryMessage, "\x00\x01", "application/octet-stream"},
		{websocket.BinaryMessage, `[1,2]`, "application/json"},
	} {
		c.send(t, tt.typ, tt.body)
		m := testenv.Recv(t, "the published message", got)
		if string(m.Body) != tt.body || m.Header["Content-Type"] != tt.ct || m.Header["Micro-Topic"] != "t" || m.Header["Micro-Id"] == "" {
			t.Errorf("frame %q: published %q with %v, want Content-Type %s", tt.body, m.Body, m.Header, tt.ct)
		}
	}
}

type greeting struct {
	Name string `json:"name"`
}

// TestPublishToGoMicroSubscriber: a frame from a socket reaches the
// subscribers of a go-micro server, JSON into a struct and other bytes
// into a []byte.
func TestPublishToGoMicroSubscriber(t *testing.T) {
	b := connectedBroker(t)
	reg := memory.New()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	srv, err := server.New(server.Name("listener"), server.Address("127.0.0.1:0"),
		server.Registry(reg), server.Transport(tr), server.Broker(b), server.Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	greetings := make(chan string, 1)
	raw := make(chan []byte, 1)
	if err := srv.Subscribe(srv.NewSubscriber("greetings", func(_ context.Context, g *greeting) error {
		greetings <- g.Name
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Subscribe(srv.NewSubscriber("raw", func(_ context.Context, b *[]byte) error {
		raw <- *b
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })

	s := start(t, Broker(b), Registry(reg))
	dial(t, s, "topic=greetings&mode=pub", false).send(t, websocket.TextMessage, `{"name":"Ann"}`)
	if name := testenv.Recv(t, "the go-micro subscriber's call", greetings); name != "Ann" {
		t.Errorf("the subscriber got %q", name)
	}
	dial(t, s, "topic=raw&mode=pub", false).send(t, websocket.BinaryMessage, "\x01\x02not json")
	if got := testenv.Recv(t, "the raw subscriber's call", raw); string(got) != "\x01\x02not json" {
		t.Errorf("the raw subscriber got %q", got)
	}
}

// TestSocketCloses covers the ways the sidecar closes a socket, each with
// its close code and reason.
func TestSocketCloses(t *testing.T) {
	b := connectedBroker(t)
	s := start(t, Broker(b), MaxBodySize(1024))

	t.Run("frame on a subscribe-only socket", func(t *testing.T) {
		c := dial(t, s, "topic=x&mode=sub", true)
		c.send(t, websocket.TextMessage, "hi")
		if ce := c.closeError(t); ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "only subscribes") {
			t.Errorf("closed with %v", ce)
		}
	})
	t.Run("frame over the limit", func(t *testing.T) {
		c := dial(t, s, "topic=x&mode=pub", true)
		c.send(t, websocket.BinaryMessage, strings.Repeat("x", 2048))
		if ce := c.closeError(t); ce.Code != websocket.CloseMessageTooBig {
			t.Errorf("closed with %v", ce)
		}
	})
	t.Run("broker disconnected", func(t *testing.T) {
		b := connectedBroker(t)
		s := start(t, Broker(b))
		c := dial(t, s, "topic=x&mode=pub", true)
		if err := b.Disconnect(t.Context()); err != nil {
			t.Fatal(err)
		}
		c.send(t, websocket.TextMessage, "lost")
		if ce := c.closeError(t); ce.Code != websocket.CloseInternalServerErr || !strings.Contains(ce.Text, "not connected") {
			t.Errorf("closed with %v", ce)
		}
	})
	t.Run("app closes", func(t *testing.T) {
		cb := &countingBroker{Broker: b}
		s := start(t, Broker(cb))
		c := dial(t, s, "topic=x", true)
		if err := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(testenv.Patience)); err != nil {
			t.Fatal(err)
		}
		if ce := c.closeError(t); ce.Code != websocket.CloseNormalClosure {
			t.Errorf("the sidecar answered with %v", ce)
		}
		testenv.WaitFor(t, "the socket to unsubscribe", func() bool { return cb.open.Load() == 0 && s.openSockets() == 0 })
	})
}

// TestSlowConsumer: a socket whose app does not read is closed with a
// clear reason once its buffer is full, without blocking the broker.
func TestSlowConsumer(t *testing.T) {
	b := connectedBroker(t)
	s := start(t, Broker(b), SocketBuffer(2))
	slow := dial(t, s, "topic=firehose&mode=sub", false) // not read yet
	fast := dial(t, s, "topic=firehose&mode=sub", true)

	body := []byte(strings.Repeat("x", 64<<10))
	published := 0
	for s.slowConsumers.Load() == 0 {
		if published == 2000 {
			t.Fatalf("%d messages of %d bytes and the socket that does not read is still open", published, len(body))
		}
		if err := b.Publish(t.Context(), "firehose", &broker.Message{Body: body}); err != nil {
			t.Fatal(err)
		}
		published++
		// The socket that reads gets each message before the next is
		// published, so it never falls behind.
		testenv.Recv(t, "the message on the socket that reads", fast.frames)
	}
	// The app reads at last: the frames written before, then the close.
	go slow.readAll()
	frames := 0
	for {
		select {
		case <-slow.frames:
			frames++
			continue
		case <-slow.done:
		}
		break
	}
	for range len(slow.frames) {
		<-slow.frames
		frames++
	}
	var ce *websocket.CloseError
	if !errors.As(slow.err, &ce) || ce.Code != CloseSlowConsumer || !strings.Contains(ce.Text, "slow consumer") {
		t.Fatalf("the slow socket ended with %v", slow.err)
	}
	if frames >= published {
		t.Errorf("the slow socket got all %d messages", published)
	}
	t.Logf("published %d, the slow socket got %d before %q", published, frames, ce.Text)

	// The other socket was not affected.
	if err := b.Publish(t.Context(), "firehose", &broker.Message{Body: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if f := testenv.Recv(t, "the last message on the socket that reads", fast.frames); string(f.data) != "after" {
		t.Errorf("the reading socket got %q", f.data)
	}
	select {
	case <-fast.done:
		t.Errorf("the reading socket closed: %v", fast.err)
	default:
	}
}

// TestKeepAlive: the keep-alive ticks are driven by the test, so that no
// stall of the machine can make a socket look silent. A socket that
// answers pings, or pings itself, stays open; one from which nothing
// arrives during two ticks in a row is closed with 1008.
func TestKeepAlive(t *testing.T) {
	b := connectedBroker(t)
	tickers := make(chan chan time.Time, 8)
	s := start(t, Broker(b), manualTicks(tickers))

	t.Run("answers pings", func(t *testing.T) {
		c := dial(t, s, "topic=answers", true) // its reader answers pings
		ticks := testenv.Recv(t, "the socket's ticker", tickers)
		ss := socketOf(t, s, "answers")
		for range 5 {
			seen := ss.seen.Load()
			tick(t, ticks) // the sidecar pings
			testenv.WaitFor(t, "the pong", func() bool { return ss.seen.Load() > seen })
		}
		c.send(t, websocket.TextMessage, "still here")
		if f := testenv.Recv(t, "the echo", c.frames); string(f.data) != "still here" {
			t.Errorf("got %q", f.data)
		}
	})
	t.Run("pings itself", func(t *testing.T) {
		c := dial(t, s, "topic=pings", false)
		// The app never answers the sidecar's pings; each one shows that
		// the sidecar handled a tick.
		pinged := make(chan struct{}, 16)
		c.conn.SetPingHandler(func(string) error {
			pinged <- struct{}{}
			return nil
		})
		go c.readAll()
		ticks := testenv.Recv(t, "the socket's ticker", tickers)
		ss := socketOf(t, s, "pings")
		for range 5 {
			seen := ss.seen.Load()
			if err := c.conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(testenv.Patience)); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "the sidecar to get the ping", func() bool { return ss.seen.Load() > seen })
			tick(t, ticks)
			testenv.Recv(t, "the sidecar's ping", pinged)
		}
		// Silent from now on: the second tick closes it.
		tick(t, ticks)
		testenv.Recv(t, "the sidecar's ping", pinged)
		tick(t, ticks)
		if ce := c.closeError(t); ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "nothing received") {
			t.Errorf("closed with %v", ce)
		}
	})
	t.Run("silent", func(t *testing.T) {
		c := dial(t, s, "topic=silent", false)
		c.conn.SetPingHandler(func(string) error { return nil }) // never answers
		go c.readAll()
		ticks := testenv.Recv(t, "the socket's ticker", tickers)
		for range idleTicks + 1 {
			tick(t, ticks)
		}
		if ce := c.closeError(t); ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "nothing received") {
			t.Errorf("closed with %v", ce)
		}
	})
	testenv.WaitFor(t, "the sockets to end", func() bool { return s.openSockets() == 0 })
}

// TestStopClosesSockets: Stop closes every socket with 1001 and
// unsubscribes it.
func TestStopClosesSockets(t *testing.T) {
	cb := &countingBroker{Broker: connectedBroker(t)}
	s, err := New(Registry(memory.New()), Broker(cb), Address("127.0.0.1:0"), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	a := dial(t, s, "topic=a", true)
	g := dial(t, s, "topic=a&queue=q", true)
	p := dial(t, s, "topic=a&mode=pub", true)
	if cb.open.Load() != 2 {
		t.Fatalf("%d subscriptions open, want 2", cb.open.Load())
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{a, g, p} {
		if ce := c.closeError(t); ce.Code != CloseStopping || ce.Text != "sidecar: stopping" {
			t.Errorf("closed with %v", ce)
		}
	}
	if n := cb.open.Load(); n != 0 || s.openSockets() != 0 {
		t.Errorf("after Stop: %d subscriptions, %d sockets", n, s.openSockets())
	}
	// A socket can no longer be opened.
	_, _, err = websocket.DefaultDialer.DialContext(t.Context(), "ws://"+s.Addr()+"/broker?topic=a", nil)
	if err == nil {
		t.Error("dialled a stopped sidecar")
	}
}

// TestMounted: a sidecar served by another server (ServeHTTP without
// Start) closes its sockets on Stop and refuses new ones after.
func TestMounted(t *testing.T) {
	b := connectedBroker(t)
	s, err := New(Registry(memory.New()), Broker(b), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(hs.URL, "http")+"/broker?topic=m", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.ReadMessage()
	if ce, ok := errors.AsType[*websocket.CloseError](err); !ok || ce.Code != CloseStopping {
		t.Errorf("after Stop the socket read %v", err)
	}
	wantError(t, "a socket after Stop", do(t, "GET", hs.URL+"/broker?topic=m", "", "Connection", "Upgrade", "Upgrade", "websocket"), 503, "stopping")
}

// TestHTTPBroker: sockets work over go-micro's default broker, the http
// broker, which finds subscribers through the registry.
func TestHTTPBroker(t *testing.T) {
	reg := memory.New()
	b, err := httpbroker.New(broker.Registry(reg), broker.Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Disconnect(context.Background()) })
	s := start(t, Broker(b), Registry(reg)) // Start connects the broker
	sub := dial(t, s, "topic=news&mode=sub", true)
	pub := dial(t, s, "topic=news&mode=pub", false)
	// The publishing side sees the new subscriber once its registry cache
	// does: publish until the first frame arrives.
	testenv.WaitFor(t, "a frame over the http broker", func() bool {
		pub.send(t, websocket.TextMessage, `{"headline":"hi"}`)
		select {
		case f := <-sub.frames:
			if string(f.data) != `{"headline":"hi"}` {
				t.Fatalf("got %q", f.data)
			}
			return true
		case <-time.After(20 * time.Millisecond): // polling
			return false
		}
	})
}

// TestSocketBufferBytes: the events waiting for a socket are bounded in
// bytes as well as in number; a lone event of any size is taken.
func TestSocketBufferBytes(t *testing.T) {
	s, err := New(Registry(memory.New()), SocketBuffer(100), SocketBufferBytes(4096), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	newSocket := func() *socket {
		ss, err := parseSocket(url.Values{"topic": {"t"}})
		if err != nil {
			t.Fatal(err)
		}
		ss.out = make(chan *delivery, 100)
		return ss
	}
	kib := event{&broker.Message{Body: make([]byte, 1024)}}
	ss := newSocket()
	h := s.deliverer(ss)
	for i := range 4 {
		if err := h(t.Context(), kib); err != nil || len(ss.out) != i+1 {
			t.Fatalf("event %d: %v, %d buffered", i, err, len(ss.out))
		}
	}
	if err := h(t.Context(), kib); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ss.done:
	default:
		t.Fatalf("5 KiB buffered over a limit of 4 KiB, and the socket is open")
	}
	if ss.code != CloseSlowConsumer || !strings.Contains(ss.reason, "slow consumer") || len(ss.out) != 4 || ss.buffered.Load() != 4096 {
		t.Errorf("closed with %d %q, %d events of %d bytes buffered", ss.code, ss.reason, len(ss.out), ss.buffered.Load())
	}

	big := newSocket()
	if err := s.deliverer(big)(t.Context(), event{&broker.Message{Body: make([]byte, 10000)}}); err != nil || len(big.out) != 1 {
		t.Fatalf("a lone big event: %v, %d buffered", err, len(big.out))
	}
	select {
	case <-big.done:
		t.Error("a lone event over the limit closed the socket")
	default:
	}
}

// TestQueueDelivery: a queue group socket's handler returns (acking) only
// once the frame is written, and nacks what is not written: when the
// subscription is released, or its ctx ends, first.
func TestQueueDelivery(t *testing.T) {
	s, err := New(Registry(memory.New()), Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	newSocket := func() *socket {
		ss, err := parseSocket(url.Values{"topic": {"t"}, "queue": {"g"}})
		if err != nil {
			t.Fatal(err)
		}
		ss.out = make(chan *delivery, 8)
		return ss
	}
	deliver := func(ctx context.Context, ss *socket) chan error {
		res := make(chan error, 1)
		go func() { res <- s.deliverer(ss)(ctx, event{&broker.Message{Body: []byte("e")}}) }()
		return res
	}

	t.Run("written", func(t *testing.T) {
		ss := newSocket()
		res := deliver(t.Context(), ss)
		d := testenv.Recv(t, "the buffered event", ss.out)
		if !ss.take(d) {
			t.Fatal("the writer cannot take the event")
		}
		select {
		case err := <-res:
			t.Fatalf("the handler returned %v before the frame was written", err)
		default:
		}
		d.res <- nil
		if err := testenv.Recv(t, "the handler", res); err != nil {
			t.Errorf("a written event: %v, want an ack", err)
		}
	})
	t.Run("released", func(t *testing.T) {
		ss := newSocket()
		res := deliver(t.Context(), ss)
		testenv.WaitFor(t, "the event to be buffered", func() bool { return len(ss.out) == 1 })
		s.release(ss)
		if err := testenv.Recv(t, "the handler", res); !errors.Is(err, errSocketClosed) {
			t.Errorf("an event never written: %v, want a nack", err)
		}
		// Refused once the socket is closed, after the release.
		if err := testenv.Recv(t, "the handler", deliver(t.Context(), ss)); !errors.Is(err, errSocketClosed) {
			t.Errorf("an event for a released socket: %v, want a nack", err)
		}
	})
	t.Run("ctx ends", func(t *testing.T) {
		ss := newSocket()
		ctx, cancel := context.WithCancel(t.Context())
		res := deliver(ctx, ss)
		testenv.WaitFor(t, "the event to be buffered", func() bool { return len(ss.out) == 1 })
		cancel()
		if err := testenv.Recv(t, "the handler", res); !errors.Is(err, errSocketClosed) {
			t.Errorf("an event withdrawn: %v, want a nack", err)
		}
		if d := <-ss.out; ss.take(d) {
			t.Error("the writer took a withdrawn event")
		}
	})
}

// TestMaxSockets: a handshake beyond MaxSockets is refused with 503;
// once a socket closes another may open.
func TestMaxSockets(t *testing.T) {
	s := start(t, Broker(connectedBroker(t)), MaxSockets(1))
	c := dial(t, s, "topic=a", true)
	_, rsp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+s.Addr()+"/broker?topic=b", nil)
	if err == nil || rsp == nil || rsp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second socket: %v (response %v)", err, rsp)
	}
	_ = rsp.Body.Close()
	_ = c.conn.Close()
	testenv.WaitFor(t, "the socket to close", func() bool { return s.openSockets() == 0 })
	dial(t, s, "topic=b", true)
}

// TestStopWhileWriting: Stop ends, within its ctx, a socket whose writer
// is blocked on an app that does not read, and unsubscribes it.
func TestStopWhileWriting(t *testing.T) {
	b := &countingBroker{Broker: connectedBroker(t)}
	s, err := New(Registry(memory.New()), Broker(b), Address("127.0.0.1:0"), Logger(testLogger()),
		SocketBuffer(1<<16), SocketBufferBytes(1<<40))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	dial(t, s, "topic=big&mode=sub", false) // never reads
	ss := socketOf(t, s, "big")
	body := make([]byte, 256<<10)
	testenv.WaitFor(t, "the writer to be blocked", func() bool {
		if err := b.Publish(t.Context(), "big", &broker.Message{Body: body}); err != nil {
			t.Fatal(err)
		}
		return len(ss.out) >= 2
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop: %v, want the ctx's error", err)
	}
	if n := b.open.Load(); n != 0 || s.openSockets() != 0 {
		t.Errorf("after Stop: %d subscriptions, %d sockets", n, s.openSockets())
	}
}

// TestQueueGroupNoLoss: a member of a queue group that closes while it
// holds events loses none of them: each event reaches one member, once.
func TestQueueGroupNoLoss(t *testing.T) {
	b := connectedBroker(t)
	s := start(t, Broker(b), SocketBuffer(8))
	a := dial(t, s, "topic=jobs&queue=g&mode=sub", false) // does not read yet
	bb := dial(t, s, "topic=jobs&queue=g&mode=sub", true)

	const n = 300
	body := strings.Repeat("x", 64<<10)
	for i := range n {
		if err := b.Publish(t.Context(), "jobs", &broker.Message{Body: []byte(fmt.Sprintf("%04d%s", i, body))}); err != nil {
			t.Fatal(err)
		}
	}
	// a sends a frame on its subscribe-only socket, which the sidecar
	// closes; then a reads what was written to it, up to the close.
	_ = a.conn.WriteMessage(websocket.TextMessage, []byte("bye"))
	go a.readAll()
	testenv.Wait(t, "the closing member's socket to end", a.done)

	seen := make(map[string]int, n)
	for len(a.frames) > 0 {
		seen[string((<-a.frames).data[:4])]++
	}
	fromA := len(seen)
	testenv.WaitFor(t, fmt.Sprintf("every event on one member (the closed one got %d)", fromA), func() bool {
		for len(bb.frames) > 0 {
			seen[string((<-bb.frames).data[:4])]++
		}
		return len(seen) == n
	})
	for m, k := range seen {
		if k != 1 {
			t.Errorf("event %s reached the group %d times", m, k)
		}
	}
}

// TestBrokerOriginNormalised: /broker allows the CORS origins as the CORS
// middleware does, whatever their case or trailing slash.
func TestBrokerOriginNormalised(t *testing.T) {
	s := start(t, Broker(connectedBroker(t)), CORSOrigins("http://App.example/"))
	dial(t, s, "topic=a", true, "Origin", "http://app.example")
}

// blockingBroker is a connected memory broker whose Publish waits until
// its ctx ends or release is closed.
type blockingBroker struct {
	broker.Broker
	entered chan struct{}
	release chan struct{}
}

func (b *blockingBroker) Publish(ctx context.Context, _ string, _ *broker.Message, _ ...broker.PublishOption) error {
	b.entered <- struct{}{}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.release:
		return nil
	}
}

// TestStopAbortsPublish: Stop ends within its ctx while a socket's
// publish hangs.
func TestStopAbortsPublish(t *testing.T) {
	b := &blockingBroker{Broker: connectedBroker(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	s, err := New(Registry(memory.New()), Broker(b), Address("127.0.0.1:0"), Logger(testLogger()), RequestTimeout(DefaultRegisterTTL*100))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, "topic=a&mode=pub", true)
	c.send(t, websocket.TextMessage, "stuck")
	testenv.Recv(t, "the publish", b.entered)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(ctx) }()
	cancel()
	if err := testenv.Recv(t, "Stop to return", stopped); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop: %v, want the ctx's error", err)
	}
}
