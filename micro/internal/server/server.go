package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/registry"
	microregistry "github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
	mserver "github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
)

// Defaults.
const (
	// DefaultAddress is where the registry service listens: the address
	// the "micro" registry of every service dials by default.
	DefaultAddress = microregistry.DefaultAddress
	// DefaultGracePeriod bounds Stop when its ctx has no deadline.
	DefaultGracePeriod = 10 * time.Second
)

var (
	// ErrStarted is returned by Start on a Server that was started.
	ErrStarted = errors.New("server: already started")
	// ErrMissing is wrapped by New's error when a component it needs is
	// not given.
	ErrMissing = errors.New("server: missing component")
)

// Components are what the hosted services run on: the backend registry
// the registry service stores into (and every hosted service registers
// in), the transport they serve on and the broker that is connected.
type Components struct {
	Registry  registry.Registry
	Transport transport.Transport
	Broker    broker.Broker
	// ServerOptions apply to the go-micro server of each hosted service
	// before its own name and address (cmd.Build returns them).
	ServerOptions []mserver.Option
}

// Option configures a Server.
type Option func(*options)

type options struct {
	address string
	version string
	logger  *slog.Logger
	parts   []Part
}

// Address sets where the registry service listens, host:port; port 0
// picks a free one. Default: [DefaultAddress], 127.0.0.1:8000.
func Address(addr string) Option { return func(o *options) { o.address = addr } }

// Version sets the version the hosted services register with. Default:
// none.
func Version(v string) Option { return func(o *options) { o.version = v } }

// Logger sets the logger of the server and the services it hosts.
// Default: slog.Default().
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Parts adds parts the Server starts after its own (the broker and the
// registry service), in the order given, and stops before them. Default:
// none.
func Parts(p ...Part) Option { return func(o *options) { o.parts = append(o.parts, p...) } }

// Part is one service the Server hosts, started and stopped in order.
type Part struct {
	// Name names the part in messages ("registry", "broker").
	Name string
	// Start starts the part; it returns once the part serves. It returns
	// what the part serves and where, for people.
	Start func(ctx context.Context) (string, error)
	// Stop stops the part gracefully within ctx.
	Stop func(ctx context.Context) error
}

// Started is a part that started and what it serves.
type Started struct {
	Name   string
	Serves string
}

// Server hosts the services of `micro server` on one machine.
type Server struct {
	opts  options
	comps Components
	parts []Part

	regAddr string // the registry service's address once started

	mu      sync.Mutex
	state   int // 0 new, 1 started, 2 stopped
	started []Part
}

// New returns a Server over comps, not started. Its parts are, in order:
// the broker (connected, so that hosted services can publish and
// subscribe), and the registry service go.micro.registry storing into
// comps.Registry; then those [Parts] adds (`micro server` adds the API
// gateway and the sidecar).
func New(comps Components, opts ...Option) (*Server, error) {
	o := options{address: DefaultAddress, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case comps.Registry == nil:
		return nil, fmt.Errorf("%w: a registry to store into", ErrMissing)
	case comps.Transport == nil:
		return nil, fmt.Errorf("%w: a transport to serve on", ErrMissing)
	case comps.Broker == nil:
		return nil, fmt.Errorf("%w: a broker", ErrMissing)
	}
	s := &Server{opts: o, comps: comps}
	s.parts = append([]Part{s.brokerPart(), s.registryPart()}, o.parts...)
	return s, nil
}

// Start starts the parts in order and returns what each serves. When one
// fails, those started are stopped again, the last first, and its error
// is returned.
func (s *Server) Start(ctx context.Context) ([]Started, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return nil, ErrStarted
	}
	s.state = 1
	var out []Started
	for _, p := range s.parts {
		serves, err := p.Start(ctx)
		if err != nil {
			err = fmt.Errorf("server: starting the %s: %w", p.Name, err)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultGracePeriod)
			s.stopLocked(sctx)
			cancel()
			return nil, err
		}
		s.started = append(s.started, p)
		out = append(out, Started{Name: p.Name, Serves: serves})
	}
	return out, nil
}

// Stop stops the parts that started, the last first, each gracefully
// within ctx (bounded by [DefaultGracePeriod] when ctx has no deadline).
// It returns the first error and may be called again, doing nothing more.
func (s *Server) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultGracePeriod)
		defer cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	s.state = 2
	var first error
	for i := len(s.started) - 1; i >= 0; i-- {
		p := s.started[i]
		if err := p.Stop(ctx); err != nil {
			s.opts.logger.Warn("micro server: stopping the "+p.Name, "error", err)
			if first == nil {
				first = fmt.Errorf("server: stopping the %s: %w", p.Name, err)
			}
		}
	}
	s.started = nil
	return first
}

// RegistryAddress is where the registry service listens once started.
func (s *Server) RegistryAddress() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.regAddr
}

// brokerPart connects the broker.
func (s *Server) brokerPart() Part {
	b := s.comps.Broker
	return Part{
		Name: "broker",
		Start: func(ctx context.Context) (string, error) {
			if err := b.Connect(ctx); err != nil {
				return "", err
			}
			serves := b.String()
			if addr := b.Address(); addr != "" {
				serves += " at " + addr
			}
			if b.String() == "http" {
				serves += " (peer to peer: publishers reach subscribers through the registry)"
			}
			return serves, nil
		},
		Stop: b.Disconnect,
	}
}

// registryPart serves the registry service over the backend registry.
func (s *Server) registryPart() Part {
	var (
		srv mserver.Server
		h   *handler.Registry
	)
	return Part{
		Name: "registry",
		Start: func(ctx context.Context) (string, error) {
			opts := append([]mserver.Option{}, s.comps.ServerOptions...)
			opts = append(opts,
				mserver.Registry(s.comps.Registry),
				mserver.Transport(s.comps.Transport),
				mserver.Broker(s.comps.Broker),
				mserver.Logger(s.opts.logger),
				mserver.Name(microregistry.ServiceName),
				mserver.Version(s.opts.version),
				mserver.Address(s.opts.address),
			)
			var err error
			srv, err = mserver.New(opts...)
			if err != nil {
				return "", err
			}
			h = handler.New(s.comps.Registry)
			if err := srv.Handle(srv.NewHandler(h)); err != nil {
				_ = handler.Close(h)
				return "", err
			}
			if err := srv.Start(ctx); err != nil {
				_ = handler.Close(h)
				return "", err
			}
			s.regAddr = srv.Options().Address
			return fmt.Sprintf("%s at %s, storing into the %s registry", microregistry.ServiceName, s.regAddr, s.comps.Registry.String()), nil
		},
		Stop: func(ctx context.Context) error {
			// End the watch streams first: they last as long as their
			// clients want, and the drain would wait for them.
			_ = handler.Close(h)
			return srv.Stop(ctx)
		},
	}
}
