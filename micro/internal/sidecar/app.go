package sidecar

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// firstRetry is the first wait after a failed registration; it doubles on
// each failure up to the register interval.
const firstRetry = 500 * time.Millisecond

// attemptTimeout bounds one registry call or health check: d, kept between
// one and ten seconds.
func attemptTimeout(d time.Duration) time.Duration {
	return min(max(d, time.Second), 10*time.Second)
}

// appService builds the registration of the app.
func (s *Server) appService() *registry.Service {
	o := &s.opts
	md := make(map[string]string, len(o.appMetadata)+2)
	maps.Copy(md, o.appMetadata)
	md["server"] = "sidecar"
	md["registry"] = o.registry.String()
	return &registry.Service{
		Name:    o.appName,
		Version: o.appVersion,
		Nodes:   []*registry.Node{{Id: o.appName + "-" + rand.Text(), Address: o.appAddress, Metadata: md}},
	}
}

// AppNode returns the id of the app's registry node, "" without [App].
func (s *Server) AppNode() string {
	if s.app == nil {
		return ""
	}
	return s.app.Nodes[0].Id
}

// registerApp registers the app once.
func (s *Server) registerApp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout(s.opts.interval))
	defer cancel()
	var ropts []registry.RegisterOption
	if s.opts.ttl > 0 {
		ropts = append(ropts, registry.RegisterTTL(s.opts.ttl))
	}
	return s.opts.registry.Register(ctx, s.app, ropts...)
}

// deregisterApp removes the app's node, logging a failure. It gives up
// when ctx ends: Stop's ctx bounds it.
func (s *Server) deregisterApp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout(s.opts.interval))
	defer cancel()
	if err := s.opts.registry.Deregister(ctx, s.app); err != nil {
		s.opts.logger.Warn("sidecar: cannot deregister the app; its registration lapses with its TTL",
			"service", s.app.Name, "node", s.app.Nodes[0].Id, "registry", s.opts.registry.String(),
			"ttl", s.opts.ttl, "error", err)
	}
}

func (s *Server) warnUnregistered(err error) {
	s.opts.logger.Warn("sidecar: cannot register the app; retrying until it works",
		"service", s.app.Name, "node", s.app.Nodes[0].Id, "address", s.app.Nodes[0].Address,
		"registry", s.opts.registry.String(), "error", err,
		"hint", "start the registry (micro server) or point --registry/--registry_address at a running one")
}

// checkHealth polls the health URL once and returns why the app is
// unhealthy, or "" when it answered 2xx. Redirects are not followed: a
// 3xx is not healthy.
func (s *Server) checkHealth(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout(s.opts.healthEvery))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.healthURL, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set(healthHeader, s.token)
	rsp, err := s.health.Do(req)
	if err != nil {
		return err.Error()
	}
	_, _ = io.CopyN(io.Discard, rsp.Body, 64<<10) // so the connection is reused
	_ = rsp.Body.Close()
	switch {
	case rsp.Header.Get(healthHeader) == s.token:
		return "the health check URL points at the sidecar itself, not at the app"
	case rsp.StatusCode >= 300 && rsp.StatusCode <= 399:
		return fmt.Sprintf("status %s to %q: redirects are not followed; give the URL that answers", rsp.Status, rsp.Header.Get("Location"))
	case rsp.StatusCode < 200 || rsp.StatusCode > 299:
		return fmt.Sprintf("status %s", rsp.Status)
	}
	return ""
}

// firstRegistration is Start's: it checks the app's health (with
// HealthCheck) and registers it when healthy. It reports whether the app
// was healthy and whether it is registered.
func (s *Server) firstRegistration(ctx context.Context) (healthy, registered bool) {
	if s.health != nil {
		if why := s.checkHealth(ctx); why != "" {
			s.opts.logger.Warn("sidecar: the app is not healthy; registering it once it is",
				"service", s.app.Name, "health_url", s.opts.healthURL, "reason", why)
			return false, false
		}
	}
	if err := s.registerApp(ctx); err != nil {
		s.warnUnregistered(err)
		return true, false
	}
	s.opts.logger.Info("sidecar: registered the app", "service", s.app.Name,
		"node", s.app.Nodes[0].Id, "address", s.app.Nodes[0].Address)
	return true, true
}

// appLoop keeps the app registered while it is healthy: it renews the
// registration every register interval (retrying sooner after a failure,
// backing off up to the interval) and, with a health check, polls the app,
// deregistering it once healthFails checks in a row failed and registering
// it again on its next good answer. It returns when ctx ends.
func (s *Server) appLoop(ctx context.Context, healthy, registered bool) {
	defer close(s.loopDone)
	interval := s.opts.interval
	retry := min(firstRetry, interval)
	failures := 0
	if healthy && !registered {
		failures = 1
	}
	// next returns the wait before the next renewal.
	next := func() time.Duration {
		if failures == 0 {
			return interval
		}
		d := retry
		retry = min(retry*2, interval)
		return d
	}
	// register registers the app and keeps count of the failures.
	register := func() {
		err := s.registerApp(ctx)
		switch {
		case ctx.Err() != nil:
		case err == nil && failures > 0:
			s.opts.logger.Info("sidecar: registered the app again", "service", s.app.Name,
				"registry", s.opts.registry.String(), "failed_attempts", failures)
			failures = 0
			retry = min(firstRetry, interval)
		case err != nil && failures == 0:
			s.warnUnregistered(err)
			failures = 1
		case err != nil:
			failures++
			s.opts.logger.Debug("sidecar: registering the app failed again", "service", s.app.Name,
				"attempt", failures, "error", err)
		}
	}

	renew := time.NewTimer(next())
	defer renew.Stop()
	if !healthy {
		renew.Stop()
	}
	bad := 0 // failed health checks in a row
	var check <-chan time.Time
	if s.health != nil {
		t := time.NewTicker(s.opts.healthEvery)
		defer t.Stop()
		check = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			register()
			renew.Reset(next())
		case <-check:
			why := s.checkHealth(ctx)
			if ctx.Err() != nil {
				return
			}
			if why == "" {
				bad = 0
			} else {
				bad++
			}
			switch {
			case why == "" && !healthy:
				healthy = true
				s.opts.logger.Info("sidecar: the app is healthy; registering it",
					"service", s.app.Name, "health_url", s.opts.healthURL)
				failures, retry = 0, min(firstRetry, interval)
				register()
				renew.Reset(next())
			case why != "" && healthy && bad < s.opts.healthFails:
				s.opts.logger.Debug("sidecar: a health check failed", "service", s.app.Name,
					"health_url", s.opts.healthURL, "reason", why, "failed", bad, "threshold", s.opts.healthFails)
			case why != "" && healthy:
				healthy = false
				renew.Stop()
				s.opts.logger.Warn("sidecar: the app is unhealthy; deregistering it until it recovers",
					"service", s.app.Name, "health_url", s.opts.healthURL, "reason", why, "failed", bad)
				s.deregisterApp(ctx)
			}
		}
	}
}
