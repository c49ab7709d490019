package etcd

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/registry"
)

func TestKeys(t *testing.T) {
	const p = "/micro/registry/"
	tests := []struct {
		name, version, id string
		key               string
	}{
		{"greeter", "1.0.0", "greeter-1", p + "greeter/1.0.0/greeter-1"},
		{"go.micro.api", "", "n1", p + "go.micro.api//n1"},
		{"a/b", "v/1", "id/x", p + "a%2Fb/v%2F1/id%2Fx"},
		{"100%", "2.3.4-beta.1+build", "ünï cödé", p + "100%25/2.3.4-beta.1+build/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := nodeKey(p, tc.name, tc.version, tc.id)
			if key != tc.key {
				t.Errorf("nodeKey = %q, want %q", key, tc.key)
			}
			if !strings.HasPrefix(key, serviceKey(p, tc.name)) {
				t.Errorf("key %q is not under serviceKey %q", key, serviceKey(p, tc.name))
			}
			name, version, id, ok := parseKey(p, key)
			if !ok || name != tc.name || version != tc.version || id != tc.id {
				t.Errorf("parseKey(%q) = %q, %q, %q, %v", key, name, version, id, ok)
			}
		})
	}
	// A name that prefixes another does not prefix its keys.
	if strings.HasPrefix(nodeKey(p, "greeter.v2", "1", "a"), serviceKey(p, "greeter")) {
		t.Error("greeter's prefix matches greeter.v2's keys")
	}
}

func TestParseKeyRejects(t *testing.T) {
	const p = "/micro/registry/"
	for _, key := range []string{
		"", "/other/greeter/1/a", p, p + "greeter", p + "greeter/1", p + "greeter/1/a/extra",
		p + "/1/a", p + "greeter/1/", p + "%zz/1/a", p + "greeter/%zz/a", p + "greeter/1/%zz",
	} {
		if name, version, id, ok := parseKey(p, key); ok {
			t.Errorf("parseKey(%q) = %q, %q, %q, true; want rejected", key, name, version, id)
		}
	}
}

func TestDecodeNode(t *testing.T) {
	tests := []struct {
		what  string
		value string
		ok    bool
	}{
		{"one node", `{"name":"s","version":"1","nodes":[{"id":"a","address":"127.0.0.1:1"}]}`, true},
		{"not JSON", `{`, false},
		{"not an object", `[1,2]`, false},
		{"wrong types", `{"name":1}`, false},
		{"no name", `{"nodes":[{"id":"a"}]}`, false},
		{"no nodes", `{"name":"s"}`, false},
		{"two nodes", `{"name":"s","nodes":[{"id":"a"},{"id":"b"}]}`, false},
		{"null node", `{"name":"s","nodes":[null]}`, false},
		{"node without id", `{"name":"s","nodes":[{"address":"x"}]}`, false},
		{"deep values", `{"name":"s","nodes":[{"id":"a"}],"endpoints":[{"name":"e","request":` +
			strings.Repeat(`{"name":"v","values":[`, 20000) + strings.Repeat(`]}`, 20000) + `}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			s, err := decodeNode([]byte(tc.value))
			if tc.ok != (err == nil) {
				t.Fatalf("decodeNode = %v, %v; want ok=%v", s, err, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadValue) {
				t.Errorf("error %v does not wrap errBadValue", err)
			}
		})
	}
}

func TestDecodeKVChecksKey(t *testing.T) {
	const p = "/p/"
	s := svc("s", "1", "a", "127.0.0.1:1")
	v, err := encodeNode(s, s.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{nodeKey(p, "s", "1", "a"), true},
		{nodeKey(p, "other", "1", "a"), false},
		{nodeKey(p, "s", "2", "a"), false},
		{nodeKey(p, "s", "1", "b"), false},
		{"/elsewhere/s/1/a", false},
	} {
		if _, err := decodeKV(p, []byte(tc.key), v); (err == nil) != tc.ok {
			t.Errorf("decodeKV(%q) error = %v, want ok=%v", tc.key, err, tc.ok)
		}
	}
}

// FuzzDecodeNode feeds values as anyone with write access to etcd could
// leave them: decoding never panics, and what decodes encodes back to the
// same node.
func FuzzDecodeNode(f *testing.F) {
	f.Add([]byte(`{"name":"s","version":"1","nodes":[{"id":"a","address":"127.0.0.1:1","metadata":{"k":"v"}}]}`))
	f.Add([]byte(`{"name":"s","endpoints":[{"name":"E.M","request":{"name":"r","type":"R","values":[{"name":"x","type":"string"}]}}],"nodes":[{"id":"a"}]}`))
	f.Add([]byte(`{"name":"","nodes":[]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"nodes":[null,null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeNode(b)
		if err != nil {
			if !errors.Is(err, errBadValue) {
				t.Fatalf("error %v does not wrap errBadValue", err)
			}
			return
		}
		if err := registry.Validate(s); err != nil {
			t.Fatalf("decoded service is invalid: %v", err)
		}
		again, err := encodeNode(s, s.Nodes[0])
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeNode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		a, _ := json.Marshal(s)
		b2, _ := json.Marshal(s2)
		if string(a) != string(b2) {
			t.Fatalf("round trip changed the node:\n%s\n%s", a, b2)
		}
	})
}

// FuzzParseKey checks that keys built from any parts parse back to them,
// that parsing any key never panics, and that a key that parses is the one
// nodeKey builds from its parts (so it is under its name's serviceKey).
func FuzzParseKey(f *testing.F) {
	f.Add("/micro/registry/", "greeter", "1.0.0", "n1", "/micro/registry/x/y/z")
	f.Add("/p/", "a/b", "", "%2F", "/p/%zz//")
	f.Add("/p/", "g", "1", "a", "/p/gr%65eter/1/a")
	f.Fuzz(func(t *testing.T, prefix, name, version, id, raw string) {
		if n, v, i, ok := parseKey(prefix, raw); ok && nodeKey(prefix, n, v, i) != raw {
			t.Fatalf("parseKey(%q) accepts a key nodeKey spells %q", raw, nodeKey(prefix, n, v, i))
		}
		if name == "" || id == "" {
			return
		}
		key := nodeKey(prefix, name, version, id)
		n, v, i, ok := parseKey(prefix, key)
		if !ok || n != name || v != version || i != id {
			t.Fatalf("parseKey(nodeKey(%q, %q, %q, %q)) = %q, %q, %q, %v", prefix, name, version, id, n, v, i, ok)
		}
	})
}
