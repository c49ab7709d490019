// Package micro is the entry point of go-micro: [NewService] assembles a
// microservice from a registry, selector, transport and broker, a client
// and a server, configured in code and from the command line.
//
// A service's life has three steps:
//
//	service := micro.NewService(micro.Name("greeter"))
//	if err := service.Init(); err != nil { // flags and environment
//		if errors.Is(err, micro.ErrHelp) {
//			return // --help was printed; exit 0
//		}
//		log.Fatal(err)
//	}
//	pb.RegisterGreeterHandler(service.Server(), new(Greeter))
//	if err := service.Run(); err != nil { // until SIGINT or SIGTERM
//		log.Fatal(err)
//	}
//
// NewService records the options and builds nothing. Init parses the
// command line (the [Args] option, os.Args by default) and the MICRO_*
// environment variables with go-micro's flags (listed in package cmd:
// --registry, --transport, --server_name, --register_ttl, ...) and the
// program's own ([Flags]); it builds the registry, selector, transport and
// broker those name, then the client and server, and calls the [Action]
// option. Client and Server return nil until Init has built them. Run
// calls Init when it was not called, starts the service, waits for SIGINT,
// SIGTERM or the end of the [Context] option and stops gracefully within
// the [GracePeriod] option; see [Service.Run] for the order of the steps
// and hooks. Init and Run may each be called once. What Init builds from
// the flags (selector, transport, broker) is released at the end of Run;
// a program that calls Init and then exits without Run just leaves it to
// the process's exit.
//
// # Code and flags
//
// An implementation given in code ([Registry], [Broker], [Transport],
// [Selector], [Client], [Server]) is used as it is and beats the flag that
// names one (Init logs a warning when a flag names a different one), like
// sql.OpenDB beside sql.Open. Values given in code ([Name], [Version],
// [Address], [RegisterTTL], ...) are defaults that the matching flags,
// when set, override at run time; --server_metadata adds to [Metadata].
// Without flags the registry is "micro" (the registry service that
// `micro server` hosts, at 127.0.0.1:8000; see registry/micro), the broker
// and transport "http" and the selector "random". A service started before
// `micro server` keeps serving, logs one line saying what to start, and
// registers once the registry answers. Tests use registry/memory.
//
// # Errors
//
// A bad flag or value makes Init return an error, after printing it with
// a usage line to standard error; an unknown implementation name lists
// the registered ones. --help (or -h) prints the help, with every flag's
// environment variable and the registered implementations, to standard
// output, and Init returns [ErrHelp], which a program treats as a
// successful exit. Nothing here calls os.Exit or log.Fatal, and there is
// no package-level default client, server or service.
//
// A Service is safe for concurrent use, except that Init and Run are
// meant to be called from one goroutine (main).
package micro
