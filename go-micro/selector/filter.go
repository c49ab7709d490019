package selector

import (
	"slices"

	"github.com/openmicro/go-micro/registry"
)

// FilterVersion keeps the services whose version is one of versions.
func FilterVersion(versions ...string) Filter {
	return func(ss []*registry.Service) []*registry.Service {
		out := make([]*registry.Service, 0, len(ss))
		for _, s := range ss {
			if s != nil && slices.Contains(versions, s.Version) {
				out = append(out, s)
			}
		}
		return out
	}
}

// FilterMetadata keeps the nodes whose metadata maps key to value; a
// service left without nodes is dropped. Services that keep only some of
// their nodes are returned as new values: the input is not changed.
func FilterMetadata(key, value string) Filter {
	return func(ss []*registry.Service) []*registry.Service {
		out := make([]*registry.Service, 0, len(ss))
		for _, s := range ss {
			if s == nil {
				continue
			}
			var nodes []*registry.Node
			for _, n := range s.Nodes {
				if n == nil {
					continue
				}
				if v, ok := n.Metadata[key]; ok && v == value {
					nodes = append(nodes, n)
				}
			}
			switch {
			case len(nodes) == 0:
			case len(nodes) == len(s.Nodes):
				out = append(out, s)
			default:
				c := *s // shallow: maps and endpoints are shared, never written
				c.Nodes = nodes
				out = append(out, &c)
			}
		}
		return out
	}
}

// FilterLabel is [FilterMetadata]: node labels are node metadata.
func FilterLabel(key, value string) Filter { return FilterMetadata(key, value) }

// FilterEndpoint keeps the services that declare an endpoint named name
// (e.g. "Greeter.Hello").
func FilterEndpoint(name string) Filter {
	return func(ss []*registry.Service) []*registry.Service {
		out := make([]*registry.Service, 0, len(ss))
		for _, s := range ss {
			if s == nil {
				continue
			}
			if slices.ContainsFunc(s.Endpoints, func(e *registry.Endpoint) bool {
				return e != nil && e.Name == name
			}) {
				out = append(out, s)
			}
		}
		return out
	}
}
