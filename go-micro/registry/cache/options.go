package cache

import (
	"log/slog"
	"time"
)

// Option configures a Cache.
type Option func(*options)

type options struct {
	ttl        time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	logger     *slog.Logger
	now        func() time.Time // injectable clock; time.Now by default
}

func newOptions(opts ...Option) options {
	o := options{
		ttl:        time.Minute,
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 30 * time.Second,
		logger:     slog.Default(),
		now:        time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.minBackoff <= 0 {
		o.minBackoff = time.Millisecond
	}
	if o.maxBackoff < o.minBackoff {
		o.maxBackoff = o.minBackoff
	}
	return o
}

// TTL sets how long a fetched entry is served before it is fetched again,
// even when its watch reports no change. A d <= 0 keeps the default: one
// minute.
func TTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.ttl = d
		}
	}
}

// Backoff bounds the delay between retries of a failed watch or fetch: the
// first retry waits about min, each further one doubles up to max, and each
// delay is jittered to between half and all of its value. Default: 100ms and
// 30s.
func Backoff(min, max time.Duration) Option {
	return func(o *options) {
		o.minBackoff = min
		o.maxBackoff = max
	}
}

// Logger sets where the cache reports an unreachable registry (once per
// outage, at Warn) and its recovery. Default: slog.Default() at New.
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
