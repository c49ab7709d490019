package consul

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/openmicro/go-micro/registry"
)

// How a node is kept in consul. Each registry node is one consul service
// instance: consul's service name is the registry service name, and the
// rest (version, node id, address and metadata, the service's metadata and
// endpoints) is one JSON document, deflated, base64-encoded and split
// over the instance's metadata values, since consul limits service
// metadata to 64 pairs, keys of [a-zA-Z0-9_-] and values of 512 bytes.
const (
	// metaFormat marks an instance written by this plugin; its value is
	// the encoding's version.
	metaFormat      = "micro"
	formatVersion   = "1"
	metaChunkPrefix = "micro_" // micro_0, micro_1, ...
	metaValueMax    = 512
	maxChunks       = 63 // 64 pairs, one of them metaFormat

	// MaxEncodedSize is the largest encoded (deflated and base64) size of
	// one node's registration: its address and metadata and its service's
	// metadata and endpoints. JSON endpoint trees deflate well, typically
	// ten to one, so this holds a few hundred kilobytes of JSON.
	MaxEncodedSize = maxChunks * metaValueMax

	// maxInflated bounds what decoding inflates, against a small record
	// that inflates to a huge one.
	maxInflated = 16 << 20

	// Tags of every instance: tagMicro marks them (watchers and
	// ListServices filter on it) and the version tag carries the version
	// for ListServices, which reads health checks, not metadata.
	tagMicro         = "micro"
	tagVersionPrefix = "micro-version="
)

// ErrTooLarge is returned by Register when a node's registration does not
// fit in consul's service metadata even when compressed: more than
// [MaxEncodedSize] bytes. Nothing of that call is registered.
var ErrTooLarge = errors.New("consul: registration too large for consul's service metadata")

// errMalformed is returned when an instance's metadata is not a valid
// encoding: such an instance is skipped.
var errMalformed = errors.New("consul: malformed registration in service metadata")

// payload is the JSON document kept in an instance's metadata.
type payload struct {
	Version   string               `json:"version"`
	Node      *registry.Node       `json:"node"`
	Metadata  map[string]string    `json:"metadata,omitempty"`
	Endpoints []*registry.Endpoint `json:"endpoints,omitempty"`
}

// encodeNode returns the metadata that holds node n of s, and the encoded
// text (the chunks joined).
func encodeNode(s *registry.Service, n *registry.Node) (map[string]string, string, error) {
	js, err := json.Marshal(payload{Version: s.Version, Node: n, Metadata: s.Metadata, Endpoints: s.Endpoints})
	if err != nil {
		return nil, "", fmt.Errorf("consul: encoding node %q of %s: %w", n.Id, s.Name, err)
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression) // the level is valid
	_, _ = zw.Write(js)                                   // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	text := base64.StdEncoding.EncodeToString(buf.Bytes())
	if len(text) > MaxEncodedSize {
		return nil, "", fmt.Errorf("%w: node %q of %s@%s encodes to %d bytes (%d bytes of JSON), at most %d fit",
			ErrTooLarge, n.Id, s.Name, s.Version, len(text), len(js), MaxEncodedSize)
	}
	meta := map[string]string{metaFormat: formatVersion}
	for i := 0; len(text) > 0 || i == 0; i++ {
		k := min(len(text), metaValueMax)
		meta[metaChunkPrefix+strconv.Itoa(i)] = text[:k]
		text = text[k:]
	}
	return meta, joinChunks(meta), nil
}

// joinChunks returns the encoded text of meta: its chunks in order, up to
// the first missing one. It does not check the format.
func joinChunks(meta map[string]string) string {
	var b strings.Builder
	for i := 0; i < maxChunks; i++ {
		c, ok := meta[metaChunkPrefix+strconv.Itoa(i)]
		if !ok {
			break
		}
		b.WriteString(c)
	}
	return b.String()
}

// isMicro reports whether meta was written by this plugin.
func isMicro(meta map[string]string) bool { return meta[metaFormat] == formatVersion }

// decodeNode decodes the registration kept in meta into a service with
// the one node: the service's name is name. It returns errMalformed (with
// the reason) for anything that is not a valid encoding.
func decodeNode(name string, meta map[string]string) (*registry.Service, error) {
	if !isMicro(meta) {
		return nil, fmt.Errorf("%w: no %q=%q marker", errMalformed, metaFormat, formatVersion)
	}
	return decodeText(name, joinChunks(meta))
}

func decodeText(name, text string) (*registry.Service, error) {
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	js, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if len(js) > maxInflated {
		return nil, fmt.Errorf("%w: inflates to more than %d bytes", errMalformed, maxInflated)
	}
	return decodeJSON(name, js)
}

func decodeJSON(name string, js []byte) (*registry.Service, error) {
	var p payload
	if err := json.Unmarshal(js, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if p.Node == nil || p.Node.Id == "" {
		return nil, fmt.Errorf("%w: no node id", errMalformed)
	}
	for _, e := range p.Endpoints {
		if e == nil || !valueOK(e.Request) || !valueOK(e.Response) {
			return nil, fmt.Errorf("%w: null endpoint or value", errMalformed)
		}
	}
	return &registry.Service{
		Name:      name,
		Version:   p.Version,
		Metadata:  p.Metadata,
		Endpoints: p.Endpoints,
		Nodes:     []*registry.Node{p.Node},
	}, nil
}

// valueOK reports whether the tree v holds no null field (v itself may be
// nil: no request or response).
func valueOK(v *registry.Value) bool {
	if v == nil {
		return true
	}
	for _, c := range v.Values {
		if c == nil || !valueOK(c) {
			return false
		}
	}
	return true
}

// serviceID is the consul service ID of node id of name@version: unique
// per name, version and node id (consul's IDs are per agent), readable,
// and free of '/' (which consul's HTTP paths do not take).
func serviceID(name, version, id string) string {
	sum := sha256.Sum256([]byte(name + "\x00" + version + "\x00" + id))
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}

// checkID is the consul check ID of the instance's TTL check.
func checkID(id string) string { return "service:" + id }

// hashOf identifies a registration by its parts.
func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
