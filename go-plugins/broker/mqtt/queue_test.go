package mqtt

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

func TestSharedSubscriptionsDisabled(t *testing.T) {
	addr := sharedAddr(t)
	b := connected(t, addr, SharedSubscriptions(false))
	tp := uniqueTopic(t)
	sub, err := b.Subscribe(t.Context(), tp, (&inbox{}).handle, broker.Queue("workers"))
	if !errors.Is(err, ErrQueueUnsupported) || sub != nil {
		t.Fatalf("Subscribe with a queue = %v, %v; want ErrQueueUnsupported", sub, err)
	}
	if !strings.Contains(err.Error(), "SharedSubscriptions") {
		t.Errorf("error %q does not name the option", err)
	}
	if _, err := b.Subscribe(t.Context(), tp, (&inbox{}).handle); err != nil {
		t.Fatalf("plain Subscribe: %v", err)
	}
}

func TestInvalidQueue(t *testing.T) {
	addr := sharedAddr(t)
	b := connected(t, addr)
	for _, q := range []string{"a/b", "+", "#", "with space"} {
		if _, err := b.Subscribe(t.Context(), "t", (&inbox{}).handle, broker.Queue(q)); !errors.Is(err, ErrInvalidQueue) {
			t.Errorf("Subscribe with queue %q = %v, want ErrInvalidQueue", q, err)
		}
	}
}

// fakeServer is a minimal MQTT 3.1.1 server that accepts connections and
// answers SUBSCRIBE with failure (0x80) for shared subscriptions and for
// topics holding "denied", like a server without $share support or with
// an ACL.
type fakeServer struct {
	ln net.Listener
	wg sync.WaitGroup
	// silentFrom, when above zero, is the first connection (counting from
	// 1) that never gets a CONNACK, like a server that hangs.
	silentFrom int

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
}

func startFakeServer(t *testing.T, silentFrom int) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, silentFrom: silentFrom, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.accepted++
		silent := s.silentFrom > 0 && s.accepted >= s.silentFrom
		s.mu.Unlock()
		if silent {
			continue // closed by close
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *fakeServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	for {
		p, err := packets.ReadPacket(c)
		if err != nil {
			return
		}
		var out packets.ControlPacket
		switch p := p.(type) {
		case *packets.ConnectPacket:
			out = packets.NewControlPacket(packets.Connack)
		case *packets.SubscribePacket:
			ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
			ack.MessageID = p.MessageID
			for i, topic := range p.Topics {
				code := p.Qoss[i]
				if strings.HasPrefix(topic, "$share/") || strings.Contains(topic, "denied") {
					code = 0x80
				}
				ack.ReturnCodes = append(ack.ReturnCodes, code)
			}
			out = ack
		case *packets.UnsubscribePacket:
			ack := packets.NewControlPacket(packets.Unsuback).(*packets.UnsubackPacket)
			ack.MessageID = p.MessageID
			out = ack
		case *packets.PingreqPacket:
			out = packets.NewControlPacket(packets.Pingresp)
		case *packets.DisconnectPacket:
			return
		}
		if out != nil {
			if err := out.Write(c); err != nil {
				return
			}
		}
	}
}

func (s *fakeServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// TestSubackRefused checks that a refusal in the SUBACK fails Subscribe
// clearly, as ErrQueueUnsupported for a shared subscription, and leaves
// nothing behind.
func TestSubackRefused(t *testing.T) {
	srv := startFakeServer(t, 0)
	b := connected(t, srv.ln.Addr().String())
	tests := []struct {
		name      string
		topic     string
		opts      []broker.SubscribeOption
		wantQueue bool // ErrQueueUnsupported as well as ErrRefused
	}{
		{"shared subscription", "orders", []broker.SubscribeOption{broker.Queue("workers")}, true},
		{"denied plain topic", "denied.topic", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := b.Subscribe(t.Context(), tt.topic, (&inbox{}).handle, tt.opts...)
			if sub != nil || !errors.Is(err, ErrRefused) {
				t.Fatalf("Subscribe = %v, %v; want ErrRefused", sub, err)
			}
			if errors.Is(err, ErrQueueUnsupported) != tt.wantQueue {
				t.Errorf("errors.Is(%v, ErrQueueUnsupported) = %v, want %v", err, !tt.wantQueue, tt.wantQueue)
			}
		})
	}
	if _, err := b.Subscribe(t.Context(), "orders", (&inbox{}).handle); err != nil {
		t.Fatalf("accepted plain Subscribe: %v", err)
	}
	// The failed subscriptions left no filter behind.
	s := b.(*mqttBroker).session()
	s.mu.Lock()
	g := s.groups["workers"]
	s.mu.Unlock()
	for _, c := range []*conn{s.main, g} {
		if c == nil {
			continue
		}
		c.mu.Lock()
		n := len(c.filters)
		c.mu.Unlock()
		if want := map[bool]int{true: 1, false: 0}[c == s.main]; n != want {
			t.Errorf("connection %q holds %d filters, want %d", c.group, n, want)
		}
	}
}

// TestDisconnectWhileDialingGroup: Disconnect does not wait for the
// connection of a queue group that is still being dialled (the server
// never answers it); the Subscribe that dials fails.
func TestDisconnectWhileDialingGroup(t *testing.T) {
	srv := startFakeServer(t, 2) // the main connection works, the group's hangs
	b := newTestBroker(t, srv.ln.Addr().String(), ConnectTimeout(time.Minute))
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan error, 1)
	go func() {
		_, err := b.Subscribe(t.Context(), "orders", (&inbox{}).handle, broker.Queue("workers"))
		subscribed <- err
	}()
	testenv.WaitFor(t, "the group's connection to be dialled", func() bool { return srv.count() >= 2 })
	disconnected := make(chan error, 1)
	go func() { disconnected <- b.Disconnect(t.Context()) }()
	if err := testenv.Recv(t, "Disconnect", disconnected); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	if err := testenv.Recv(t, "Subscribe", subscribed); err == nil {
		t.Error("Subscribe whose connection never came up succeeded")
	}
}
