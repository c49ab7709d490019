package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/transport"
)

// state is where a server is in its life.
type state int

const (
	idle state = iota
	starting
	running
	stopping
)

// rpcServer is the Server New builds.
type rpcServer struct {

	// Counters for Debug.Stats, over every call since New.
	requests atomic.Uint64
	errs     atomic.Uint64
	started  atomic.Int64 // unix seconds of the latest Start

	mu        sync.Mutex
	opts      Options // Address is the bound one while running
	address   string  // the Address configured
	state     state
	startDone chan struct{} // closed when the Start in progress returns
	handlers  []*rpcHandler
	names     map[string]bool // endpoint names handled
	subs      []*rpcSubscriber
	run       *run
}

// run is what one Start builds and Stop tears down.
type run struct {
	s      *rpcServer
	ctx    context.Context // the root of every call's context
	cancel context.CancelFunc
	// waiting ends when Stop begins to drain: a stream that has not sent
	// its request by then is not a call in progress, and is closed.
	waiting     context.Context
	stopWaiting context.CancelFunc
	listener    transport.Listener
	accepted    chan struct{} // closed when Accept has returned
	methods     map[string]*method
	handler     HandlerFunc // the wrapped dispatch
	service     *registry.Service

	regCancel context.CancelFunc
	regDone   chan struct{}

	connected bool // Start connected the broker
	bsubs     []broker.Subscriber
}

// New returns the rpc server. It fails when the Transport or the Registry
// option is missing. The built-in Debug handler (see the package doc) is
// already added.
func New(opts ...Option) (Server, error) {
	o := NewOptions(opts...)
	if o.Transport == nil {
		return nil, errors.New("server: no Transport: set one with server.Transport")
	}
	if o.Registry == nil {
		return nil, errors.New("server: no Registry: set one with server.Registry")
	}
	o.Metadata = maps.Clone(o.Metadata)
	o.HandlerWrappers = append([]HandlerWrapper(nil), o.HandlerWrappers...)
	o.SubscriberWrappers = append([]SubscriberWrapper(nil), o.SubscriberWrappers...)
	if o.Id == "" {
		o.Id = o.Name + "-" + newUUID()
	}
	s := &rpcServer{opts: o, address: o.Address, names: make(map[string]bool)}
	if err := s.Handle(NewHandler(&debugHandler{s: s}, HandlerName("Debug"))); err != nil {
		return nil, err // cannot happen: the Debug handler is well formed
	}
	return s, nil
}

func (s *rpcServer) String() string { return "rpc" }

// Options returns the options; while the server runs, Address is the
// address it listens on (with the real port).
func (s *rpcServer) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

func (s *rpcServer) NewHandler(h any, opts ...HandlerOption) Handler {
	return NewHandler(h, opts...)
}

func (s *rpcServer) NewSubscriber(topic string, fn any, opts ...SubscriberOption) Subscriber {
	return NewSubscriber(topic, fn, opts...)
}

