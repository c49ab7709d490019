// Package cli is the command line of the micro binary: `micro server`,
// which hosts the platform on one machine, the commands that read and
// change the registry and call services (list services, get service,
// call, stream, publish, health, stats, register, deregister), and
// `micro new`, which scaffolds a service.
//
// [Main] runs one command line and returns its exit status; package main
// only blank-imports the plugins and calls it. The global flags
// are go-micro's (package cmd: --registry, --registry_address, --broker,
// --client_request_timeout, ... and their MICRO_* variables), given
// before the command; the registry defaults to "micro", the registry
// service `micro server` hosts on 127.0.0.1:8000. A command's own flags
// may come before or after its arguments.
//
// Results go to stdout: aligned tables for people, or JSON with
// --output json for scripts (call and stream always print JSON). Text
// from the registry or a service is shown with its control characters
// escaped. A JSON argument "-" is read from stdin (see [Stdin]).
// Everything else goes to stderr, and the exit status says how it went:
// [ExitOK]; [ExitFailure] for a service not found, a failed call, an
// unhealthy node or a registry that cannot be reached (one line naming
// its address and how to start it); [ExitUsage] for an unknown command or
// flag, a missing argument or malformed JSON; [ExitInterrupted] when
// SIGINT or SIGTERM ended the command.
//
// Calls use the JSON codec (content type application/json), so every
// service answers whatever the Go types of its handlers.
//
// Main may be called from several goroutines at once; each call builds
// its own components and releases them before it returns.
package cli
