package micro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/server"
)

// ErrHelp is returned by Init (and by Run, which calls Init) when the
// command line asked for --help (or -h): the help has been printed and
// nothing was built. The program should exit with status 0.
var ErrHelp = errors.New("micro: help requested")

var (
	errInitTwice = errors.New("micro: Init called twice")
	errInitBusy  = errors.New("micro: Run called while Init runs")
	errRunTwice  = errors.New("micro: Run called twice")
	errClosed    = errors.New("micro: Run called after Close")
)

// Service is a microservice: a server that serves the service's handlers
// and subscribers, registered in the registry while it runs, and a client
// to call other services, over one registry, selector, transport and
// broker.
type Service interface {
	// Name is the service name: the server's once Init has built it, the
	// Name option before.
	Name() string
	// Init parses the flags and environment, builds the components, the
	// client and the server, and calls the Action option. It may be
	// called once; it returns ErrHelp after printing the help.
	Init() error
	// Run calls Init unless it was called, starts the service and blocks
	// until SIGINT, SIGTERM or the end of the Context option, then stops
	// it gracefully. It may be called once.
	Run() error
	// Close releases what Init built from the flags (registry, selector,
	// transport, broker) without running the service, for a program that
	// only uses the client; Run releases them itself as it returns. Close
	// is idempotent, must not run concurrently with Init, and Run after
	// Close returns an error.
	Close(ctx context.Context) error
	// Client is the client; nil before Init has built it.
	Client() client.Client
	// Server is the server; nil before Init has built it.
	Server() server.Server
	// Options returns the service's options; after Init, with the
	// components, client and server in use.
	Options() Options
	// String names the implementation, "micro".
	String() string
}

// NewService returns a service with the given options. It builds nothing
// and reads no flags: Init (or Run) does.
func NewService(opts ...Option) Service {
	return &service{
		opts:   newOptions(opts...),
		stdout: os.Stdout,
		stderr: os.Stderr,
	}
}

// Init states.
const (
	stateNew = iota
	stateIniting
	stateReady
	stateFailed
)

type service struct {
	stdout, stderr io.Writer // help, and usage errors

	mu      sync.Mutex
	opts    Options // component, client and server fields filled by Init
	state   int
	initErr error
	ran     bool
	closed  bool
	comps   cmd.Components // built by cmd.Build, released by Run
}

func (s *service) String() string { return "micro" }

// Close releases the components Init built, unless Run took them.
func (s *service) Close(ctx context.Context) error {
	s.mu.Lock()
	comps := s.comps
	s.comps = cmd.Components{}
	s.closed = true
	s.mu.Unlock()
	return comps.Close(ctx)
}

func (s *service) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Server != nil {
		return s.opts.Server.Options().Name
	}
	if s.opts.Name != "" {
		return s.opts.Name
	}
	return server.DefaultName
}

func (s *service) Client() client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Client
}

func (s *service) Server() server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Server
}

func (s *service) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// Init parses the command line (the Args option) with go-micro's flags
// (package cmd) and the Flags option, through a urfave/cli App whose
// --help lists every flag with its environment variable and the
// registered implementations. It builds the components with cmd.Build
// (instances given in code win over flags), then the client and server
// unless given, then calls the Action option.
//
// A bad flag or value returns an error and prints it with a usage line to
// standard error; --help prints the help to standard output and returns
// [ErrHelp]. On any error nothing stays built. Init may be called once;
// a second call returns an error.
func (s *service) Init() error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return errInitTwice
	}
	s.state = stateIniting
	s.mu.Unlock()

	err := s.init()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.initErr = err
	s.state = stateReady
	if err != nil {
		s.state = stateFailed
	}
	return err
}

// usageError marks an error of the command line's parsing.
type usageError struct{ err error }

