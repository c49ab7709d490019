package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// FlagError reports a flag (or its environment variable) whose value
// cannot be used. Build returns it, possibly wrapped; find it with
// errors.As.
type FlagError struct {
	// Flag is the flag's name without dashes, e.g. "register_ttl".
	Flag string
	// Value is the value given.
	Value string
	// Err says what is wrong with it.
	Err error
}

func (e *FlagError) Error() string {
	return fmt.Sprintf("cmd: --%s (%s) %q: %v", e.Flag, EnvVar(e.Flag), e.Value, e.Err)
}

// Unwrap returns the underlying error.
func (e *FlagError) Unwrap() error { return e.Err }

// Components are the implementations a service runs on, and the client and
// server options that follow from the flags.
//
// Passed to [Build], the non-nil fields are instances given in code: they
// are used as they are and beat the flags that would name an
// implementation. Returned by Build, every component is set.
type Components struct {
	Registry  registry.Registry
	Broker    broker.Broker
	Transport transport.Transport
	Selector  selector.Selector

	// Logger is not built: Build logs its warnings to it and hands it to
	// the implementations, client and server it configures.
	// slog.Default() when nil.
	Logger *slog.Logger

	// ServerOptions, on return, set the server's registry, transport,
	// broker and logger, followed by one option per server flag that was
	// set (--server_name, --register_ttl, ...). Apply them after the
	// options given in code, so that a flag set at run time wins.
	ServerOptions []server.Option
	// ClientOptions, on return, set the client's selector, transport,
	// broker and logger, and --client_retries and --client_request_timeout
	// when set.
	ClientOptions []client.Option

	built []func(context.Context) error // releases what Build built, in build order
}

// Close releases the components that [Build] built (not those passed to
// it), the last built first: the selector is closed, the broker
// disconnected within ctx, the transport closed, and the registry closed
// when it has a Close method. It returns the first error and may be
// called again, doing nothing more.
func (c *Components) Close(ctx context.Context) error {
	var first error
	for i := len(c.built) - 1; i >= 0; i-- {
		if err := c.built[i](ctx); err != nil && first == nil {
			first = err
		}
	}
	c.built = nil
	return first
}

// Build turns the parsed flags of c (made from [Flags]) into the
// components of a service: each of registry, selector, transport and
// broker is have's instance when it is non-nil, and otherwise the
// implementation named by its flag (or environment variable, or the
// default), built with registry.Open, selector.Open, transport.Open and
// broker.Open and the matching --*_address flag. The selector is built
// over the registry, and the broker gets the registry through
// broker.Registry. When a flag explicitly names another implementation
// than the instance given in code, or sets an address or TLS that cannot
// apply to it, Build logs a warning and keeps the instance.
//
// With --enable_tls, Build loads --tls_cert_file and --tls_key_file into a
// tls.Config for the transport and the broker it builds: it serves that
// certificate, and trusts the system's roots plus the certificates of the
// file itself, so services that share one certificate, even a self-signed
// one, trust each other.
//
// Errors: an unknown name is a [*FlagError] that wraps the Lookup error,
// which lists the registered names; so are negative retries, a bad or
// non-positive duration, metadata without '=', a register interval not
// shorter than the TTL, TLS without both files, TLS files without
// --enable_tls, and files that cannot be read or parsed. Values are
// checked before anything is built, and when building fails what was
// built already is released, so an error leaves nothing behind.
//
// Build reads c only; it may be called from a cli.App's Action or Before.
func Build(c *cli.Context, have Components) (Components, error) {
	log := have.Logger
	if log == nil {
		log = slog.Default()
	}
	v, err := readValues(c)
	if err != nil {
		return Components{}, err
	}

	out := Components{Logger: log}
	fail := func(err error) (Components, error) {
		_ = out.Close(context.Background())
		return Components{}, err
	}

	// Registry.
	if have.Registry != nil {
		out.Registry = have.Registry
		warnInstance(log, c, "registry", FlagRegistry, have.Registry.String())
		warnIgnored(log, c, "registry", FlagRegistryAddress)
	} else {
		var opts []registry.Option
		if len(v.registryAddrs) > 0 {
			opts = append(opts, registry.Addrs(v.registryAddrs...))
		}
		r, err := open(FlagRegistry, v.registry, registry.Lookup, func() (registry.Registry, error) {
			return registry.Open(v.registry, opts...)
		})
		if err != nil {
			return fail(err)
		}
		out.Registry = r
		out.built = append(out.built, func(context.Context) error {
			if cl, ok := r.(interface{ Close() error }); ok {
				return cl.Close()
			}
			return nil
		})
	}

	// Selector, over the registry.
	if have.Selector != nil {
		out.Selector = have.Selector
		warnInstance(log, c, "selector", FlagSelector, have.Selector.String())
	} else {
		s, err := open(FlagSelector, v.selector, selector.Lookup, func() (selector.Selector, error) {
			return selector.Open(v.selector, selector.Registry(out.Registry), selector.Logger(log))
		})
		if err != nil {
			return fail(err)
		}
		out.Selector = s
		out.built = append(out.built, func(context.Context) error { return s.Close() })
	}

	// Transport.
	if have.Transport != nil {
		out.Transport = have.Transport
		warnInstance(log, c, "transport", FlagTransport, have.Transport.String())
		warnIgnored(log, c, "transport", FlagTransportAddress)
		if v.tls != nil {
			log.Warn("cmd: --" + FlagEnableTLS + " does not apply to the transport given in code; configure its TLS there")
		}
	} else {
		opts := []transport.Option{transport.Logger(log)}
		if len(v.transportAddrs) > 0 {
			opts = append(opts, transport.Addrs(v.transportAddrs...))
		}
		if v.tls != nil {
			opts = append(opts, transport.TLS(v.tls.Clone()))
		}
		t, err := open(FlagTransport, v.transport, transport.Lookup, func() (transport.Transport, error) {
			return transport.Open(v.transport, opts...)
		})
		if err != nil {
			return fail(err)
		}
		out.Transport = t
		out.built = append(out.built, func(context.Context) error { return t.Close() })
	}

	// Broker, finding peers through the registry.
	if have.Broker != nil {
		out.Broker = have.Broker
		warnInstance(log, c, "broker", FlagBroker, have.Broker.String())
		warnIgnored(log, c, "broker", FlagBrokerAddress)
		if v.tls != nil {
			log.Warn("cmd: --" + FlagEnableTLS + " does not apply to the broker given in code; configure its TLS there")
		}
	} else {
		opts := []broker.Option{broker.Registry(out.Registry), broker.Logger(log)}
		if len(v.brokerAddrs) > 0 {
			opts = append(opts, broker.Addrs(v.brokerAddrs...))
		}
		if v.tls != nil {
			opts = append(opts, broker.TLS(v.tls.Clone()))
		}
		b, err := open(FlagBroker, v.broker, broker.Lookup, func() (broker.Broker, error) {
			return broker.Open(v.broker, opts...)
		})
		if err != nil {
			return fail(err)
		}
		out.Broker = b
		out.built = append(out.built, func(ctx context.Context) error { return b.Disconnect(ctx) })
	}

	out.ServerOptions = append([]server.Option{
		server.Registry(out.Registry), server.Transport(out.Transport),
		server.Broker(out.Broker), server.Logger(log),
	}, v.server...)
	out.ClientOptions = append([]client.Option{
		client.Selector(out.Selector), client.Transport(out.Transport),
		client.Broker(out.Broker), client.Logger(log),
	}, v.client...)
	return out, nil
}

