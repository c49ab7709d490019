package server

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/metadata"
)

// rpcSubscriber is the Subscriber NewSubscriber builds.
type rpcSubscriber struct {
	topic string
	queue string
	fn    any
	v     reflect.Value
	msg   reflect.Type // the pointer type the function takes
	err   error
}

func (s *rpcSubscriber) Topic() string   { return s.topic }
func (s *rpcSubscriber) Queue() string   { return s.queue }
func (s *rpcSubscriber) Subscriber() any { return s.fn }
func (s *rpcSubscriber) Err() error      { return s.err }

// NewSubscriber builds a Subscriber that calls fn for each event on topic.
// fn must be a func(ctx context.Context, msg *T) error, *T being any
// pointer type the event's codec can decode into; with [Queue] the
// subscriber joins a queue group. A function of another shape or an
// invalid topic (see broker.ValidateTopic) gives a Subscriber whose Err
// wraps [ErrInvalidSubscriber] and says why; [Server.Subscribe] returns it.
func NewSubscriber(topic string, fn any, opts ...SubscriberOption) Subscriber {
	var o SubscriberOptions
	for _, opt := range opts {
		opt(&o)
	}
	s := &rpcSubscriber{topic: topic, queue: o.Queue, fn: fn}
	s.err = s.check()
	return s
}

func (s *rpcSubscriber) check() error {
	if err := broker.ValidateTopic(s.topic); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSubscriber, err)
	}
	if s.queue != "" && strings.ContainsFunc(s.queue, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: topic %q: queue %q holds white space or a control character", ErrInvalidSubscriber, s.topic, s.queue)
	}
	why := ""
	if s.fn == nil {
		why = "nil function"
	} else {
		s.v = reflect.ValueOf(s.fn)
		why = subscriberShape(s.v)
	}
	if why != "" {
		return fmt.Errorf("%w: topic %q: %s", ErrInvalidSubscriber, s.topic, why)
	}
	s.msg = s.v.Type().In(1)
	return nil
}

// subscriberShape says what is wrong with a subscriber function, or "".
func subscriberShape(v reflect.Value) string {
	const shape = "want func(context.Context, *T) error"
	t := v.Type()
	switch {
	case t.Kind() != reflect.Func:
		return fmt.Sprintf("%v is not a function; %s", t, shape)
	case v.IsNil():
		return "nil function"
	case t.IsVariadic():
		return "the function is variadic; " + shape
	case t.NumIn() != 2:
		return fmt.Sprintf("the function takes %d arguments; %s", t.NumIn(), shape)
	case t.In(0) != typeContext:
		return fmt.Sprintf("the first argument must be context.Context, not %v", t.In(0))
	case t.In(1).Kind() != reflect.Pointer:
		return fmt.Sprintf("the second argument must be a pointer, not %v", t.In(1))
	case t.NumOut() != 1:
		return fmt.Sprintf("the function must return error, not %s", outs(t))
	case t.Out(0) != typeError:
		return fmt.Sprintf("the function must return error, not %v", t.Out(0))
	}
	return ""
}

// rpcMessage is the Message subscriber wrappers see.
type rpcMessage struct {
	topic       string
	contentType string
	header      map[string]string
	payload     any
}

func (m *rpcMessage) Topic() string             { return m.topic }
func (m *rpcMessage) ContentType() string       { return m.contentType }
func (m *rpcMessage) Header() map[string]string { return m.header }
func (m *rpcMessage) Payload() any              { return m.payload }

// subscribe connects the broker (when there are subscribers) and
// subscribes each; the caller undoes it with unsubscribe on failure.
func (r *run) subscribe(ctx context.Context, subs []*rpcSubscriber) error {
	if len(subs) == 0 {
		return nil
	}
	o := &r.s.opts
	if err := o.Broker.Connect(ctx); err != nil {
		return fmt.Errorf("server: connect the %s broker: %w", o.Broker.String(), err)
	}
	r.connected = true
	for _, sub := range subs {
		var opts []broker.SubscribeOption
		if sub.queue != "" {
			opts = append(opts, broker.Queue(sub.queue))
		}
		bs, err := o.Broker.Subscribe(ctx, sub.topic, r.deliverer(sub), opts...)
		if err != nil {
			return fmt.Errorf("server: subscribe to %q on the %s broker: %w", sub.topic, o.Broker.String(), err)
		}
		r.bsubs = append(r.bsubs, bs)
	}
	return nil
}

