// Package plugin holds the name table that every core package uses to let
// implementations register themselves by name, in the manner of
// database/sql.Register.
//
// A Table is safe for concurrent use.
package plugin

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Table maps implementation names to factories of type F.
type Table[F any] struct {
	kind string // "registry", "broker", ... used in messages

	mu sync.RWMutex
	m  map[string]F
}

// New returns an empty table for implementations of the given kind.
func New[F any](kind string) *Table[F] {
	return &Table[F]{kind: kind, m: make(map[string]F)}
}

// Register makes a factory available under name. It panics when name is
// empty, when the factory is nil or when name is already taken: all three
// are programming errors that should surface at start-up.
func (t *Table[F]) Register(name string, f F) {
	if name == "" {
		panic(t.kind + ": Register called with an empty name")
	}
	if isNil(f) {
		panic(t.kind + ": Register factory is nil for " + name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.m[name]; dup {
		panic(t.kind + ": Register called twice for " + name)
	}
	t.m[name] = f
}

// Lookup returns the factory registered under name. An unknown name gives an
// error that lists the registered names and hints at a missing import.
func (t *Table[F]) Lookup(name string) (F, error) {
	t.mu.RLock()
	f, ok := t.m[name]
	t.mu.RUnlock()
	if !ok {
		var zero F
		return zero, fmt.Errorf("%s: unknown %s %q (registered: %s; forgotten import?)",
			t.kind, t.kind, name, strings.Join(t.Names(), ", "))
	}
	return f, nil
}

// Names returns the registered names in sorted order.
func (t *Table[F]) Names() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := make([]string, 0, len(t.m))
	for n := range t.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	// Factories are func values; a nil func stored in an interface is not
	// == nil, so ask reflect.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