// open checks name against the kind's table, so that an unknown name is a
// FlagError listing the registered ones, and then builds it.
func open[F, T any](flag, name string, lookup func(string) (F, error), build func() (T, error)) (T, error) {
	var zero T
	if _, err := lookup(name); err != nil {
		return zero, &FlagError{Flag: flag, Value: name, Err: err}
	}
	t, err := build()
	if err != nil {
		return zero, fmt.Errorf("cmd: building %s %q: %w", flag, name, err)
	}
	return t, nil
}

// warnInstance warns when flag explicitly names an implementation other
// than the instance given in code.
func warnInstance(log *slog.Logger, c *cli.Context, kind, flag, instance string) {
	if name := c.String(flag); c.IsSet(flag) && name != "" && name != instance {
		log.Warn("cmd: a "+kind+" was given in code; ignoring --"+flag,
			"flag", name, "env", EnvVar(flag), "using", instance)
	}
}

// warnIgnored warns when flag is set although the instance given in code
// makes it useless.
func warnIgnored(log *slog.Logger, c *cli.Context, kind, flag string) {
	if c.IsSet(flag) && c.String(flag) != "" {
		log.Warn("cmd: a "+kind+" was given in code; ignoring --"+flag,
			"value", c.String(flag), "env", EnvVar(flag))
	}
}

// values are the flags read and checked, before anything is built.
type values struct {
	registry, broker, transport, selector      string
	registryAddrs, brokerAddrs, transportAddrs []string
	tls                                        *tls.Config
	server                                     []server.Option
	client                                     []client.Option
}

