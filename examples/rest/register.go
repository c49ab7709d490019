package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// Registration keeps one service registered, as a go-micro server does
// for itself: registered at once, registered again every interval with a
// TTL (so a process that dies without deregistering expires), and
// deregistered by Stop. It is safe for concurrent use.
type Registration struct {
	reg      registry.Registry
	svc      *registry.Service
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Register registers svc in reg and starts the loop that renews the
// registration every interval, with ttl. When the registry cannot be
// reached it logs a warning and keeps trying (the service keeps serving);
// only an invalid svc or timing is an error. ctx bounds the first attempt.
func Register(ctx context.Context, reg registry.Registry, svc *registry.Service, ttl, interval time.Duration, log *slog.Logger) (*Registration, error) {
	switch {
	case interval <= 0:
		return nil, fmt.Errorf("rest: register interval %v: want more than 0", interval)
	case ttl > 0 && interval >= ttl:
		return nil, fmt.Errorf("rest: register interval %v is not below the TTL %v: the registration would lapse", interval, ttl)
	}
	if err := registry.Validate(svc); err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	r := &Registration{reg: reg, svc: svc, ttl: ttl, interval: interval, log: log, cancel: cancel, done: make(chan struct{})}
	registered := r.register(ctx) == nil
	if registered {
		r.registered()
	}
	go r.loop(loopCtx, registered)
	return r, nil
}

// register registers the service once, logging the outcome.
func (r *Registration) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.interval)
	defer cancel()
	var opts []registry.RegisterOption
	if r.ttl > 0 {
		opts = append(opts, registry.RegisterTTL(r.ttl))
	}
	err := r.reg.Register(ctx, r.svc, opts...)
	if err != nil {
		r.log.Warn("rest: cannot register; retrying every register interval", "service", r.svc.Name,
			"registry", r.reg.String(), "interval", r.interval, "error", err)
		return err
	}
	return nil
}

// registered logs that the service is registered.
func (r *Registration) registered() {
	r.log.Info("rest: registered", "service", r.svc.Name, "node", r.svc.Nodes[0].Id,
		"address", r.svc.Nodes[0].Address, "registry", r.reg.String())
}

// loop renews the registration until ctx ends.
func (r *Registration) loop(ctx context.Context, registered bool) {
	defer close(r.done)
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			err := r.register(ctx)
			if err == nil && !registered {
				r.registered()
			}
			registered = err == nil
		}
	}
}

// Stop ends the renewals and deregisters the service within ctx. It is
// idempotent: later calls do nothing and return nil.
func (r *Registration) Stop(ctx context.Context) (err error) {
	r.once.Do(func() {
		r.cancel()
		<-r.done
		if err = r.reg.Deregister(ctx, r.svc); err != nil {
			err = fmt.Errorf("rest: deregistering: %w", err)
			return
		}
		r.log.Info("rest: deregistered", "service", r.svc.Name, "node", r.svc.Nodes[0].Id)
	})
	return err
}