// Handle adds a handler. A Handler that NewHandler did not build is built
// again from its Handler value and Name.
func (s *rpcServer) Handle(h Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil Handler", ErrInvalidHandler)
	}
	if err := h.Err(); err != nil {
		return err
	}
	rh, ok := h.(*rpcHandler)
	if !ok {
		rh, _ = NewHandler(h.Handler(), HandlerName(h.Name())).(*rpcHandler)
		if err := rh.Err(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != idle {
		return ErrStarted
	}
	for name := range rh.methods {
		if s.names[name] {
			return fmt.Errorf("server: endpoint %s is already handled", name)
		}
	}
	for name := range rh.methods {
		s.names[name] = true
	}
	s.handlers = append(s.handlers, rh)
	return nil
}

// Subscribe adds a subscriber. A Subscriber that NewSubscriber did not
// build is built again from its Topic, Subscriber and Queue.
func (s *rpcServer) Subscribe(sb Subscriber) error {
	if sb == nil {
		return fmt.Errorf("%w: nil Subscriber", ErrInvalidSubscriber)
	}
	if err := sb.Err(); err != nil {
		return err
	}
	rs, ok := sb.(*rpcSubscriber)
	if !ok {
		rs, _ = NewSubscriber(sb.Topic(), sb.Subscriber(), Queue(sb.Queue())).(*rpcSubscriber)
		if err := rs.Err(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != idle {
		return ErrStarted
	}
	s.subs = append(s.subs, rs)
	return nil
}

// validate checks the options Start needs.
func (o *Options) validate(subscribers bool) error {
	switch {
	case o.Name == "":
		return errors.New("server: empty Name")
	case o.RegisterInterval <= 0:
		return fmt.Errorf("server: RegisterInterval must be positive, not %v", o.RegisterInterval)
	case o.RegisterTTL < 0:
		return fmt.Errorf("server: RegisterTTL must not be negative, not %v", o.RegisterTTL)
	case o.RegisterTTL > 0 && o.RegisterTTL <= o.RegisterInterval:
		return fmt.Errorf("server: RegisterTTL (%v) must be longer than RegisterInterval (%v), or the registration lapses between renewals", o.RegisterTTL, o.RegisterInterval)
	case subscribers && o.Broker == nil:
		return errors.New("server: the server has subscribers but no Broker: set one with server.Broker")
	}
	for _, r := range o.Name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("server: Name %q holds white space or a control character", o.Name)
		}
	}
	return nil
}

// Start listens, subscribes and registers; see Server.
func (s *rpcServer) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	if s.state != idle {
		s.mu.Unlock()
		return ErrStarted
	}
	o := s.opts
	if err := o.validate(len(s.subs) > 0); err != nil {
		s.mu.Unlock()
		return err
	}
	s.state = starting
	startDone := make(chan struct{})
	s.startDone = startDone
	handlers := append([]*rpcHandler(nil), s.handlers...)
	subs := append([]*rpcSubscriber(nil), s.subs...)
	s.mu.Unlock()

	r := &run{s: s, accepted: make(chan struct{}), methods: make(map[string]*method)}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		close(startDone)
		if err != nil {
			s.state = idle
			return
		}
		s.state = running
		s.run = r
		s.opts.Address = r.listener.Addr()
	}()

	for _, h := range handlers {
		maps.Copy(r.methods, h.methods)
	}
	r.handler = r.dispatch
	for i := len(o.HandlerWrappers) - 1; i >= 0; i-- {
		r.handler = o.HandlerWrappers[i](r.handler)
	}

	l, err := o.Transport.Listen(ctx, o.Address)
	if err != nil {
		return fmt.Errorf("server: listen on %q with the %s transport: %w", o.Address, o.Transport.String(), err)
	}
	r.listener = l
	r.service = s.service(handlers, l.Addr())
	if err := registry.Validate(r.service); err != nil {
		_ = l.Close()
		return fmt.Errorf("server: %w", err)
	}
	if err := r.subscribe(ctx, subs); err != nil {
		r.unsubscribe(ctx)
		_ = l.Close()
		return err
	}

	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.waiting, r.stopWaiting = context.WithCancel(r.ctx)
	go func() {
		defer close(r.accepted)
		if err := l.Accept(r.serve); err != nil {
			o.Logger.Error("server: the listener stopped accepting", "address", l.Addr(), "error", err)
		}
	}()
	s.started.Store(time.Now().Unix())

	ok := r.register(ctx) == nil
	regCtx, regCancel := context.WithCancel(context.Background())
	r.regCancel, r.regDone = regCancel, make(chan struct{})
	go r.registerLoop(regCtx, ok)
	return nil
}

// Stop deregisters, drains and closes; see Server. A Stop that comes
// while Start runs waits for it (until ctx ends) and then stops what it
// started.
func (s *rpcServer) Stop(ctx context.Context) error {
	s.mu.Lock()
	for s.state == starting {
		done := s.startDone
		s.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	if s.state != running {
		s.mu.Unlock()
		return ErrNotStarted
	}
	s.state = stopping
	r := s.run
	s.mu.Unlock()

	log := s.opts.Logger
	r.regCancel()
	<-r.regDone
	r.deregister(ctx)

	r.stopWaiting()
	err := r.listener.Shutdown(ctx)
	if err != nil {
		log.Warn("server: stopped with calls still running; they were cut short", "service", r.service.Name, "error", err)
	}
	<-r.accepted
	r.cancel() // the calls cut short see their context end
	// Unsubscribing takes the subscriptions out of the broker (the http
	// broker deregisters them); when ctx already ended on calls cut short,
	// it still gets a moment, or they would linger until their TTL.
	uctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		uctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), unsubscribeGrace)
		defer cancel()
	}
	r.unsubscribe(uctx)

	s.mu.Lock()
	s.state = idle
	s.run = nil
	s.opts.Address = s.address
	s.mu.Unlock()
	return err
}

// unsubscribeGrace bounds unsubscribing once Stop's ctx has ended.
const unsubscribeGrace = 5 * time.Second

var _ Server = (*rpcServer)(nil)
