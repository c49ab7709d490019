package kubernetes

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/openmicro/go-micro/registry"
	corev1 "k8s.io/api/core/v1"
)

// The labels and annotations this registry writes on a pod. Every pod that
// carries at least one service has TypeLabel=TypeValue; each service name
// adds SelectorPrefix+key=TypeValue (a label for the API server to select
// on) and ServicePrefix+key (an annotation holding the service's records as
// JSON, the real name included). key is [serviceKey] of the name.
const (
	// TypeLabel marks a pod that carries services; watching every service
	// selects on it.
	TypeLabel = "micro.mu/type"
	// TypeValue is the value of TypeLabel and of each selector label.
	TypeValue = "service"
	// SelectorPrefix starts the label that GetService and a per-service
	// watch select on.
	SelectorPrefix = "micro.mu/selector-"
	// ServicePrefix starts the annotation holding a service's records.
	ServicePrefix = "micro.mu/service-"
)

// maxKey bounds serviceKey so that "selector-"+key and "service-"+key fit
// the 63 bytes Kubernetes allows for the name part of a label or annotation
// key.
const maxKey = 63 - len("selector-")

// hashLen is the number of hex digits of the SHA-256 of the name in a
// hashed key: 80 bits.
const hashLen = 20

// serviceKey returns the part of the label and annotation keys that names
// the service. A name made only of letters, digits, '-', '_' and '.', ending
// in a letter or digit, at most maxKey bytes long and without "--" is used
// as it is. Any other name becomes a readable prefix (unsupported
// characters turned into '.') followed by "--" and a hash of the whole name;
// as plain keys never contain "--", the two forms never collide. The real
// name is always kept in the annotation, and readers compare it.
func serviceKey(name string) string {
	if plainKey(name) {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	prefixLen := maxKey - hashLen - 2
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < prefixLen; i++ {
		c := name[i]
		if !keyChar(c) {
			c = '.'
		}
		if c == '-' && b.Len() > 0 && strings.HasSuffix(b.String(), "-") {
			c = '.' // no "--" inside the prefix
		}
		b.WriteByte(c)
	}
	prefix := strings.TrimRight(b.String(), "-")
	return prefix + "--" + hex.EncodeToString(sum[:])[:hashLen]
}

func plainKey(name string) bool {
	if name == "" || len(name) > maxKey || strings.Contains(name, "--") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !keyChar(name[i]) {
			return false
		}
	}
	return alnum(name[len(name)-1])
}

func keyChar(c byte) bool { return alnum(c) || c == '-' || c == '_' || c == '.' }

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// record is one version of a service on one pod, as stored in the pod's
// annotation: the service's header and the pod's nodes of it.
type record struct {
	Name      string               `json:"name"`
	Version   string               `json:"version"`
	Metadata  map[string]string    `json:"metadata,omitempty"`
	Endpoints []*registry.Endpoint `json:"endpoints,omitempty"`
	// Updated is when the header (metadata, endpoints) last changed, in
	// Unix nanoseconds; GetService takes the header of the newest record
	// when pods disagree.
	Updated int64         `json:"updated,omitempty"`
	Nodes   []*nodeRecord `json:"nodes"`
}

// nodeRecord is one registered node.
type nodeRecord struct {
	Id       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Expires is when the node's TTL ends, in Unix nanoseconds; 0 means
	// never.
	Expires int64 `json:"expires,omitempty"`
	// Rev is the record's Updated when the node was last registered, so
	// that a watcher reports a header change as an update of the nodes
	// registered with it and of no others.
	Rev int64 `json:"rev,omitempty"`
}

// errBadAnnotation is wrapped by decodeRecords for an annotation that does
// not hold valid records.
var errBadAnnotation = errors.New("registry/kubernetes: bad service annotation")

// maxAnnotation bounds what decodeRecords reads; Kubernetes caps all the
// annotations of an object at 256 KiB together.
const maxAnnotation = 256 << 10