func (e *usageError) Error() string { return "micro: bad flags: " + e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func (s *service) init() error {
	o := s.Options()
	args := o.Args
	if args == nil {
		args = os.Args
	}
	name := o.Name
	if name == "" && len(args) > 0 {
		name = filepath.Base(args[0])
	}
	if name == "" {
		name = server.DefaultName
	}
	if len(args) == 0 {
		args = []string{name}
	}

	// The help flag is the app's own: urfave/cli's built-in one is a
	// package global that parsing writes to, which races when two services
	// in one process parse at once.
	help := &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
	flags := append(append(cmd.Flags(), o.Flags...), help)
	if err := checkFlags(flags[:len(flags)-1]); err != nil {
		return err
	}

	var (
		acted bool
		built cmd.Components
	)
	app := &cli.App{
		Name:            name,
		Usage:           "a go-micro service",
		Flags:           flags,
		Writer:          s.stdout,
		ErrWriter:       s.stderr,
		HideHelp:        true,
		HideHelpCommand: true,
		HideVersion:     true,
		// Library code never exits the process: errors are returned.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{err: err}
		},
		Action: func(c *cli.Context) error {
			if c.Bool(help.Name) {
				return cli.ShowAppHelp(c)
			}
			acted = true
			comps, err := cmd.Build(c, cmd.Components{
				Registry:  o.Registry,
				Broker:    o.Broker,
				Transport: o.Transport,
				Selector:  o.Selector,
				Logger:    o.Logger,
			})
			if err != nil {
				return err
			}
			cl, srv, err := s.build(o, comps)
			if err != nil {
				_ = comps.Close(context.WithoutCancel(o.Context))
				return err
			}
			built = comps
			s.mu.Lock()
			s.comps = comps
			s.opts.Registry, s.opts.Broker = comps.Registry, comps.Broker
			s.opts.Transport, s.opts.Selector = comps.Transport, comps.Selector
			s.opts.Client, s.opts.Server = cl, srv
			so := srv.Options()
			s.opts.Name, s.opts.Version = so.Name, so.Version
			s.mu.Unlock()
			if o.Action != nil {
				if err := o.Action(c); err != nil {
					return fmt.Errorf("micro: action: %w", err)
				}
			}
			return nil
		},
	}

	err := app.RunContext(o.Context, args)
	if err == nil && !acted {
		return ErrHelp
	}
	if err == nil {
		return nil
	}
	if built.Registry != nil {
		// The Action failed after building: undo it.
		_ = built.Close(context.WithoutCancel(o.Context))
		s.mu.Lock()
		s.opts, s.comps = o, cmd.Components{}
		s.mu.Unlock()
	}
	var ue *usageError
	var fe *cmd.FlagError
	if errors.As(err, &ue) || errors.As(err, &fe) {
		fmt.Fprintf(s.stderr, "%s: %v\nUsage: %s [options]; run '%s --help' for the options and their environment variables.\n",
			name, err, name, name)
	}
	return err
}

// checkFlags refuses two flags of one name, which the flag package would
// panic on.
func checkFlags(flags []cli.Flag) error {
	seen := map[string]bool{"help": true, "h": true} // the help flag's names
	for _, f := range flags {
		if f == nil {
			return errors.New("micro: nil flag in Flags")
		}
		for _, n := range f.Names() {
			if seen[n] {
				return fmt.Errorf("micro: flag --%s is defined twice (go-micro's flags are listed in package cmd)", n)
			}
			seen[n] = true
		}
	}
	return nil
}

// build makes the client and the server over comps, unless given.
func (s *service) build(o Options, comps cmd.Components) (client.Client, server.Server, error) {
	cl := o.Client
	if cl == nil {
		copts := slices.Clone(comps.ClientOptions)
		copts = append(copts, client.Wrap(o.ClientWrappers...), client.WrapCall(o.CallWrappers...))
		var err error
		if cl, err = client.New(copts...); err != nil {
			return nil, nil, fmt.Errorf("micro: building the client: %w", err)
		}
	} else {
		for i := len(o.ClientWrappers) - 1; i >= 0; i-- {
			cl = o.ClientWrappers[i](cl)
		}
		if len(o.CallWrappers) > 0 {
			o.Logger.Warn("micro: WrapCall does not apply to a Client given in code; wrap its calls when building it")
		}
	}

	srv := o.Server
	if srv == nil {
		var sopts []server.Option
		if o.Name != "" {
			sopts = append(sopts, server.Name(o.Name))
		}
		if o.Version != "" {
			sopts = append(sopts, server.Version(o.Version))
		}
		if o.Metadata != nil {
			sopts = append(sopts, server.Metadata(maps.Clone(o.Metadata)))
		}
		if o.Address != "" {
			sopts = append(sopts, server.Address(o.Address))
		}
		if o.RegisterTTL > 0 {
			sopts = append(sopts, server.RegisterTTL(o.RegisterTTL))
		}
		if o.RegisterInterval > 0 {
			sopts = append(sopts, server.RegisterInterval(o.RegisterInterval))
		}
		// The flags' options come after the code's, so a flag set wins.
		sopts = append(sopts, comps.ServerOptions...)
		sopts = append(sopts, server.WrapHandler(o.HandlerWrappers...), server.WrapSubscriber(o.SubscriberWrappers...))
		var err error
		if srv, err = server.New(sopts...); err != nil {
			return nil, nil, fmt.Errorf("micro: building the server: %w", err)
		}
	} else if len(o.HandlerWrappers) > 0 || len(o.SubscriberWrappers) > 0 {
		o.Logger.Warn("micro: WrapHandler and WrapSubscriber do not apply to a Server given in code; wrap it when building it")
	}
	return cl, srv, nil
}

