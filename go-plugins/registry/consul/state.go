package consul

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/openmicro/go-micro/registry"
)

// instance is one registry node as read from consul: one consul service
// instance written by this plugin.
type instance struct {
	id     string // consul service ID
	node   string // consul node (agent) it lives on
	text   string // its encoded registration, to notice changes
	svc    *registry.Service
	create uint64 // raft index of its registration
	// modify is the raft index of the last change of its definition.
	modify uint64
	// healthy: every check of the instance and of its node passes.
	healthy bool
	// key is the raft index of the last change of what a watcher sees:
	// for a healthy instance its definition or a check becoming
	// passing, for another the check that stopped passing.
	key uint64
}

// snapshot is every instance of one service name at one index.
type snapshot struct {
	index uint64
	insts map[string]*instance // by consul service ID, healthy or not
}

// fetch reads the instances of name. With wait > 0 it is a blocking query
// that returns once consul's index for the service passes wait (or after
// WatchWait). Instances whose encoding is the same as in prev reuse its
// decoded service, which is never handed out without a copy.
func (r *consulRegistry) fetch(ctx context.Context, name string, wait uint64, prev map[string]*instance) (*snapshot, error) {
	q := &api.QueryOptions{WaitIndex: wait}
	if wait > 0 {
		q.WaitTime = r.set.watchWait
	}
	var (
		entries []*api.ServiceEntry
		meta    *api.QueryMeta
	)
	err := r.do(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		entries, meta, err = c.Health().Service(name, "", false, q.WithContext(ctx))
		return err
	})
	if err != nil {
		return nil, err
	}
	snap := &snapshot{index: meta.LastIndex, insts: make(map[string]*instance, len(entries))}
	for _, e := range entries {
		// consul matches names without regard to case; the registry's are
		// exact.
		if e == nil || e.Service == nil || e.Node == nil || e.Service.Service != name || !isMicro(e.Service.Meta) {
			continue
		}
		inst := &instance{
			id:      e.Service.ID,
			node:    e.Node.Node,
			text:    joinChunks(e.Service.Meta),
			create:  e.Service.CreateIndex,
			modify:  e.Service.ModifyIndex,
			healthy: true,
		}
		if p := prev[inst.id]; p != nil && p.text == inst.text && p.node == inst.node {
			inst.svc = p.svc
		} else {
			svc, err := decodeText(name, inst.text)
			if err != nil {
				slog.Debug("consul registry: skipping an instance it cannot decode",
					"service", name, "id", inst.id, "err", err)
				continue
			}
			inst.svc = svc
		}
		var up, down uint64 = inst.modify, 0
		for _, c := range e.Checks {
			if c == nil {
				continue
			}
			up = max(up, c.ModifyIndex)
			if c.Status != api.HealthPassing {
				inst.healthy = false
				down = max(down, c.ModifyIndex)
			}
		}
		inst.key = up
		if !inst.healthy {
			inst.key = down
		}
		snap.insts[inst.id] = inst
	}
	return snap, nil
}

// healthy returns the healthy instances of snap.
func (snap *snapshot) healthy() map[string]*instance {
	out := make(map[string]*instance, len(snap.insts))
	for id, inst := range snap.insts {
		if inst.healthy {
			out[id] = inst
		}
	}
	return out
}