// unsubscribe undoes subscribe, logging what fails.
func (r *run) unsubscribe(ctx context.Context) {
	o := &r.s.opts
	for _, bs := range r.bsubs {
		if err := bs.Unsubscribe(ctx); err != nil {
			o.Logger.Warn("server: cannot unsubscribe", "topic", bs.Topic(), "error", err)
		}
	}
	r.bsubs = nil
	if r.connected {
		r.connected = false
		if err := o.Broker.Disconnect(ctx); err != nil {
			o.Logger.Warn("server: cannot disconnect the broker", "broker", o.Broker.String(), "error", err)
		}
	}
}

// deliverer returns the broker handler of a subscriber: it decodes each
// event and calls the wrapped function.
func (r *run) deliverer(sub *rpcSubscriber) broker.Handler {
	o := &r.s.opts
	fn := SubscriberFunc(func(ctx context.Context, msg Message) error {
		p := reflect.ValueOf(msg.Payload())
		if !p.IsValid() || p.Type() != sub.msg || p.IsNil() {
			return fmt.Errorf("server: topic %q: a subscriber wrapper passed a payload of type %T, want %v", sub.topic, msg.Payload(), sub.msg)
		}
		return asError(sub.v.Call([]reflect.Value{reflect.ValueOf(ctx), p}))
	})
	for i := len(o.SubscriberWrappers) - 1; i >= 0; i-- {
		fn = o.SubscriberWrappers[i](fn)
	}
	return func(ctx context.Context, e broker.Event) (err error) {
		bm := e.Message()
		topic := e.Topic()
		if topic == "" {
			topic = sub.topic
		}
		var header map[string]string
		var body []byte
		if bm != nil {
			header, body = canonicalHeader(bm.Header), bm.Body
		} else {
			header = map[string]string{}
		}
		ct := header[rpcwire.ContentType]
		payload := reflect.New(sub.msg.Elem())
		if err := r.decodeEvent(ct, body, payload.Interface()); err != nil {
			// Redelivery cannot fix it: reject it (to a dead-letter queue
			// where the broker has one), or ack it, so that it is not
			// retried.
			if rj, ok := e.(broker.Rejecter); ok {
				o.Logger.Warn("server: rejecting an event that cannot be decoded",
					"topic", topic, "content_type", ct, "id", header[rpcwire.Id], "error", err)
				if rerr := rj.Reject(); rerr != nil {
					o.Logger.Warn("server: rejecting the event failed", "topic", topic, "error", rerr)
				}
				return nil
			}
			o.Logger.Warn("server: dropping an event that cannot be decoded",
				"topic", topic, "content_type", ct, "id", header[rpcwire.Id], "error", err)
			return nil
		}
		if md := rpcwire.Metadata(header); len(md) > 0 {
			ctx = metadata.NewContext(ctx, md)
		}
		defer func() {
			if p := recover(); p != nil {
				o.Logger.Error("server: subscriber panicked; the event is nacked",
					"topic", topic, "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("server: subscriber of %q panicked: %v", topic, p)
			}
		}()
		return fn(ctx, &rpcMessage{topic: topic, contentType: ct, header: header, payload: payload.Interface()})
	}
}

func (r *run) decodeEvent(ct string, body []byte, v any) error {
	if ct == "" {
		return fmt.Errorf("no %s header", rpcwire.ContentType)
	}
	c, err := rpcwire.Get(ct)
	if err != nil {
		return err
	}
	defer rpcwire.Put(c)
	var env codec.Message
	return c.Decode(body, &env, 0, v)
}
