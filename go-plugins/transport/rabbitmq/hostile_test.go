package rabbitmq

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// rawPeer is a hand-driven AMQP client that speaks the transport's frames
// badly on purpose.
type rawPeer struct {
	t     *testing.T
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string
	in    <-chan amqp.Delivery
}

func newRawPeer(t *testing.T) *rawPeer {
	t.Helper()
	conn, err := amqp.DialConfig(brokerURL(t), amqp.Config{
		Properties: amqp.Table{"connection_name": "micro-transport-test-raw-peer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Named as a dialler's reply queue: listeners take open frames from
	// no other.
	q, err := ch.QueueDeclare(replyQueueName(randomHex(8), 1), false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rawPeer{t: t, conn: conn, ch: ch, queue: q.Name, in: in}
}

func (p *rawPeer) send(to string, pub amqp.Publishing) {
	p.t.Helper()
	if pub.ReplyTo == "" {
		pub.ReplyTo = p.queue
	}
	if err := p.ch.Publish("", to, false, false, pub); err != nil {
		p.t.Fatal(err)
	}
}

// expectReset waits for a reset of stream id and returns its code.
func (p *rawPeer) expectReset(id string) byte {
	p.t.Helper()
	deadline := time.After(testenv.Patience)
	for {
		select {
		case d := <-p.in:
			if d.Type == typeReset && d.CorrelationId == id && len(d.Body) == 1 {
				return d.Body[0]
			}
		case <-deadline:
			p.t.Fatalf("no reset of stream %s", id)
		}
	}
}

// TestHostileFrames sends a listener frames no transport would send: it
// resets what it can tie to a stream, drops the rest, and goes on
// serving.
func TestHostileFrames(t *testing.T) {
	srv := newTestTransport(t)
	cli := newTestTransport(t)
	accepted := make(chan error, 8)
	release := make(chan struct{})
	l := serve(t, srv, "", func(s transport.Socket) {
		for {
			var m transport.Message
			err := s.Recv(context.Background(), &m)
			if err != nil {
				accepted <- err
				return
			}
			switch string(m.Body) {
			case "echo":
				_ = s.Send(context.Background(), &m)
				echo(s)
				return
			case "hold":
				// Read nothing until released: the sender runs out
				// of credit.
				<-release
			}
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	p := newRawPeer(t)
	to := l.Addr()

	// Frames that cannot be tied to a stream are dropped.
	p.send(to, amqp.Publishing{Type: "bogus", CorrelationId: "x1"})
	p.send(to, amqp.Publishing{Type: typeData, ReplyTo: "", CorrelationId: "x2"})
	p.send(to, amqp.Publishing{Type: typeProbe, Body: []byte("\n\n")})
	p.send(to, amqp.Publishing{Type: typeData, Headers: amqp.Table{"a": int32(1)}, CorrelationId: "x3"})

	tests := []struct {
		name   string
		frames []amqp.Publishing
		code   byte
		server error // what the handler's Recv returns, nil if it never runs
	}{
		{"data for an unknown stream", []amqp.Publishing{{Type: typeData, Body: []byte("?")}}, codeUnknown, nil},
		{"end for an unknown stream", []amqp.Publishing{{Type: typeEnd}}, codeUnknown, nil},
		{"non-string header", []amqp.Publishing{{Type: typeOpen}, {Type: typeData, Headers: amqp.Table{"a": 1.5}}}, codeMalformed, errBadFrame},
		{"bad escaped headers", []amqp.Publishing{{Type: typeOpen}, {Type: typeData, Headers: amqp.Table{escapedHeaders: []any{"odd"}}}}, codeMalformed, errBadFrame},
		{"window overflow", []amqp.Publishing{{Type: typeOpen}, {Type: typeData, Body: []byte("x")}, {Type: typeWindow, Body: windowBody(maxCredit)}}, codeMalformed, errBadFrame},
		{"credit overrun", overrun(), codeFlow, errFlow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "hostile." + randomHex(4)
			for _, f := range tc.frames {
				f.CorrelationId = id
				p.send(to, f)
			}
			if code := p.expectReset(id); code != tc.code {
				t.Errorf("reset code %d, want %d", code, tc.code)
			}
			if tc.code == codeFlow {
				close(release)
			}
			if tc.server != nil {
				if err := testenv.Recv(t, "the handler's Recv", accepted); !errors.Is(err, tc.server) {
					t.Errorf("handler Recv = %v, want %v", err, tc.server)
				}
			}
		})
	}
	// A probe listing streams the listener does not have resets them.
	p.send(to, amqp.Publishing{Type: typeProbe, Body: []byte("ghost.1\nghost.2")})
	for _, id := range []string{"ghost.1", "ghost.2"} {
		if code := p.expectReset(id); code != codeUnknown {
			t.Errorf("probe of %s: reset code %d, want %d", id, code, codeUnknown)
		}
	}
	if err := roundTrip(waitCtx(t), cli, to, "echo"); err != nil {
		t.Fatalf("the listener stopped serving: %v", err)
	}
}

// overrun opens a stream and, once its handler stopped reading, sends
// more than its credit.
func overrun() []amqp.Publishing {
	fs := []amqp.Publishing{{Type: typeOpen}, {Type: typeData, Body: []byte("hold")}}
	for range window/(64<<10) + 2 {
		fs = append(fs, amqp.Publishing{Type: typeData, Body: make([]byte, 64<<10)})
	}
	return fs
}
