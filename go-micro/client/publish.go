package client

import (
	"bytes"
	"context"
	stderrors "errors"
	"fmt"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/internal/rpcwire"
)

// Publish encodes msg's payload with the codec of its content type and
// publishes it on the broker, with the headers Content-Type, Micro-Topic,
// Micro-Id and the metadata of ctx. Errors (no broker: [ErrNoBroker]; no
// codec; a payload the codec cannot encode; the broker's) are wrapped with
// %w under a "client: publish to <topic>" prefix.
func (c *rpcClient) Publish(ctx context.Context, msg Message, _ ...PublishOption) error {
	if msg == nil {
		return stderrors.New("client: publish: nil message")
	}
	topic := msg.Topic()
	if c.opts.Broker == nil {
		return fmt.Errorf("client: publish to %q: %w", topic, ErrNoBroker)
	}
	cdc, err := rpcwire.Get(msg.ContentType())
	if err != nil {
		return fmt.Errorf("client: publish to %q: content type %q: %w", topic, msg.ContentType(), err)
	}
	id := newId()
	body, err := cdc.Encode(&codec.Message{Id: id, Type: codec.Event, Endpoint: topic}, msg.Payload())
	if err != nil {
		rpcwire.Put(cdc)
		return fmt.Errorf("client: publish to %q: encoding the payload as %s: %w", topic, msg.ContentType(), err)
	}
	body = bytes.Clone(body) // the broker may keep it; the codec's buffer is reused
	rpcwire.Put(cdc)
	h := metadataHeader(ctx, 3)
	h[rpcwire.ContentType] = msg.ContentType()
	h[rpcwire.Topic] = topic
	h[rpcwire.Id] = id
	if err := c.opts.Broker.Publish(ctx, topic, &broker.Message{Header: h, Body: body}); err != nil {
		return fmt.Errorf("client: publish to %q: %w", topic, err)
	}
	return nil
}
