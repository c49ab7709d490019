package selector

import (
	"fmt"
	"slices"

	"github.com/openmicro/go-micro/internal/plugin"
)

var table = plugin.New[Factory]("selector")

// The built-in selectors: each is the default selector ([New]) with the
// strategy of its name.
func init() {
	Register("random", named("random", Random))
	Register("roundrobin", named("roundrobin", RoundRobin))
	Register("hash", named("hash", Hash))
}

// named returns a Factory for the default selector with strategy st; the
// strategy applies over any SetStrategy in opts.
func named(name string, st Strategy) Factory {
	return func(opts ...Option) (Selector, error) {
		opts = append(slices.Clip(opts), SetStrategy(st), func(o *Options) { o.name = name })
		return New(opts...)
	}
}

// Register makes a selector implementation available by name, for
// --selector and MICRO_SELECTOR. Implementations call it from init. It
// panics on an empty name, a nil factory or a name registered twice.
func Register(name string, f Factory) { table.Register(name, f) }

// Lookup returns the factory registered under name. An unknown name yields
// an error listing the registered names.
func Lookup(name string) (Factory, error) { return table.Lookup(name) }

// Names lists the registered implementation names, sorted.
func Names() []string { return table.Names() }

// Open builds the selector registered under name ("random", "roundrobin",
// "hash" or a plugin's name). [New] builds the default selector directly.
func Open(name string, opts ...Option) (Selector, error) {
	f, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	s, err := f(opts...)
	if err != nil {
		return nil, fmt.Errorf("selector: %s: %w", name, err)
	}
	return s, nil
}