// Run runs the service:
//
//  1. Init, unless it was called (an Init error, ErrHelp included, is
//     returned as is);
//  2. start: the broker's Connect, the BeforeStart hooks, the server's
//     Start (listen, subscribe, register), the AfterStart hooks;
//  3. wait for SIGINT or SIGTERM, or the end of the Context option;
//  4. stop: the BeforeStop hooks, the server's Stop within the GracePeriod
//     (it deregisters first, then stops accepting and drains the calls
//     in progress), the AfterStop hooks, the broker's Disconnect within
//     another GracePeriod, and last the release of what Init built
//     (selector, transport, broker and registry made from the flags;
//     instances given in code are left open).
//
// The start stops at its first error; the stop side then runs in full
// all the same (the server's Stop only if it started), so that the stop
// hooks can release what start hooks acquired: write them to tolerate a
// start that did not finish. Every stop hook runs even when another
// failed. Run returns the first error met; a signal or the end of the
// Context is a normal stop and not an error, even while starting.
func (s *service) Run() error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errRunTwice
	}
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.ran = true
	state := s.state
	s.mu.Unlock()

	switch state {
	case stateNew:
		if err := s.Init(); err != nil {
			return err
		}
	case stateIniting:
		return errInitBusy
	case stateFailed:
		s.mu.Lock()
		err := s.initErr
		s.mu.Unlock()
		return err
	}
	return s.run()
}

func (s *service) run() error {
	s.mu.Lock()
	o, comps := s.opts, s.comps
	s.comps = cmd.Components{}
	s.mu.Unlock()
	log := o.Logger.With("service", o.Name)

	var first error
	record := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}

	// Signals are caught from before the start, so that one arriving
	// while starting stops the service instead of killing the process.
	sigCtx, stopSignals := signal.NotifyContext(o.Context, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	// life is given to Connect and Start, which may keep it as the root
	// of what they run: it ends after the stop side, or when a signal
	// comes while starting.
	life, endLife := context.WithCancel(context.WithoutCancel(o.Context))
	defer endLife()
	abortStart := context.AfterFunc(sigCtx, endLife)

	// Once the server started, a signal no longer aborts the start: it
	// waits for the stop side, which drains the calls in progress.
	started, aborted := false, false
	endStart := sync.OnceFunc(func() { aborted = !abortStart() })
	startErr := func() error {
		if err := o.Broker.Connect(life); err != nil {
			return fmt.Errorf("micro: connecting the broker: %w", err)
		}
		if err := runHooks("BeforeStart", o.BeforeStart, true); err != nil {
			return err
		}
		if err := o.Server.Start(life); err != nil {
			return fmt.Errorf("micro: starting the server: %w", err)
		}
		started = true
		endStart()
		return runHooks("AfterStart", o.AfterStart, true)
	}()
	endStart()
	if startErr != nil && aborted && errors.Is(startErr, context.Canceled) {
		startErr = nil // stopped by a signal or the Context while starting
	}
	record(startErr)

	if startErr == nil {
		log.Info("micro: service started", "address", o.Server.Options().Address,
			"registry", o.Registry.String(), "transport", o.Transport.String(), "broker", o.Broker.String())
		<-sigCtx.Done()
	}
	if startErr != nil {
		log.Error("micro: service failed to start; stopping", "err", startErr)
	} else {
		log.Info("micro: service stopping", "cause", context.Cause(sigCtx))
	}

	// From here a second SIGINT or SIGTERM has its default effect, so a
	// stop that hangs can still be interrupted.
	stopSignals()
	record(runHooks("BeforeStop", o.BeforeStop, false))
	if started {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(o.Context), o.GracePeriod)
		if err := o.Server.Stop(ctx); err != nil {
			record(fmt.Errorf("micro: stopping the server: %w", err))
		}
		cancel()
	}
	record(runHooks("AfterStop", o.AfterStop, false))

	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.Context), o.GracePeriod)
	defer cancel()
	if err := o.Broker.Disconnect(ctx); err != nil {
		record(fmt.Errorf("micro: disconnecting the broker: %w", err))
	}
	if err := comps.Close(ctx); err != nil {
		record(fmt.Errorf("micro: releasing the components: %w", err))
	}
	if first != nil {
		log.Error("micro: service stopped with an error", "err", first)
	} else {
		log.Info("micro: service stopped")
	}
	return first
}

// runHooks calls hooks in order. With stopAtError it returns the first
// error at once; otherwise it calls them all and returns the first error.
func runHooks(what string, hooks []func() error, stopAtError bool) error {
	var first error
	for i, h := range hooks {
		if err := h(); err != nil {
			err = fmt.Errorf("micro: %s hook %d: %w", what, i+1, err)
			if stopAtError {
				return err
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}
