package selector

import (
	"errors"
	"log/slog"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// ErrNoRegistry is returned by [New] when no registry was given.
var ErrNoRegistry = errors.New("selector: no registry (use selector.Registry)")

// Option configures a Selector when it is built.
type Option func(*Options)

// Options is the result of applying Option values. Implementations read the
// fields they support and ignore the rest.
type Options struct {
	// Registry is where services are looked up. Required.
	Registry registry.Registry
	// Strategy orders the nodes of a Select unless the Select names its own.
	Strategy Strategy
	// NoCache makes every Select ask Registry directly.
	NoCache bool
	// CacheTTL is how long a cached service is served before it is fetched
	// again even without a change seen by its watch.
	CacheTTL time.Duration
	// BlacklistThreshold is the number of consecutive failed calls after
	// which a node is skipped; 0 or less never skips a node.
	BlacklistThreshold int
	// BlacklistPeriod is how long a node is skipped.
	BlacklistPeriod time.Duration
	// Logger receives the logs of the selector and its cache.
	Logger *slog.Logger

	name string           // set by the named factories
	now  func() time.Time // the clock; injectable by tests
}

// NewOptions applies opts over the defaults: strategy [Random], caching on
// with a TTL of one minute, a node blacklisted after 3 consecutive failures
// for 30s.
func NewOptions(opts ...Option) Options {
	o := Options{
		Strategy:           Random,
		CacheTTL:           time.Minute,
		BlacklistThreshold: 3,
		BlacklistPeriod:    30 * time.Second,
		Logger:             slog.Default(),
		name:               "registry",
		now:                time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Strategy == nil {
		o.Strategy = Random
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Minute
	}
	if o.BlacklistPeriod <= 0 {
		o.BlacklistPeriod = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Registry sets the registry services are looked up in. Required: New
// fails without one.
func Registry(r registry.Registry) Option { return func(o *Options) { o.Registry = r } }

// SetStrategy sets the strategy of every Select that does not name its own
// ([WithStrategy]). Default: [Random].
func SetStrategy(s Strategy) Option { return func(o *Options) { o.Strategy = s } }

// NoCache makes the selector ask the registry on every Select instead of
// reading it through a registry/cache. Default: cached.
func NoCache() Option { return func(o *Options) { o.NoCache = true } }

// CacheTTL sets how long a cached service is served before it is fetched
// again, even when its watch reported no change. Default: one minute.
func CacheTTL(d time.Duration) Option { return func(o *Options) { o.CacheTTL = d } }

// BlacklistThreshold sets how many consecutive failed calls (Mark with an
// error) make a node skipped for [BlacklistPeriod]. n <= 0 turns
// blacklisting off. Default: 3.
func BlacklistThreshold(n int) Option { return func(o *Options) { o.BlacklistThreshold = n } }

// BlacklistPeriod sets how long a blacklisted node is skipped; afterwards
// it is tried again, a success clears its record and a further failure
// blacklists it again at once. Default: 30s.
func BlacklistPeriod(d time.Duration) Option { return func(o *Options) { o.BlacklistPeriod = d } }

// Logger sets the logger of the selector and of the cache it creates.
// Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// SelectOption configures one Select call.
type SelectOption func(*SelectOptions)

// SelectOptions is the result of applying SelectOption values.
type SelectOptions struct {
	// Filters narrow the services, in order, before a node is chosen.
	Filters []Filter
	// Strategy, when set, replaces the selector's strategy for this call.
	Strategy Strategy
	// Key is what the [Hash] strategy maps to a node.
	Key string
}

// NewSelectOptions applies opts.
func NewSelectOptions(opts ...SelectOption) SelectOptions {
	var o SelectOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithFilter adds filters to a Select; they run in order. Default: none.
func WithFilter(f ...Filter) SelectOption {
	return func(o *SelectOptions) { o.Filters = append(o.Filters, f...) }
}

// WithStrategy sets the strategy of one Select. Default: the selector's.
func WithStrategy(s Strategy) SelectOption { return func(o *SelectOptions) { o.Strategy = s } }

// WithKey sets the key the [Hash] strategy maps to a node, e.g. a user or
// session id taken from the call's metadata. Default: none, and Hash
// without a key picks at random.
func WithKey(key string) SelectOption { return func(o *SelectOptions) { o.Key = key } }
