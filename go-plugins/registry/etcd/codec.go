package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/openmicro/go-micro/registry"
)

// errBadValue is wrapped by decodeNode for a value that is not one node of
// one service.
var errBadValue = errors.New("registry/etcd: malformed node value")

// serviceKey returns the key prefix of every node of the named service:
// <prefix><name>/. The name is path-escaped, so it holds no '/' and the
// prefix of one name is never the prefix of another.
func serviceKey(prefix, name string) string {
	return prefix + url.PathEscape(name) + "/"
}

// nodeKey returns the key of one node: <prefix><name>/<version>/<id>, each
// part path-escaped.
func nodeKey(prefix, name, version, id string) string {
	return serviceKey(prefix, name) + url.PathEscape(version) + "/" + url.PathEscape(id)
}

// parseKey splits a key written by nodeKey back into its parts; ok is
// false for any other key under the prefix, including one that unescapes
// to valid parts but is spelt otherwise than nodeKey spells them (it would
// not be under serviceKey of its name).
func parseKey(prefix, key string) (name, version, id string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", "", "", false
	}
	var err error
	if name, err = url.PathUnescape(parts[0]); err != nil || name == "" {
		return "", "", "", false
	}
	if version, err = url.PathUnescape(parts[1]); err != nil {
		return "", "", "", false
	}
	if id, err = url.PathUnescape(parts[2]); err != nil || id == "" {
		return "", "", "", false
	}
	if url.PathEscape(name) != parts[0] || url.PathEscape(version) != parts[1] || url.PathEscape(id) != parts[2] {
		return "", "", "", false
	}
	return name, version, id, true
}

// checkUTF8 refuses a service whose name, version or node ids are not
// valid UTF-8: JSON cannot carry them (encoding/json writes U+FFFD), so the
// stored value would not match its key and the node would be invisible.
func checkUTF8(s *registry.Service) error {
	if !utf8.ValidString(s.Name) || !utf8.ValidString(s.Version) {
		return fmt.Errorf("%w: service %q version %q: not valid UTF-8, which the etcd registry cannot store", registry.ErrInvalidService, s.Name, s.Version)
	}
	for _, n := range s.Nodes {
		if !utf8.ValidString(n.Id) {
			return fmt.Errorf("%w: service %q: node id %q: not valid UTF-8, which the etcd registry cannot store", registry.ErrInvalidService, s.Name, n.Id)
		}
	}
	return nil
}

// encodeNode returns the value stored for node n of s: the JSON of s with
// n as its only node.
func encodeNode(s *registry.Service, n *registry.Node) ([]byte, error) {
	one := &registry.Service{
		Name:      s.Name,
		Version:   s.Version,
		Metadata:  s.Metadata,
		Endpoints: s.Endpoints,
		Nodes:     []*registry.Node{n},
	}
	b, err := json.Marshal(one)
	if err != nil {
		return nil, fmt.Errorf("registry/etcd: encode %s@%s node %q: %w", s.Name, s.Version, n.Id, err)
	}
	return b, nil
}

// decodeNode parses a value written by encodeNode. The value comes from
// etcd, where anyone with access may have written anything, so it is
// checked: one service with a name and exactly one node with an id.
func decodeNode(b []byte) (*registry.Service, error) {
	var s registry.Service
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadValue, err)
	}
	switch {
	case s.Name == "":
		return nil, fmt.Errorf("%w: no service name", errBadValue)
	case len(s.Nodes) != 1 || s.Nodes[0] == nil:
		return nil, fmt.Errorf("%w: %d nodes, want 1", errBadValue, len(s.Nodes))
	case s.Nodes[0].Id == "":
		return nil, fmt.Errorf("%w: node without id", errBadValue)
	}
	return &s, nil
}

// decodeKV decodes the value stored under key and checks that it is the
// node the key names.
func decodeKV(prefix string, key, value []byte) (*registry.Service, error) {
	name, version, id, ok := parseKey(prefix, string(key))
	if !ok {
		return nil, fmt.Errorf("%w: key %q is not <prefix><name>/<version>/<id>", errBadValue, key)
	}
	s, err := decodeNode(value)
	if err != nil {
		return nil, err
	}
	if s.Name != name || s.Version != version || s.Nodes[0].Id != id {
		return nil, fmt.Errorf("%w: key %q holds %s@%s node %q", errBadValue, key, s.Name, s.Version, s.Nodes[0].Id)
	}
	return s, nil
}
