package cache

import (
	"log/slog"
	"time"
)

// Option configures a Cache.
type Option func(*options)

type options struct {
	ttl          time.Duration
	idle         time.Duration // 0 until newOptions sets the default from ttl
	watchWait    time.Duration // how long a first fetch waits for its watch
	fetchTimeout time.Duration
	minBackoff   time.Duration
	maxBackoff   time.Duration
	logger       *slog.Logger
	now          func() time.Time // injectable clock; time.Now by default
}

func newOptions(opts ...Option) options {
	o := options{
		ttl:          time.Minute,
		minBackoff:   100 * time.Millisecond,
		maxBackoff:   30 * time.Second,
		watchWait:    time.Second,
		fetchTimeout: 10 * time.Second,
		logger:       slog.Default(),
		now:          time.Now,
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
	if o.idle <= 0 {
		o.idle = max(idleTTLs*o.ttl, minIdle)
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

// The default idle time is idleTTLs TTLs but no less than minIdle: a short
// TTL must not cost the last known nodes that the cache serves while the
// registry is unreachable.
const (
	idleTTLs = 5
	minIdle  = 10 * time.Minute
)

// Idle sets how long an entry may go unread before it is dropped: a
// service name that GetService has not asked for during d loses its cached
// nodes and its watch, and the next GetService of it starts afresh. The
// check runs every quarter of d, and a read is recorded to within a second
// (or d/8 if that is less), so an entry goes between d and 1.25*d plus that
// grain after its last read, never sooner. A d <= 0 keeps the default: five times the TTL, but at
// least ten minutes (so ten minutes with the default TTL).
func Idle(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.idle = d
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

// FetchTimeout bounds each fetch the cache makes on its own: the
// background refetch of an answer older than the TTL, and the refetch after
// a change its watch reports. A fetch that outlasts d counts as a failure
// of the registry (the last known nodes stay and the retry backoff
// applies). A fetch that a GetService caller leads is bounded by that
// caller's context instead. A d <= 0 keeps the default: ten seconds.
func FetchTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.fetchTimeout = d
		}
	}
}

// Logger sets where the cache reports an unreachable registry (once per
// outage, at Warn) and its recovery. Default: slog.Default() at New.
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