func readValues(c *cli.Context) (values, error) {
	v := values{
		registry:       nameOr(c, FlagRegistry, DefaultRegistry),
		broker:         nameOr(c, FlagBroker, DefaultBroker),
		transport:      nameOr(c, FlagTransport, DefaultTransport),
		selector:       nameOr(c, FlagSelector, DefaultSelector),
		registryAddrs:  splitList(c.String(FlagRegistryAddress)),
		brokerAddrs:    splitList(c.String(FlagBrokerAddress)),
		transportAddrs: splitList(c.String(FlagTransportAddress)),
	}

	for _, s := range []struct {
		flag string
		opt  func(string) server.Option
	}{
		{FlagServerName, server.Name},
		{FlagServerVersion, server.Version},
		{FlagServerID, server.Id},
		{FlagServerAddress, server.Address},
		{FlagServerAdvertise, server.Advertise},
	} {
		if val := c.String(s.flag); val != "" {
			v.server = append(v.server, s.opt(val))
		}
	}

	if pairs := c.StringSlice(FlagServerMetadata); len(pairs) > 0 {
		md, err := parseMetadata(pairs)
		if err != nil {
			return values{}, err
		}
		// Merge over the metadata given in code, the flags' keys winning.
		v.server = append(v.server, func(o *server.Options) {
			merged := maps.Clone(o.Metadata)
			if merged == nil {
				merged = make(map[string]string, len(md))
			}
			maps.Copy(merged, md)
			o.Metadata = merged
		})
	}

	ttl, err := durationFlag(c, FlagRegisterTTL)
	if err != nil {
		return values{}, err
	}
	interval, err := durationFlag(c, FlagRegisterInterval)
	if err != nil {
		return values{}, err
	}
	if ttl > 0 && interval > 0 && interval >= ttl {
		return values{}, &FlagError{Flag: FlagRegisterInterval, Value: c.String(FlagRegisterInterval),
			Err: fmt.Errorf("must be shorter than --%s %v, or registrations expire between renewals", FlagRegisterTTL, ttl)}
	}
	if ttl > 0 {
		v.server = append(v.server, server.RegisterTTL(ttl))
	}
	if interval > 0 {
		v.server = append(v.server, server.RegisterInterval(interval))
	}

	if r := strings.TrimSpace(c.String(FlagClientRetries)); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 0 {
			return values{}, &FlagError{Flag: FlagClientRetries, Value: r, Err: errors.New("want a whole number, 0 or more")}
		}
		v.client = append(v.client, client.Retries(n))
	}
	timeout, err := durationFlag(c, FlagClientRequestTimeout)
	if err != nil {
		return values{}, err
	}
	if timeout > 0 {
		v.client = append(v.client, client.RequestTimeout(timeout))
	}

	v.tls, err = tlsConfig(c)
	if err != nil {
		return values{}, err
	}
	return v, nil
}

// nameOr returns the implementation name flag holds, or def when it is
// empty (an empty environment variable counts as unset).
func nameOr(c *cli.Context, flag, def string) string {
	if name := strings.TrimSpace(c.String(flag)); name != "" {
		return name
	}
	return def
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseMetadata turns key=value pairs into a map; a later key wins.
func parseMetadata(pairs []string) (map[string]string, error) {
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, val, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &FlagError{Flag: FlagServerMetadata, Value: p, Err: errors.New("want key=value")}
		}
		md[k] = val
	}
	return md, nil
}

// durationFlag reads a duration flag: 0 when unset, an error when its
// value is not a positive duration.
func durationFlag(c *cli.Context, flag string) (time.Duration, error) {
	s := strings.TrimSpace(c.String(flag))
	if s == "" {
		return 0, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, &FlagError{Flag: flag, Value: s, Err: err}
	}
	if d <= 0 {
		return 0, &FlagError{Flag: flag, Value: s, Err: errors.New("must be positive")}
	}
	return d, nil
}

// ParseDuration reads a duration the way the duration flags do: a whole
// number is seconds ("30" is 30s, as in the original toolkit), anything
// else a Go duration ("30s", "1m30s", "500ms").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as 30s or 1m, or a whole number of seconds")
	}
	return d, nil
}

// tlsConfig returns the TLS configuration the TLS flags ask for, or nil.
func tlsConfig(c *cli.Context) (*tls.Config, error) {
	certFile := strings.TrimSpace(c.String(FlagTLSCertFile))
	keyFile := strings.TrimSpace(c.String(FlagTLSKeyFile))
	if !c.Bool(FlagEnableTLS) {
		if certFile != "" || keyFile != "" {
			f, val := FlagTLSCertFile, certFile
			if certFile == "" {
				f, val = FlagTLSKeyFile, keyFile
			}
			return nil, &FlagError{Flag: f, Value: val,
				Err: fmt.Errorf("given without --%s (%s=true); set it to use TLS, or drop the file", FlagEnableTLS, EnvVar(FlagEnableTLS))}
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, &FlagError{Flag: FlagEnableTLS, Value: "true",
			Err: fmt.Errorf("needs --%s and --%s (%s, %s) with the PEM certificate and key to serve",
				FlagTLSCertFile, FlagTLSKeyFile, EnvVar(FlagTLSCertFile), EnvVar(FlagTLSKeyFile))}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, &FlagError{Flag: FlagTLSCertFile, Value: certFile,
			Err: fmt.Errorf("loading the key pair with --%s %q: %w", FlagTLSKeyFile, keyFile, err)}
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	for _, der := range cert.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, &FlagError{Flag: FlagTLSCertFile, Value: certFile, Err: err}
		}
		roots.AddCert(x)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
