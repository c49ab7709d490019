package consul

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/registry"
)

func canonical(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bigService returns a service with n endpoints whose request trees are
// nested and varied, as generated code would publish them.
func bigService(name string, n int) *registry.Service {
	s := &registry.Service{
		Name:     name,
		Version:  "1.2.3",
		Metadata: map[string]string{"team": "core", "long": strings.Repeat("x", 2000)},
		Nodes:    []*registry.Node{{Id: "big-1", Address: "127.0.0.1:9000", Metadata: map[string]string{"zone": "z1"}}},
	}
	for i := range n {
		req := &registry.Value{Name: "req", Type: fmt.Sprintf("Request%d", i)}
		for f := range 8 {
			field := &registry.Value{Name: fmt.Sprintf("field_%d_%d", i, f), Type: "Nested"}
			for g := range 4 {
				field.Values = append(field.Values, &registry.Value{Name: fmt.Sprintf("leaf_%d", g), Type: "string"})
			}
			req.Values = append(req.Values, field)
		}
		s.Endpoints = append(s.Endpoints, &registry.Endpoint{
			Name:     fmt.Sprintf("Service%d.Method%d", i%7, i),
			Request:  req,
			Response: &registry.Value{Name: "rsp", Type: fmt.Sprintf("Response%d", i)},
			Metadata: map[string]string{"stream": strconv.FormatBool(i%3 == 0)},
		})
	}
	return s
}

func TestEncodeRoundTrip(t *testing.T) {
	awkward := map[string]string{
		"key.with.dots":           "value=with,separators;and:colons",
		"key with space":          "line1\nline2",
		"ünïcödé":                 "日本語",
		"empty":                   "",
		"consul-reserved-looking": "x",
	}
	tests := []struct {
		name string
		svc  *registry.Service
	}{
		{"minimal", &registry.Service{Name: "a", Nodes: []*registry.Node{{Id: "n"}}}},
		{"awkward metadata", &registry.Service{Name: "go.micro.srv.a", Version: "2.3.4-beta.1+build",
			Metadata: awkward, Nodes: []*registry.Node{{Id: "n/1 ?", Address: "[::1]:80", Metadata: awkward}}}},
		{"unix address", &registry.Service{Name: "a", Nodes: []*registry.Node{{Id: "n", Address: "/run/a.sock"}}}},
		{"large service", bigService("big", 400)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			meta, text, err := encodeNode(tc.svc, tc.svc.Nodes[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(meta) > 64 {
				t.Errorf("%d metadata pairs, consul allows 64", len(meta))
			}
			for k, v := range meta {
				if len(v) > metaValueMax || len(k) > 128 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
					t.Errorf("metadata pair %q (%d bytes) breaks consul's limits", k, len(v))
				}
			}
			if text != joinChunks(meta) {
				t.Error("the returned text is not the chunks joined")
			}
			got, err := decodeNode(tc.svc.Name, meta)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := canonical(t, got), canonical(t, tc.svc); g != w {
				t.Errorf("round trip:\n%s\nwant\n%s", g, w)
			}
			t.Logf("%d bytes of JSON encode to %d bytes in %d chunks", len(canonical(t, tc.svc)), len(text), len(meta)-1)
		})
	}
}

func TestEncodeTooLarge(t *testing.T) {
	svc := &registry.Service{Name: "a", Metadata: map[string]string{"noise": noise(40000)},
		Nodes: []*registry.Node{{Id: "n"}}}
	_, _, err := encodeNode(svc, svc.Nodes[0])
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// deflated returns js deflated and base64-encoded, as encodeNode does.
func deflated(js []byte) string {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = zw.Write(js)
	_ = zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
	}{
		{"no marker", map[string]string{"micro_0": deflated([]byte(`{"node":{"id":"a"}}`))}},
		{"other format", map[string]string{"micro": "2", "micro_0": deflated([]byte(`{"node":{"id":"a"}}`))}},
		{"no chunks", map[string]string{"micro": "1"}},
		{"not base64", map[string]string{"micro": "1", "micro_0": "!!!"}},
		{"not deflate", map[string]string{"micro": "1", "micro_0": base64.StdEncoding.EncodeToString([]byte("plain"))}},
		{"not JSON", map[string]string{"micro": "1", "micro_0": deflated([]byte("{"))}},
		{"no node", map[string]string{"micro": "1", "micro_0": deflated([]byte(`{"version":"1"}`))}},
		{"no node id", map[string]string{"micro": "1", "micro_0": deflated([]byte(`{"node":{"address":"x"}}`))}},
		{"null endpoint", map[string]string{"micro": "1", "micro_0": deflated([]byte(`{"node":{"id":"a"},"endpoints":[null]}`))}},
		{"null value", map[string]string{"micro": "1", "micro_0": deflated([]byte(`{"node":{"id":"a"},"endpoints":[{"name":"e","request":{"values":[null]}}]}`))}},
		{"bomb", map[string]string{"micro": "1", "micro_0": deflated(bytes.Repeat([]byte(" "), maxInflated+10))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeNode("svc", tc.meta); !errors.Is(err, errMalformed) {
				t.Fatalf("err = %v, want errMalformed", err)
			}
		})
	}
}

func TestServiceID(t *testing.T) {
	ids := map[string]bool{}
	for _, c := range [][3]string{
		{"a", "1", "n"}, {"a", "1", "m"}, {"a", "2", "n"}, {"b", "1", "n"},
		{"a\x001", "", "n"}, {"a", "1\x00n", ""}, {"a", "1", strings.Repeat("x", 500)},
		{"a", "1", "with/slash and space"}, {"a", "1", "with_slash_and_space"},
	} {
		id := serviceID(c[0], c[1], c[2])
		if ids[id] {
			t.Errorf("serviceID%q = %q collides", c, id)
		}
		ids[id] = true
		if strings.ContainsAny(id, "/ ?#%") || len(id) > 100 {
			t.Errorf("serviceID%q = %q is not a plain ID", c, id)
		}
		if id != serviceID(c[0], c[1], c[2]) {
			t.Errorf("serviceID%q is not stable", c)
		}
	}
}

// FuzzDecodeText feeds arbitrary metadata text to the decoder, which must
// fail cleanly or return a service the registry accepts.
func FuzzDecodeText(f *testing.F) {
	svc := bigService("fuzz", 2)
	_, text, _ := encodeNode(svc, svc.Nodes[0])
	f.Add(text)
	f.Add("")
	f.Add("!!!")
	f.Add(deflated([]byte(`{"node":{"id":"a"},"endpoints":[null]}`)))
	f.Fuzz(func(t *testing.T, text string) {
		got, err := decodeText("fuzz", text)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if err := registry.Validate(got); err != nil {
			t.Fatalf("decoded an invalid service: %v", err)
		}
	})
}

// FuzzDecodeJSON feeds arbitrary JSON documents through the whole decoder.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"version":"1","node":{"id":"a","address":"x:1","metadata":{"k":"v"}},"endpoints":[{"name":"e","request":{"name":"r","type":"T","values":[{"name":"f","type":"string"}]}}]}`))
	f.Add([]byte(`{"node":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, js []byte) {
		got, err := decodeNode("fuzz", map[string]string{metaFormat: formatVersion, metaChunkPrefix + "0": deflated(js)})
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if err := registry.Validate(got); err != nil {
			t.Fatalf("decoded an invalid service: %v", err)
		}
		// What decodes encodes again to the same service.
		meta, _, err := encodeNode(got, got.Nodes[0])
		if err != nil {
			return // too large to encode is fine
		}
		again, err := decodeNode("fuzz", meta)
		if err != nil {
			t.Fatalf("re-encoded service does not decode: %v", err)
		}
		if a, b := canonical(t, again), canonical(t, got); a != b {
			t.Fatalf("re-encoding changed the service:\n%s\n%s", a, b)
		}
	})
}

// noise returns n bytes of base64 text that does not compress.
func noise(n int) string {
	b := make([]byte, n*3/4)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
