package cli

import (
	"context"
	stderrors "errors"
	"io"
	"log/slog"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/codec/json"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	microregistry "github.com/openmicro/go-micro/registry/micro"
)

// closeTimeout bounds the release of what a command built.
const closeTimeout = 5 * time.Second

// env is what one command runs with: its parsed command line, its output
// and the components built from the flags, once asked for.
type env struct {
	c      *ucli.Context
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	have   cmd.Components
	comps  *cmd.Components
	client client.Client
}

// newEnv returns the env of the command c runs. logLevel is the level of
// the default logger, used when no Logger option was given.
func newEnv(c *ucli.Context, o *options, logLevel slog.Level) *env {
	log := o.logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: logLevel}))
	}
	return &env{c: c, stdout: c.App.Writer, stderr: c.App.ErrWriter, log: log, have: o.have}
}

// ctx is the command's context: it ends with SIGINT or SIGTERM.
func (e *env) ctx() context.Context { return e.c.Context }

// components builds the registry, selector, transport and broker the
// global flags name, once. A bad flag value is a usage error.
func (e *env) components() (*cmd.Components, error) {
	if e.comps != nil {
		return e.comps, nil
	}
	have := e.have
	have.Logger = e.log
	comps, err := cmd.Build(e.c, have)
	if err != nil {
		var fe *cmd.FlagError
		if stderrors.As(err, &fe) {
			return nil, badInput("%v", err)
		}
		return nil, failure("%v", err)
	}
	e.comps = &comps
	return e.comps, nil
}

// registry returns the registry the flags name.
func (e *env) registry() (registry.Registry, error) {
	comps, err := e.components()
	if err != nil {
		return nil, err
	}
	return comps.Registry, nil
}

// newClient returns a client over the components that speaks JSON, so
// that any service answers whatever its handlers' Go types.
func (e *env) newClient() (client.Client, error) {
	if e.client != nil {
		return e.client, nil
	}
	comps, err := e.components()
	if err != nil {
		return nil, err
	}
	opts := append([]client.Option{client.ContentType(json.ContentType)}, comps.ClientOptions...)
	c, err := client.New(opts...)
	if err != nil {
		return nil, failure("building the client: %v", err)
	}
	e.client = c
	return c, nil
}

// close releases what components built.
func (e *env) close() {
	if e.comps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx()), closeTimeout)
	defer cancel()
	if err := e.comps.Close(ctx); err != nil {
		e.log.Debug("micro: releasing the components", "error", err)
	}
	e.comps = nil
}

// registryName is the registry implementation in use.
func (e *env) registryName() string {
	if e.comps != nil && e.comps.Registry != nil {
		return e.comps.Registry.String()
	}
	if name := strings.TrimSpace(e.c.String(cmd.FlagRegistry)); name != "" {
		return name
	}
	return cmd.DefaultRegistry
}

// registryAddress is where the registry in use is reached, for messages.
func (e *env) registryAddress() string {
	if addr := strings.TrimSpace(e.c.String(cmd.FlagRegistryAddress)); addr != "" {
		return addr
	}
	if e.comps != nil && e.comps.Registry != nil {
		if ro, ok := e.comps.Registry.(interface{ Options() registry.Options }); ok {
			if addrs := ro.Options().Addrs; len(addrs) > 0 {
				return strings.Join(addrs, ",")
			}
		}
	}
	if e.registryName() == microRegistryName {
		return microregistry.DefaultAddress
	}
	return "its default address"
}

// registryError turns an error of the registry (other than not found) into
// the one line that says where the registry was expected and how to get
// one there.
func (e *env) registryError(err error) error {
	if isCanceled(e.ctx(), err) {
		return interrupted()
	}
	name, addr := e.registryName(), e.registryAddress()
	if name != microRegistryName {
		return failure("cannot use the %s registry at %s: %s; check that %s runs there, or choose another registry with --%s and --%s",
			name, addr, describe(err), name, cmd.FlagRegistry, cmd.FlagRegistryAddress)
	}
	start := "start it with `micro server`"
	if addr != microregistry.DefaultAddress {
		start = "start it with `micro server --address " + addr + "`"
	}
	var what string
	switch reason, refused := unreachable(err); {
	case refused:
		what = "nothing answers there"
	case timedOut(reason) || (reason == "" && stderrors.Is(err, context.DeadlineExceeded)):
		what = "something accepts connections there but does not answer"
		start = "is the server there stuck, or another program using that port? Run `micro server --address` on a free port"
	case reason != "":
		what = "something else answers there, not the registry service (" + reason + ")"
		start = "is another program using that port? Run `micro server --address` on a free port"
	default:
		what = describe(err)
	}
	return failure("cannot reach the registry at %s: %s; %s, or point --%s (%s) at a running one",
		addr, what, start, cmd.FlagRegistryAddress, cmd.EnvVar(cmd.FlagRegistryAddress))
}

// unreachable tells, for an error matching microregistry.ErrUnreachable,
// why the registry could not be reached: refused when nothing listens
// there, and otherwise the reason the client gave, on one line. It
// returns "", false for any other error.
func unreachable(err error) (reason string, refused bool) {
	if !stderrors.Is(err, microregistry.ErrUnreachable) {
		return "", false
	}
	var me *errors.Error
	if !stderrors.As(err, &me) || me.Detail == "" {
		return "", true
	}
	detail := me.Detail
	if strings.Contains(detail, "connection refused") {
		return "", true
	}
	// The client's detail is a chain "call to ...: dialling ADDR:
	// transport/http: dial ADDR: why"; keep why, and only its first line
	// (an HTTP server's answer may follow).
	if i := strings.LastIndex(detail, "dial "); i >= 0 {
		if j := strings.Index(detail[i:], ": "); j >= 0 {
			detail = detail[i+j+2:]
		}
	}
	detail, _, _ = strings.Cut(detail, "\n")
	detail = strings.TrimSpace(detail)
	if r := []rune(detail); len(r) > maxReason {
		detail = string(r[:maxReason]) + "..."
	}
	if detail == "" {
		return "", true
	}
	return detail, false
}

// maxReason bounds how much of the client's account of a failure a
// message quotes.
const maxReason = 120

// timedOut reports whether a reason says the peer did not answer in time.
func timedOut(reason string) bool {
	return reason != "" && (strings.Contains(reason, "timeout") || strings.Contains(reason, "deadline exceeded"))
}

// getService looks a service up, turning not found and registry failures
// into the command's errors.
func (e *env) getService(name string) ([]*registry.Service, error) {
	reg, err := e.registry()
	if err != nil {
		return nil, err
	}
	svcs, err := reg.GetService(e.ctx(), name)
	if isNotFound(err) || (err == nil && len(svcs) == 0) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, e.registryError(err)
	}
	return svcs, nil
}
