package greeter_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openmicro/examples/greeter"
	micro "github.com/openmicro/go-micro"
)

// TestNewServiceErrors gets Init's errors back, and no service.
func TestNewServiceErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown registry", []string{"greeter", "--registry=nowhere"}, "nowhere"},
		{"unknown flag", []string{"greeter", "--no_such_flag"}, "no_such_flag"},
		{"bad ttl", []string{"greeter", "--register_ttl=soon"}, "register_ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			service, err := greeter.NewService(micro.Args(tc.args))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewService(%q) = %v, want an error naming %q", tc.args, err, tc.want)
			}
			if errors.Is(err, micro.ErrHelp) {
				t.Fatalf("NewService(%q) = ErrHelp", tc.args)
			}
			if service != nil {
				t.Fatal("a service came back with the error")
			}
		})
	}
}

// TestNewService builds the service with the greeter's name and version,
// flags winning over them.
func TestNewService(t *testing.T) {
	cases := []struct {
		name        string
		args        []string
		wantName    string
		wantVersion string
	}{
		{"defaults", []string{"greeter"}, greeter.Name, greeter.Version},
		{"flags", []string{"greeter", "--server_name=hello", "--server_version=2"}, "hello", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			service, err := greeter.NewService(micro.Args(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = service.Close(context.Background()) })
			so := service.Server().Options()
			if so.Name != tc.wantName || so.Version != tc.wantVersion {
				t.Fatalf("server %s %s, want %s %s", so.Name, so.Version, tc.wantName, tc.wantVersion)
			}
		})
	}
}
