package cmd_test

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/server"
)

// Build reads the flags of a cli.App made from cmd.Flags and returns the
// chosen implementations with the client and server options.
func ExampleBuild() {
	app := &cli.App{
		Name:  "greeter",
		Flags: cmd.Flags(),
		Action: func(c *cli.Context) error {
			comps, err := cmd.Build(c, cmd.Components{})
			if err != nil {
				return err
			}
			defer comps.Close(context.Background())

			so := server.NewOptions(comps.ServerOptions...)
			co := client.NewOptions(comps.ClientOptions...)
			fmt.Println("registry:", comps.Registry, "selector:", comps.Selector)
			fmt.Println("transport:", comps.Transport, "broker:", comps.Broker)
			fmt.Println("server:", so.Name, so.Version, so.Metadata, so.RegisterTTL)
			fmt.Println("client retries:", co.Retries)
			return nil
		},
	}
	os.Setenv("MICRO_CLIENT_RETRIES", "3") // the environment works like the flags
	defer os.Unsetenv("MICRO_CLIENT_RETRIES")
	err := app.Run([]string{"greeter",
		"--selector=roundrobin",
		"--server_name=greeter", "--server_version=1.0.0",
		"--server_metadata=zone=a", "--register_ttl=60",
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// registry: micro selector: roundrobin
	// transport: http broker: http
	// server: greeter 1.0.0 map[zone:a] 1m0s
	// client retries: 3
}
