package registry_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/registry"
	_ "github.com/openmicro/go-micro/registry/memory"
)

func TestNames(t *testing.T) {
	if names := registry.Names(); !slices.Contains(names, "memory") {
		t.Fatalf("Names() = %v, want it to contain memory", names)
	}

	r, err := registry.Open("memory")
	if err != nil {
		t.Fatalf(`New("memory"): %v`, err)
	}
	if got := r.String(); got != "memory" {
		t.Fatalf(`New("memory").String() = %q`, got)
	}

	f, err := registry.Lookup("memory")
	if err != nil || f == nil {
		t.Fatalf(`Lookup("memory") = %v, %v`, f, err)
	}
}

func TestUnknownName(t *testing.T) {
	tests := []struct {
		name string
		call func() error
	}{
		{"Lookup", func() error { _, err := registry.Lookup("no-such-registry"); return err }},
		{"Open", func() error { _, err := registry.Open("no-such-registry"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("unknown name accepted")
			}
			for _, want := range []string{`"no-such-registry"`, "memory", "forgotten import?", "registry:"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal(`Register("memory") twice did not panic`)
		}
	}()
	registry.Register("memory", func(...registry.Option) (registry.Registry, error) { return nil, nil })
}
