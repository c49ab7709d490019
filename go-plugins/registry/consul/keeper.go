package consul

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/consul/api"
)

// Each node the registry registered has a keeper goroutine, which Close,
// Deregister of the node, or the lapse of its TTL stops. It keeps what the
// agent has in line with what the registry holds:
//
//   - a node registered without TTL: the keeper passes its keepalive check
//     every third of [KeepaliveTTL], so the node lives as long as the
//     registry that registered it (and goes critical after the keepalive
//     TTL once that process is gone);
//   - a node registered with a TTL: the keeper never extends it (only
//     Register does, as the registry contract says); every third of the
//     TTL it asks the agent whether it still has the node.
//
// When the agent no longer has the node (it restarted and lost its state,
// or reaped the node), the keeper registers it again at once, with what is
// left of its TTL, so the node is back within a third of its TTL without
// any call from its owner.

// keep starts h's keeper unless it runs; h.mu is held.
func (r *consulRegistry) keep(h *held) {
	if h.keeping || h.gone || !r.enter() {
		return
	}
	h.keeping = true
	go r.keeper(h)
}

func (r *consulRegistry) keeper(h *held) {
	defer r.wg.Done()
	for {
		h.mu.Lock()
		period := r.period(h)
		h.mu.Unlock()
		t := time.NewTimer(period)
		select {
		case <-h.ctx.Done():
			t.Stop()
		case <-h.kick:
			// Registered anew (maybe with another TTL, or none): start
			// the period again at the new pace.
			t.Stop()
			continue
		case <-t.C:
		}
		h.mu.Lock()
		more := h.ctx.Err() == nil && !h.gone && r.tend(h)
		if !more {
			h.keeping = false
		}
		h.mu.Unlock()
		if !more {
			return
		}
	}
}

// period is how often h's keeper looks at the agent; h.mu is held.
func (r *consulRegistry) period(h *held) time.Duration {
	return max(r.ttlOf(h.nr)/3, 10*time.Millisecond)
}

// tend does one round of h's keeper and reports whether it goes on; h.mu is
// held.
func (r *consulRegistry) tend(h *held) bool {
	nr := h.nr
	now := time.Now()
	if nr.ttl > 0 && !now.Before(h.lease) {
		// Lapsed: the check is critical by now. The node is no longer
		// kept; a later Register starts afresh.
		r.drop(h)
		return false
	}
	timeout := r.set.timeout
	if timeout <= 0 {
		timeout = defaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(h.ctx, timeout)
	defer cancel()
	var (
		err    error
		healed bool
	)
	if nr.ttl == 0 {
		err = r.do(ctx, func(ctx context.Context, c *api.Client) error {
			return c.Agent().UpdateTTLOpts(checkID(nr.id), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
		})
		if code := statusCode(err); code != 0 && code != http.StatusForbidden {
			err = r.put(ctx, nr, r.set.keepalive)
			healed = err == nil
		}
	} else {
		var info *api.AgentServiceChecksInfo
		err = r.do(ctx, func(ctx context.Context, c *api.Client) error {
			var err error
			_, info, err = c.Agent().AgentHealthServiceByIDOpts(nr.id, (&api.QueryOptions{}).WithContext(ctx))
			return err
		})
		if err == nil && info == nil {
			err = r.put(ctx, nr, h.lease.Sub(now))
			healed = err == nil
		}
	}
	switch {
	case h.ctx.Err() != nil:
		return false
	case err != nil:
		if !h.failing {
			slog.Warn("consul registry: cannot keep a node registered; retrying",
				"service", nr.name, "node", nr.node, "err", err)
		}
		h.failing = true
	case healed:
		r.poke(ctx, nr.name)
		slog.Info("consul registry: the agent had lost a node; registered it again",
			"service", nr.name, "node", nr.node)
		// The next Register sends the full registration again (a healed
		// TTL node has a check with what was left of its TTL).
		h.registered = nr.ttl == 0
		h.failing = false
	case h.failing:
		slog.Info("consul registry: keeping a node registered works again", "service", nr.name, "node", nr.node)
		h.failing = false
	}
	return true
}
