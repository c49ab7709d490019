package client

import (
	"context"
	"log/slog"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/transport"
)

// Defaults.
const (
	// DefaultRetries is how many times a failed call is retried.
	DefaultRetries = 1
	// DefaultRequestTimeout bounds a call, retries included, when its ctx
	// has no earlier deadline.
	DefaultRequestTimeout = 5 * time.Second
)

// BackoffFunc returns how long to wait before retry number attempt (1 for
// the first retry).
type BackoffFunc func(ctx context.Context, req Request, attempt int) time.Duration

// RetryFunc decides whether a failed attempt is retried; attempt is the
// number of the retry it would start (1 for the first), as BackoffFunc
// gets it. The default is [RetryOnError].
type RetryFunc func(ctx context.Context, req Request, attempt int, err error) bool

// Option configures a Client when it is built.
type Option func(*Options)

// Options are a Client's settings. Build them with [NewOptions].
type Options struct {
	// Selector picks a node per attempt. Required for calls without
	// WithAddress.
	Selector selector.Selector
	// Transport carries calls. Required.
	Transport transport.Transport
	// Broker carries Publish. Required for Publish only.
	Broker broker.Broker
	// ContentType, when set, is used for every request and message that
	// does not choose its own; empty means DefaultContentType of the body.
	ContentType string
	// Retries is how many times a call is retried (default DefaultRetries).
	Retries int
	// RequestTimeout bounds a call when its ctx has no earlier deadline
	// (default DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Backoff is the wait before each retry (default exponential from
	// 10 ms, capped at 1 s, with jitter).
	Backoff BackoffFunc
	// Retry decides which failures are retried (default RetryOnError).
	Retry RetryFunc
	// Wrappers wrap the client, the first outermost.
	Wrappers []Wrapper
	// CallWrappers wrap each attempt, the first outermost.
	CallWrappers []CallWrapper
	// Logger receives the client's log lines (default slog.Default()).
	Logger *slog.Logger
}

// NewOptions applies opts over the defaults.
func NewOptions(opts ...Option) Options {
	o := Options{Retries: DefaultRetries, RequestTimeout: DefaultRequestTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Backoff == nil {
		o.Backoff = ExponentialBackoff
	}
	if o.Retry == nil {
		o.Retry = RetryOnError
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Selector sets the selector.
func Selector(s selector.Selector) Option { return func(o *Options) { o.Selector = s } }

// Transport sets the transport.
func Transport(t transport.Transport) Option { return func(o *Options) { o.Transport = t } }

// Broker sets the broker Publish uses.
func Broker(b broker.Broker) Option { return func(o *Options) { o.Broker = b } }

// ContentType sets the content type of requests and messages that do not
// choose one.
func ContentType(ct string) Option { return func(o *Options) { o.ContentType = ct } }

// Retries sets how many times a failed call is retried (default 1; 0
// disables retries).
func Retries(n int) Option { return func(o *Options) { o.Retries = n } }

// RequestTimeout sets the bound on a call (default 5s).
func RequestTimeout(d time.Duration) Option { return func(o *Options) { o.RequestTimeout = d } }

// Backoff sets the wait before each retry.
func Backoff(f BackoffFunc) Option { return func(o *Options) { o.Backoff = f } }

// Retry sets the function that decides which failures are retried.
func Retry(f RetryFunc) Option { return func(o *Options) { o.Retry = f } }

// Wrap adds client wrappers; the first given is the outermost.
func Wrap(w ...Wrapper) Option { return func(o *Options) { o.Wrappers = append(o.Wrappers, w...) } }

// WrapCall adds call wrappers; the first given is the outermost.
func WrapCall(w ...CallWrapper) Option {
	return func(o *Options) { o.CallWrappers = append(o.CallWrappers, w...) }
}

// Logger sets the logger.
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// CallOption configures one call or stream.
type CallOption func(*CallOptions)

// CallOptions are the settings of one call, starting from the client's.
type CallOptions struct {
	// Address, when set, sends the call to these addresses (tried in turn)
	// instead of asking the selector.
	Address []string
	// SelectOptions are passed to the selector.
	SelectOptions []selector.SelectOption
	// Retries, RequestTimeout, Backoff and Retry start as the client's
	// Options and may be changed per call.
	Retries        int
	RequestTimeout time.Duration
	Backoff        BackoffFunc
	Retry          RetryFunc
	// CallWrappers are added inside the client's call wrappers.
	CallWrappers []CallWrapper
}

// WithAddress sends the call to the given addresses (host:port), tried in
// order, bypassing the selector.
func WithAddress(addrs ...string) CallOption { return func(o *CallOptions) { o.Address = addrs } }

// WithSelectOption passes options (filters, strategy, key) to the selector.
func WithSelectOption(so ...selector.SelectOption) CallOption {
	return func(o *CallOptions) { o.SelectOptions = append(o.SelectOptions, so...) }
}

// WithRetries sets how many times this call is retried.
func WithRetries(n int) CallOption { return func(o *CallOptions) { o.Retries = n } }

// WithRequestTimeout sets the bound on this call.
func WithRequestTimeout(d time.Duration) CallOption {
	return func(o *CallOptions) { o.RequestTimeout = d }
}

// WithBackoff sets the wait before each retry of this call.
func WithBackoff(f BackoffFunc) CallOption { return func(o *CallOptions) { o.Backoff = f } }

// WithRetry sets which failures of this call are retried.
func WithRetry(f RetryFunc) CallOption { return func(o *CallOptions) { o.Retry = f } }

// WithCallWrapper wraps the attempts of this call.
func WithCallWrapper(w ...CallWrapper) CallOption {
	return func(o *CallOptions) { o.CallWrappers = append(o.CallWrappers, w...) }
}

// RequestOption configures a Request.
type RequestOption func(*RequestOptions)

// RequestOptions are a Request's settings.
type RequestOptions struct {
	ContentType string
	Stream      bool
}

// WithContentType sets the content type of a request.
func WithContentType(ct string) RequestOption {
	return func(o *RequestOptions) { o.ContentType = ct }
}

// StreamingRequest marks a request as opening a stream.
func StreamingRequest() RequestOption { return func(o *RequestOptions) { o.Stream = true } }

// MessageOption configures a Message.
type MessageOption func(*MessageOptions)

// MessageOptions are a Message's settings.
type MessageOptions struct {
	ContentType string
}

// WithMessageContentType sets the content type of a message.
func WithMessageContentType(ct string) MessageOption {
	return func(o *MessageOptions) { o.ContentType = ct }
}

// PublishOption configures one Publish.
type PublishOption func(*PublishOptions)

// PublishOptions are the settings of one Publish.
type PublishOptions struct{}
