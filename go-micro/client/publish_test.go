package client_test

import (
	"context"
	stderrors "errors"
	"testing"

	"github.com/openmicro/go-micro/broker"
	brokermemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/testenv"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// connected returns a memory broker connected for the test.
func connected(t *testing.T) broker.Broker {
	t.Helper()
	b := brokermemory.New()
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Disconnect(context.Background()) })
	return b
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name    string
		payload any
		ct      string
		decode  func(t *testing.T, cdc *rpcwire.Codec, body []byte)
	}{
		{"json", &helloRequest{Name: "ev"}, client.ContentTypeJSON, func(t *testing.T, cdc *rpcwire.Codec, body []byte) {
			var got helloRequest
			if err := cdc.Decode(body, &codec.Message{}, codec.Event, &got); err != nil || got.Name != "ev" {
				t.Errorf("decoded %+v, %v", got, err)
			}
		}},
		{"proto", wrapperspb.String("ev"), client.ContentTypeProto, func(t *testing.T, cdc *rpcwire.Codec, body []byte) {
			got := new(wrapperspb.StringValue)
			if err := cdc.Decode(body, &codec.Message{}, codec.Event, got); err != nil || !proto.Equal(got, wrapperspb.String("ev")) {
				t.Errorf("decoded %v, %v", got, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := connected(t)
			got := make(chan *broker.Message, 1)
			sub, err := b.Subscribe(t.Context(), "events", func(_ context.Context, e broker.Event) error {
				got <- e.Message()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sub.Unsubscribe(context.Background()) })
			c := newClient(t, client.Transport(newMemory(t)), client.Broker(b))
			ctx := metadata.NewContext(t.Context(), metadata.Metadata{"x-user": "7", "micro-topic": "evil"})
			if err := c.Publish(ctx, c.NewMessage("events", tt.payload)); err != nil {
				t.Fatal(err)
			}
			m := testenv.Recv(t, "the event", got)
			h := m.Header
			if h[rpcwire.ContentType] != tt.ct || h[rpcwire.Topic] != "events" || len(h[rpcwire.Id]) != 32 || h["X-User"] != "7" || len(h) != 4 {
				t.Errorf("headers %v", h)
			}
			cdc, err := rpcwire.NewCodec(h[rpcwire.ContentType])
			if err != nil {
				t.Fatal(err)
			}
			tt.decode(t, cdc, m.Body)
		})
	}
}

func TestPublishErrors(t *testing.T) {
	tr := newMemory(t)
	disconnected := brokermemory.New()
	tests := []struct {
		name string
		opts []client.Option
		msg  client.Message
		want error
	}{
		{"no broker", nil, client.NewMessage("events", &helloRequest{}), client.ErrNoBroker},
		{"not connected", []client.Option{client.Broker(disconnected)}, client.NewMessage("events", &helloRequest{}), broker.ErrNotConnected},
		{"invalid topic", []client.Option{client.Broker(connected(t))}, client.NewMessage("", &helloRequest{}), broker.ErrInvalidTopic},
		{"payload the codec cannot encode", []client.Option{client.Broker(connected(t))},
			client.NewMessage("events", &helloRequest{}, client.WithMessageContentType(client.ContentTypeProto)), codec.ErrUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, append([]client.Option{client.Transport(tr)}, tt.opts...)...)
			if err := c.Publish(t.Context(), tt.msg); !stderrors.Is(err, tt.want) {
				t.Errorf("Publish: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("unknown content type", func(t *testing.T) {
		c := newClient(t, client.Transport(tr), client.Broker(connected(t)))
		if err := c.Publish(t.Context(), client.NewMessage("events", 1, client.WithMessageContentType("x/y"))); err == nil {
			t.Error("Publish succeeded")
		}
	})
}
