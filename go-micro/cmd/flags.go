package cmd

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// The implementations chosen when no flag or environment variable names
// one.
const (
	// DefaultRegistry is the registry used without --registry: the client
	// of the registry hosted by `micro server` (registry/micro), at
	// 127.0.0.1:8000 unless --registry_address says otherwise.
	DefaultRegistry = "micro"
	// DefaultBroker is the broker used without --broker: peer to peer over
	// HTTP through the registry.
	DefaultBroker = "http"
	// DefaultTransport is the transport used without --transport.
	DefaultTransport = "http"
	// DefaultSelector is the selector used without --selector.
	DefaultSelector = "random"
)

// EnvPrefix starts the environment variable of every flag: --registry is
// also MICRO_REGISTRY.
const EnvPrefix = "MICRO_"

// The names of the flags, without the leading dashes.
const (
	FlagRegistry             = "registry"
	FlagRegistryAddress      = "registry_address"
	FlagBroker               = "broker"
	FlagBrokerAddress        = "broker_address"
	FlagTransport            = "transport"
	FlagTransportAddress     = "transport_address"
	FlagSelector             = "selector"
	FlagServerName           = "server_name"
	FlagServerVersion        = "server_version"
	FlagServerID             = "server_id"
	FlagServerAddress        = "server_address"
	FlagServerAdvertise      = "server_advertise"
	FlagServerMetadata       = "server_metadata"
	FlagRegisterTTL          = "register_ttl"
	FlagRegisterInterval     = "register_interval"
	FlagClientRetries        = "client_retries"
	FlagClientRequestTimeout = "client_request_timeout"
	FlagEnableTLS            = "enable_tls"
	FlagTLSCertFile          = "tls_cert_file"
	FlagTLSKeyFile           = "tls_key_file"
)

// EnvVar returns the environment variable of a flag: [EnvPrefix] and the
// flag's name in upper case ("registry_address" gives
// "MICRO_REGISTRY_ADDRESS").
func EnvVar(flag string) string { return EnvPrefix + strings.ToUpper(flag) }

// Flags returns the go-micro flags, each readable from its environment
// variable as well ([EnvVar]); a flag given on the command line wins over
// its variable. The usage of --registry, --broker, --transport and
// --selector lists the implementations registered when Flags is called, so
// call it after the plugins' init functions have run (from main or later).
//
// Each call returns new flag values: a cli.App records what it parsed in
// its flags, so every App needs its own.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    FlagRegistry,
			Usage:   kindUsage("registry for service discovery", registry.Names()),
			Value:   DefaultRegistry,
			EnvVars: []string{EnvVar(FlagRegistry)},
		},
		&cli.StringFlag{
			Name:    FlagRegistryAddress,
			Usage:   "comma-separated list of registry addresses (default: the registry's own)",
			EnvVars: []string{EnvVar(FlagRegistryAddress)},
		},
		&cli.StringFlag{
			Name:    FlagBroker,
			Usage:   kindUsage("broker for publish/subscribe", broker.Names()),
			Value:   DefaultBroker,
			EnvVars: []string{EnvVar(FlagBroker)},
		},
		&cli.StringFlag{
			Name:    FlagBrokerAddress,
			Usage:   "comma-separated list of broker addresses; the http broker listens on the first (default: the broker's own)",
			EnvVars: []string{EnvVar(FlagBrokerAddress)},
		},
		&cli.StringFlag{
			Name:    FlagTransport,
			Usage:   kindUsage("transport carrying calls", transport.Names()),
			Value:   DefaultTransport,
			EnvVars: []string{EnvVar(FlagTransport)},
		},
		&cli.StringFlag{
			Name:    FlagTransportAddress,
			Usage:   "comma-separated list of addresses of the engine a transport runs over (unused by http and memory)",
			EnvVars: []string{EnvVar(FlagTransportAddress)},
		},
		&cli.StringFlag{
			Name:    FlagSelector,
			Usage:   kindUsage("selector (load balancing strategy) for calls", selector.Names()),
			Value:   DefaultSelector,
			EnvVars: []string{EnvVar(FlagSelector)},
		},
		&cli.StringFlag{
			Name:    FlagServerName,
			Usage:   "name the service registers under (default: the service's own)",
			EnvVars: []string{EnvVar(FlagServerName)},
		},
		&cli.StringFlag{
			Name:    FlagServerVersion,
			Usage:   "version the service registers",
			EnvVars: []string{EnvVar(FlagServerVersion)},
		},
		&cli.StringFlag{
			Name:    FlagServerID,
			Usage:   "id of this node (default: name-uuid)",
			EnvVars: []string{EnvVar(FlagServerID)},
		},
		&cli.StringFlag{
			Name:    FlagServerAddress,
			Usage:   "address to listen on, host:port (default: " + server.DefaultAddress + ")",
			EnvVars: []string{EnvVar(FlagServerAddress)},
		},
		&cli.StringFlag{
			Name:    FlagServerAdvertise,
			Usage:   "address to register instead of the listener's, host:port (behind NAT, in a container)",
			EnvVars: []string{EnvVar(FlagServerAdvertise)},
		},
		&cli.StringSliceFlag{
			Name:    FlagServerMetadata,
			Usage:   "node metadata as key=value; repeat the flag, or separate pairs by commas in the variable",
			EnvVars: []string{EnvVar(FlagServerMetadata)},
		},
		&cli.StringFlag{
			Name:        FlagRegisterTTL,
			Usage:       "TTL of the registration: a duration such as 90s, or whole seconds",
			DefaultText: server.DefaultRegisterTTL.String(),
			EnvVars:     []string{EnvVar(FlagRegisterTTL)},
		},
		&cli.StringFlag{
			Name:        FlagRegisterInterval,
			Usage:       "how often the registration is renewed: a duration such as 30s, or whole seconds",
			DefaultText: server.DefaultRegisterInterval.String(),
			EnvVars:     []string{EnvVar(FlagRegisterInterval)},
		},
		&cli.StringFlag{
			Name:        FlagClientRetries,
			Usage:       "how many times a failed call is retried (0 disables retries)",
			DefaultText: fmt.Sprint(client.DefaultRetries),
			EnvVars:     []string{EnvVar(FlagClientRetries)},
		},
		&cli.StringFlag{
			Name:        FlagClientRequestTimeout,
			Usage:       "bound on a call, retries included: a duration such as 5s, or whole seconds",
			DefaultText: client.DefaultRequestTimeout.String(),
			EnvVars:     []string{EnvVar(FlagClientRequestTimeout)},
		},
		&cli.BoolFlag{
			Name:    FlagEnableTLS,
			Usage:   "secure the transport and the broker with TLS; needs --" + FlagTLSCertFile + " and --" + FlagTLSKeyFile,
			EnvVars: []string{EnvVar(FlagEnableTLS)},
		},
		&cli.StringFlag{
			Name:      FlagTLSCertFile,
			Usage:     "PEM file with the TLS certificate (and its chain) to serve; peers presenting it are trusted",
			TakesFile: true,
			EnvVars:   []string{EnvVar(FlagTLSCertFile)},
		},
		&cli.StringFlag{
			Name:      FlagTLSKeyFile,
			Usage:     "PEM file with the TLS certificate's private key",
			TakesFile: true,
			EnvVars:   []string{EnvVar(FlagTLSKeyFile)},
		},
	}
}

// kindUsage is the usage of a flag that picks an implementation by name.
func kindUsage(what string, names []string) string {
	list := "none; import one"
	if len(names) > 0 {
		list = strings.Join(names, ", ")
	}
	return what + "; registered: " + list
}
