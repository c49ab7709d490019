package kubernetes

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// validKeys fails the test unless key makes valid label and annotation
// keys.
func validKeys(t *testing.T, name, key string) {
	t.Helper()
	for _, k := range []string{SelectorPrefix + key, ServicePrefix + key} {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("serviceKey(%q) = %q: %s is not a valid key: %v", name, key, k, errs)
		}
	}
}

func TestServiceKey(t *testing.T) {
	tests := []struct {
		name  string
		plain bool // used as it is
	}{
		{"go.micro.srv.greeter", true},
		{"rt-get-0123456789ab", true},
		{"Greeter_V2", true},
		{"x", true},
		{strings.Repeat("a", maxKey), true},
		{strings.Repeat("a", maxKey+1), false},
		{"a--b", false},
		{"ends-with-dash-", false},
		{"ends.with.dot.", false},
		{"-starts-with-dash", true},
		{"has/slash", false},
		{"has space", false},
		{"ünïcödé", false},
		{"日本語", false},
		{"", false},
		{"---", false},
		{strings.Repeat("go.micro.srv.", 10) + "greeter", false},
	}
	seen := make(map[string]string)
	for _, tc := range tests {
		key := serviceKey(tc.name)
		validKeys(t, tc.name, key)
		if tc.plain != (key == tc.name) {
			t.Errorf("serviceKey(%q) = %q; want it used as it is: %v", tc.name, key, tc.plain)
		}
		if !tc.plain && !strings.Contains(key, "--") {
			t.Errorf("serviceKey(%q) = %q: a hashed key must contain \"--\"", tc.name, key)
		}
		if other, dup := seen[key]; dup {
			t.Errorf("serviceKey(%q) = serviceKey(%q) = %q", tc.name, other, key)
		}
		seen[key] = tc.name
		if again := serviceKey(tc.name); again != key {
			t.Errorf("serviceKey(%q) is not stable: %q then %q", tc.name, key, again)
		}
	}
}

func FuzzServiceKey(f *testing.F) {
	for _, s := range []string{"greeter", "a--b", "x/y", strings.Repeat("z", 80), "", "-", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		key := serviceKey(name)
		validKeys(t, name, key)
		if plainKey(name) != (key == name) {
			t.Errorf("serviceKey(%q) = %q, plainKey = %v", name, key, plainKey(name))
		}
		if key != name && !strings.Contains(key, "--") {
			t.Errorf("hashed serviceKey(%q) = %q lacks \"--\"", name, key)
		}
	})
}

func TestDecodeRecords(t *testing.T) {
	tests := []struct {
		what, name, value string
		ok                bool
	}{
		{"one record", "s", `[{"name":"s","version":"1","nodes":[{"id":"a","address":"x:1"}]}]`, true},
		{"two versions", "s", `[{"name":"s","version":"1","nodes":[{"id":"a"}]},{"name":"s","version":"2","nodes":[{"id":"b"}]}]`, true},
		{"any name", "", `[{"name":"s","version":"1","nodes":[{"id":"a"}]}]`, true},
		{"empty list", "s", `[]`, true},
		{"not json", "s", `{`, false},
		{"an object", "s", `{"name":"s"}`, false},
		{"null record", "s", `[null]`, false},
		{"other name", "s", `[{"name":"t","version":"1","nodes":[{"id":"a"}]}]`, false},
		{"no nodes", "s", `[{"name":"s","version":"1","nodes":[]}]`, false},
		{"node without id", "s", `[{"name":"s","version":"1","nodes":[{"address":"x"}]}]`, false},
		{"null node", "s", `[{"name":"s","version":"1","nodes":[null]}]`, false},
		{"duplicate node", "s", `[{"name":"s","version":"1","nodes":[{"id":"a"},{"id":"a"}]}]`, false},
		{"duplicate version", "s", `[{"name":"s","version":"1","nodes":[{"id":"a"}]},{"name":"s","version":"1","nodes":[{"id":"b"}]}]`, false},
		{"empty name", "", `[{"name":"","version":"1","nodes":[{"id":"a"}]}]`, false},
		{"too large", "s", `"` + strings.Repeat("x", maxAnnotation) + `"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			recs, err := decodeRecords(tc.name, tc.value)
			if tc.ok {
				if err != nil {
					t.Fatalf("decodeRecords: %v", err)
				}
				return
			}
			if !errors.Is(err, errBadAnnotation) {
				t.Fatalf("decodeRecords = %v, %v; want an error wrapping errBadAnnotation", recs, err)
			}
		})
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(`[{"name":"s","version":"1","metadata":{"k":"v"},"endpoints":[{"name":"E.P","request":{"name":"r","type":"R","values":[{"name":"x","type":"int"}]}}],"updated":5,"nodes":[{"id":"a","address":"x:1","expires":7,"rev":5}]}]`)
	f.Add(`[]`)
	f.Add(`null`)
	f.Add(`[null]`)
	f.Add(`[{"name":"s","nodes":[{"id":""}]}]`)
	f.Fuzz(func(t *testing.T, value string) {
		recs, err := decodeRecords("", value)
		if err != nil {
			if !errors.Is(err, errBadAnnotation) {
				t.Fatalf("error %v does not wrap errBadAnnotation", err)
			}
			return
		}
		enc, err := encodeRecords(recs)
		if err != nil {
			t.Fatalf("encodeRecords: %v", err)
		}
		again, err := decodeRecords("", enc)
		if err != nil {
			t.Fatalf("decoding what encodeRecords wrote: %v\n%s", err, enc)
		}
		a, _ := json.Marshal(recs)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the records:\n%s\n%s", a, b)
		}
	})
}
