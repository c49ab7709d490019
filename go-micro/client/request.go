package client

import "google.golang.org/protobuf/proto"

// Content types chosen by default: protobuf for proto messages, JSON for
// anything else.
const (
	ContentTypeProto = "application/protobuf"
	ContentTypeJSON  = "application/json"
)

// DefaultContentType returns the content type a body is encoded with when
// none is chosen: application/protobuf for a proto.Message,
// application/json otherwise.
func DefaultContentType(body any) string {
	if _, ok := body.(proto.Message); ok {
		return ContentTypeProto
	}
	return ContentTypeJSON
}

type request struct {
	service, endpoint, contentType string
	body                           any
	stream                         bool
}

// NewRequest returns a Request. Without [WithContentType] the content type
// is [DefaultContentType] of body.
func NewRequest(service, endpoint string, body any, opts ...RequestOption) Request {
	return newRequest(RequestOptions{}, service, endpoint, body, opts)
}

// newRequest is NewRequest with o as the options before opts.
func newRequest(o RequestOptions, service, endpoint string, body any, opts []RequestOption) Request {
	if len(opts) > 0 {
		o = applyRequestOptions(o, opts)
	}
	ct := o.ContentType
	if ct == "" {
		ct = DefaultContentType(body)
	}
	return &request{service: service, endpoint: endpoint, contentType: ct, body: body, stream: o.Stream}
}

// applyRequestOptions is apart from newRequest so that only requests with
// options pay for the RequestOptions escaping to the heap.
func applyRequestOptions(o RequestOptions, opts []RequestOption) RequestOptions {
	p := &o
	for _, opt := range opts {
		opt(p)
	}
	return *p
}

func (r *request) Service() string     { return r.service }
func (r *request) Endpoint() string    { return r.endpoint }
func (r *request) ContentType() string { return r.contentType }
func (r *request) Body() any           { return r.body }
func (r *request) Stream() bool        { return r.stream }

type message struct {
	topic, contentType string
	payload            any
}

// NewMessage returns a Message. Without [WithMessageContentType] the
// content type is [DefaultContentType] of payload.
func NewMessage(topic string, payload any, opts ...MessageOption) Message {
	var o MessageOptions
	for _, opt := range opts {
		opt(&o)
	}
	ct := o.ContentType
	if ct == "" {
		ct = DefaultContentType(payload)
	}
	return &message{topic: topic, contentType: ct, payload: payload}
}

func (m *message) Topic() string       { return m.topic }
func (m *message) ContentType() string { return m.contentType }
func (m *message) Payload() any        { return m.payload }
