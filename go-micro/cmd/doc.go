// Package cmd holds go-micro's command-line flags and turns them into the
// implementations a service runs on: the registry, selector, transport and
// broker are chosen by name, like database/sql drivers, from flags or
// environment variables.
//
// [Flags] returns the flags for a github.com/urfave/cli/v2 App; [Build]
// reads the parsed flags and returns the chosen [Components] with the
// client and server options that follow from them. micro.NewService does
// both in its Init; a program with its own cli.App can do the same:
//
//	app := &cli.App{
//		Flags: cmd.Flags(),
//		Action: func(c *cli.Context) error {
//			comps, err := cmd.Build(c, cmd.Components{})
//			if err != nil {
//				return err
//			}
//			defer comps.Close(context.Background())
//			srv, err := server.New(comps.ServerOptions...)
//			...
//		},
//	}
//
// # Flags
//
// Every flag can also be given as an environment variable named
// [EnvPrefix] and the flag in upper case ([EnvVar]): --registry is
// MICRO_REGISTRY, --register_ttl MICRO_REGISTER_TTL. A flag on the command
// line beats its variable; an empty variable counts as unset. --help lists
// every flag with its variable, its default and, for the four
// implementation flags, the names registered in the program.
//
//	--registry            registry by name (default "micro"; see below)
//	--registry_address    comma-separated registry addresses
//	--broker              broker by name (default "http")
//	--broker_address      comma-separated broker addresses
//	--transport           transport by name (default "http")
//	--transport_address   comma-separated addresses of the transport's engine
//	--selector            selector by name (default "random")
//	--server_name         service name to register
//	--server_version      service version to register
//	--server_id           node id
//	--server_address      listen address, host:port
//	--server_advertise    address to register instead of the listener's
//	--server_metadata     node metadata key=value, repeatable
//	--register_ttl        registration TTL (default 90s)
//	--register_interval   registration renewal interval (default 30s)
//	--client_retries      retries of a failed call (default 1)
//	--client_request_timeout  bound on a call (default 5s)
//	--enable_tls          TLS for the transport and broker
//	--tls_cert_file       PEM certificate (chain) to serve
//	--tls_key_file        PEM private key of the certificate
//
// Durations are Go durations ("30s", "1m30s") or, as in the original
// toolkit, whole seconds ("30"). Metadata pairs are repeated flags
// (--server_metadata a=1 --server_metadata b=2) or, in the variable and
// within one flag, separated by commas (MICRO_SERVER_METADATA=a=1,b=2);
// values therefore cannot hold commas. Bad values (an unknown name,
// negative retries, a duration that does not parse or is not positive, a
// pair without '=', TLS without its files) make Build return a
// [*FlagError] that names the flag and its variable, and build nothing.
//
// The default registry is "micro", the client of the registry hosted by
// `micro server` (registry/micro, at 127.0.0.1:8000 unless
// --registry_address says otherwise), so that services on one machine find
// each other with no flags. Building it connects to nothing; when nothing
// answers, a service keeps serving and logs one warning saying to start
// `micro server` or choose another registry. --registry=memory keeps
// services within one process (tests).
//
// # Instances given in code
//
// A component given in code (micro.Registry(r), or a non-nil field of the
// Components passed to Build) is used as it is and beats the flag naming
// one, like sql.OpenDB beside sql.Open; when a flag explicitly names a
// different implementation, or sets an address or TLS that cannot apply
// to the instance, Build logs a warning. Scalar flags (--server_name,
// --register_ttl, ...) are different: when set, they override the value
// given in code, so an operator can change them at deploy time.
//
// # Implementations
//
// The name tables are those of packages registry, broker, transport and
// selector. This package blank-imports the in-core implementations its
// defaults name (registry/micro, broker/http, transport/http), the memory
// registry and the codecs (json, proto, jsonrpc, protorpc, bytes); the selector's random,
// roundrobin and hash strategies need no import. Anything else, such as
// registry/consul from go-plugins or transport/memory, is enabled by a
// blank import in the program:
//
//	import _ "github.com/openmicro/go-plugins/registry/consul"
//
// Flags and Build keep no state between calls and are safe for concurrent
// use; a [Components] value is not.
package cmd
