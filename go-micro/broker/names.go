package broker

import (
	"fmt"

	"github.com/openmicro/go-micro/internal/plugin"
)

var table = plugin.New[Factory]("broker")

// Register makes a broker implementation available by name, for
// --broker and MICRO_BROKER. Implementations call it from init. It
// panics on an empty name, a nil factory or a name registered twice.
func Register(name string, f Factory) { table.Register(name, f) }

// Lookup returns the factory registered under name. An unknown name yields
// an error listing the registered names.
func Lookup(name string) (Factory, error) { return table.Lookup(name) }

// Names lists the registered implementation names, sorted.
func Names() []string { return table.Names() }

// Open builds the broker registered under name, like sql.Open; passing an
// instance built by its package's own constructor works as well.
func Open(name string, opts ...Option) (Broker, error) {
	f, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	r, err := f(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: %s: %w", name, err)
	}
	return r, nil
}