// services returns the healthy nodes of snap as one service per version,
// sorted by version, nodes by id. A version's metadata and endpoints are
// those of its most recently registered node.
func (snap *snapshot) services() []*registry.Service {
	byVersion := make(map[string][]*instance)
	for _, inst := range snap.healthy() {
		v := inst.svc.Version
		byVersion[v] = append(byVersion[v], inst)
	}
	out := make([]*registry.Service, 0, len(byVersion))
	for _, insts := range byVersion {
		latest := slices.MaxFunc(insts, func(a, b *instance) int {
			return cmp.Or(cmp.Compare(a.modify, b.modify), cmp.Compare(a.id, b.id))
		})
		s := registry.Copy(&registry.Service{
			Name:      latest.svc.Name,
			Version:   latest.svc.Version,
			Metadata:  latest.svc.Metadata,
			Endpoints: latest.svc.Endpoints,
		})
		for _, inst := range insts {
			s.Nodes = append(s.Nodes, registry.CopyNode(inst.svc.Nodes[0]))
		}
		slices.SortFunc(s.Nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Id, b.Id) })
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *registry.Service) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// checkRow is one health check, of a plugin instance or of a node.
type checkRow struct {
	node      string
	serviceID string // "" for a node's check
	service   string
	version   string
	passing   bool
	modify    uint64
	// ours: the check is the plugin's registration check (a foreign
	// service may carry the tag "micro" too).
	ours bool
}

// checkRows are health checks by node and check ID.
type checkRows map[string]checkRow

// checks reads the health checks of every plugin instance and every node
// (listFilter). With wait > 0 it is a blocking query on consul's checks
// index, which moves whenever an instance is registered, changed
// (through the hash in its check's notes), deregistered, or changes
// health.
func (r *consulRegistry) checks(ctx context.Context, wait uint64) (checkRows, uint64, error) {
	q := &api.QueryOptions{WaitIndex: wait, Filter: listFilter}
	if wait > 0 {
		q.WaitTime = r.set.watchWait
	}
	var (
		hcs  api.HealthChecks
		meta *api.QueryMeta
	)
	err := r.do(ctx, func(ctx context.Context, c *api.Client) error {
		var err error
		hcs, meta, err = c.Health().State(api.HealthAny, q.WithContext(ctx))
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	rows := make(checkRows, len(hcs))
	for _, hc := range hcs {
		if hc == nil {
			continue
		}
		row := checkRow{
			node:      hc.Node,
			serviceID: hc.ServiceID,
			service:   hc.ServiceName,
			passing:   hc.Status == api.HealthPassing,
			modify:    hc.ModifyIndex,
			ours:      hc.Name == checkName && strings.HasPrefix(hc.Notes, checkNotesPrefix),
		}
		if row.serviceID != "" {
			if !slices.Contains(hc.ServiceTags, tagMicro) {
				continue
			}
			for _, t := range hc.ServiceTags {
				if v, ok := strings.CutPrefix(t, tagVersionPrefix); ok {
					row.version = v
					break
				}
			}
		}
		rows[hc.Node+"\x00"+hc.CheckID] = row
	}
	return rows, meta.LastIndex, nil
}

// rowInstance is one plugin instance as the health checks show it.
type rowInstance struct {
	name, version string
	healthy       bool
	ours          bool
}

// instances groups rows by instance: an instance is healthy when every
// check of it and of its node passes. Instances without the plugin's
// check are not the plugin's and are left out.
func (rows checkRows) instances() []rowInstance {
	nodeDown := make(map[string]bool)
	for _, row := range rows {
		if row.serviceID == "" && !row.passing {
			nodeDown[row.node] = true
		}
	}
	type key struct{ node, id string }
	insts := make(map[key]*rowInstance)
	for _, row := range rows {
		if row.serviceID == "" {
			continue
		}
		k := key{row.node, row.serviceID}
		inst, ok := insts[k]
		if !ok {
			inst = &rowInstance{name: row.service, version: row.version, healthy: !nodeDown[row.node]}
			insts[k] = inst
		}
		inst.healthy = inst.healthy && row.passing
		inst.ours = inst.ours || row.ours
	}
	out := make([]rowInstance, 0, len(insts))
	for _, inst := range insts {
		if inst.ours {
			out = append(out, *inst)
		}
	}
	return out
}

// backoff returns the wait before retry n (from 0) of a failed query.
func backoff(n int) time.Duration {
	return min(50*time.Millisecond<<min(n, 10), 2*time.Second)
}
