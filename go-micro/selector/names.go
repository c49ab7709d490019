package selector

import (
	"fmt"

	"github.com/openmicro/go-micro/internal/plugin"
)

var table = plugin.New[Factory]("selector")

// Register makes a selector implementation available by name, for
// --selector and MICRO_SELECTOR. Implementations call it from init. It
// panics on an empty name, a nil factory or a name registered twice.
func Register(name string, f Factory) { table.Register(name, f) }

// Lookup returns the factory registered under name. An unknown name yields
// an error listing the registered names.
func Lookup(name string) (Factory, error) { return table.Lookup(name) }

// Names lists the registered implementation names, sorted.
func Names() []string { return table.Names() }

// New builds the selector registered under name.
func New(name string, opts ...Option) (Selector, error) {
	f, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	r, err := f(opts...)
	if err != nil {
		return nil, fmt.Errorf("selector: %s: %w", name, err)
	}
	return r, nil
}
