package cli_test

import (
	"context"
	"os"

	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/micro/internal/cli"
)

// Main runs one command line; here `micro get service` over a registry
// given in code instead of the one --registry names.
func ExampleMain() {
	ctx := context.Background()
	reg := memory.New()
	_ = reg.Register(ctx, &registry.Service{
		Name:    "legacy",
		Version: "1.0.0",
		Nodes: []*registry.Node{{
			Id:       "legacy-1",
			Address:  "127.0.0.1:9090",
			Metadata: map[string]string{"zone": "eu"},
		}},
		Endpoints: []*registry.Endpoint{{
			Name: "Users.Read",
			Request: &registry.Value{Name: "ReadRequest", Type: "users.ReadRequest", Values: []*registry.Value{
				{Name: "id", Type: "string"},
			}},
			Response: &registry.Value{Name: "ReadResponse", Type: "users.ReadResponse", Values: []*registry.Value{
				{Name: "user", Type: "users.User", Values: []*registry.Value{
					{Name: "id", Type: "string"},
					{Name: "email", Type: "string"},
				}},
			}},
		}},
	})

	code := cli.Main(ctx, []string{"micro", "get", "service", "legacy"}, os.Stdout, os.Stderr,
		cli.Components(cmd.Components{Registry: reg}))
	os.Stdout.WriteString("exit status: " + string(rune('0'+code)) + "\n")
	// Output:
	// service  legacy
	// version  1.0.0
	//
	// NODE      ADDRESS         METADATA
	// legacy-1  127.0.0.1:9090  zone=eu
	//
	// endpoint Users.Read
	//   request  users.ReadRequest {
	//       id string
	//   }
	//   response users.ReadResponse {
	//       user users.User {
	//           id    string
	//           email string
	//       }
	//   }
	// exit status: 0
}