// decodeRecords parses a service annotation written by this package. Every
// record must belong to name (when name is not empty), versions must be
// unique and each record must describe a valid service; anything else is an
// error wrapping errBadAnnotation.
func decodeRecords(name, value string) ([]*record, error) {
	if len(value) > maxAnnotation {
		return nil, fmt.Errorf("%w: %d bytes", errBadAnnotation, len(value))
	}
	var recs []*record
	if err := json.Unmarshal([]byte(value), &recs); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadAnnotation, err)
	}
	seen := make(map[string]bool, len(recs))
	for _, rec := range recs {
		if rec == nil {
			return nil, fmt.Errorf("%w: null record", errBadAnnotation)
		}
		if name != "" && rec.Name != name {
			return nil, fmt.Errorf("%w: record of %q under the key of %q", errBadAnnotation, rec.Name, name)
		}
		if seen[rec.Version] {
			return nil, fmt.Errorf("%w: version %q twice", errBadAnnotation, rec.Version)
		}
		seen[rec.Version] = true
		if len(rec.Nodes) == 0 {
			return nil, fmt.Errorf("%w: %s@%s has no nodes", errBadAnnotation, rec.Name, rec.Version)
		}
		if err := registry.Validate(rec.service(0)); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadAnnotation, err)
		}
	}
	return recs, nil
}

// encodeRecords renders recs (sorted by version) for the annotation.
func encodeRecords(recs []*record) (string, error) {
	slices.SortFunc(recs, func(a, b *record) int { return cmp.Compare(a.Version, b.Version) })
	b, err := json.Marshal(recs)
	if err != nil {
		return "", fmt.Errorf("registry/kubernetes: encode service: %w", err)
	}
	return string(b), nil
}

// service returns the record as a service holding the nodes alive at now
// (Unix nanoseconds; 0 keeps every node). It shares nothing with rec.
func (rec *record) service(now int64) *registry.Service {
	s := rec.header()
	for _, n := range rec.Nodes {
		if n != nil && n.alive(now) {
			s.Nodes = append(s.Nodes, n.node())
		}
	}
	return s
}

// header returns a deep copy of rec's service without nodes.
func (rec *record) header() *registry.Service {
	return registry.Copy(&registry.Service{
		Name:      rec.Name,
		Version:   rec.Version,
		Metadata:  rec.Metadata,
		Endpoints: rec.Endpoints,
	})
}

func (n *nodeRecord) alive(now int64) bool { return n.Expires == 0 || now == 0 || now < n.Expires }

// node returns a copy of the node without its bookkeeping.
func (n *nodeRecord) node() *registry.Node {
	return &registry.Node{Id: n.Id, Address: n.Address, Metadata: maps.Clone(n.Metadata)}
}

// sameHeader reports whether two services have equal metadata and
// endpoints, compared as JSON so that nil and empty maps and slices are
// equal, as they are after a trip through the annotation. Validate has
// rejected cyclic Value trees, so marshalling cannot fail.
func sameHeader(a, b *registry.Service) bool {
	ja, _ := json.Marshal(struct {
		M map[string]string    `json:"m,omitempty"`
		E []*registry.Endpoint `json:"e,omitempty"`
	}{a.Metadata, a.Endpoints})
	jb, _ := json.Marshal(struct {
		M map[string]string    `json:"m,omitempty"`
		E []*registry.Endpoint `json:"e,omitempty"`
	}{b.Metadata, b.Endpoints})
	return string(ja) == string(jb)
}

// podReady reports whether a pod's services count: the pod is Running, not
// being deleted, and its Ready condition is True. This is the rule by which
// Kubernetes itself sends a Service's traffic to a pod.
func podReady(p *corev1.Pod) bool {
	if p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podRecords returns the records of a ready pod's services, keyed by
// service name; only the service name is read when it is not empty. Bad
// annotations are skipped (and reported through bad, when not nil).
func podRecords(p *corev1.Pod, name string, bad func(key string, err error)) map[string][]*record {
	if !podReady(p) {
		return nil
	}
	out := make(map[string][]*record)
	add := func(key, value, want string) {
		recs, err := decodeRecords(want, value)
		if err != nil {
			if bad != nil {
				bad(key, err)
			}
			return
		}
		for _, rec := range recs {
			if key != ServicePrefix+serviceKey(rec.Name) {
				if bad != nil {
					bad(key, fmt.Errorf("%w: %q stored under the wrong key", errBadAnnotation, rec.Name))
				}
				return
			}
		}
		for _, rec := range recs {
			out[rec.Name] = append(out[rec.Name], rec)
		}
	}
	if name != "" {
		key := ServicePrefix + serviceKey(name)
		if v, ok := p.Annotations[key]; ok {
			add(key, v, name)
		}
		return out
	}
	for key, v := range p.Annotations {
		if strings.HasPrefix(key, ServicePrefix) {
			add(key, v, "")
		}
	}
	return out
}
