package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
)

// flakyRegistry is a memory registry that fails every call while down,
// and counts what succeeds.
type flakyRegistry struct {
	registry.Registry
	down        atomic.Bool
	registers   atomic.Int64 // successful Register calls
	deregisters atomic.Int64 // successful Deregister calls

	mu      sync.Mutex
	ttls    map[time.Duration]bool // the TTLs registered with
	regsAtD []int64                // registers at each deregistration
}

var errDown = errors.New("dial tcp 127.0.0.1:8000: connect: connection refused")

func (r *flakyRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if r.down.Load() {
		return errDown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.Registry.Register(ctx, s, opts...)
	if err == nil {
		r.registers.Add(1)
		if r.ttls == nil {
			r.ttls = make(map[time.Duration]bool)
		}
		r.ttls[registry.NewRegisterOptions(opts...).TTL] = true
	}
	return err
}

func (r *flakyRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if r.down.Load() {
		return errDown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.Registry.Deregister(ctx, s, opts...)
	if err == nil {
		r.deregisters.Add(1)
		r.regsAtD = append(r.regsAtD, r.registers.Load())
	}
	return err
}

// seenTTLs returns the TTLs registered with.
func (r *flakyRegistry) seenTTLs() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ttls []time.Duration
	for d := range r.ttls {
		ttls = append(ttls, d)
	}
	return ttls
}

// registersAt returns how many registrations preceded the nth
// deregistration (from 1); -1 when there was none.
func (r *flakyRegistry) registersAt(n int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 1 || int(n) > len(r.regsAtD) {
		return -1
	}
	return r.regsAtD[n-1]
}

func (r *flakyRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if r.down.Load() {
		return nil, errDown
	}
	return r.Registry.GetService(ctx, name, opts...)
}

func (r *flakyRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if r.down.Load() {
		return nil, errDown
	}
	return r.Registry.ListServices(ctx, opts...)
}

func TestRegistryEndpoints(t *testing.T) {
	reg := memory.New()
	s := start(t, Registry(reg))
	url := "http://" + s.Addr() + "/registry"

	// Empty at first: a list, not null.
	if rsp := do(t, "GET", url, ""); rsp.code != 200 || strings.TrimSpace(string(rsp.body)) != "[]" {
		t.Fatalf("GET /registry on an empty registry: %d %s", rsp.code, rsp.body)
	}

	// Register two nodes of greeter and one of other.
	for _, svc := range []*registry.Service{service("greeter", "g-1"), service("greeter", "g-2"), service("other", "o-1")} {
		rsp := do(t, "POST", url, jsonOf(t, svc), "Content-Type", "application/json")
		if rsp.code != 200 || strings.TrimSpace(string(rsp.body)) != "{}" {
			t.Fatalf("POST %s: %d %s", svc.Nodes[0].Id, rsp.code, rsp.body)
		}
	}
	if got := nodes(t, reg, "greeter"); !slices.Equal(sorted(got), []string{"g-1", "g-2"}) {
		t.Fatalf("greeter's nodes after POST: %v", got)
	}

	// Look one up.
	rsp := do(t, "GET", url+"?service=greeter", "")
	var got []*registry.Service
	if rsp.code != 200 || json.Unmarshal(rsp.body, &got) != nil || len(got) != 1 || len(got[0].Nodes) != 2 || got[0].Name != "greeter" {
		t.Fatalf("GET ?service=greeter: %d %s", rsp.code, rsp.body)
	}
	if ct := rsp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	// List.
	rsp = do(t, "GET", url, "")
	got = nil
	if rsp.code != 200 || json.Unmarshal(rsp.body, &got) != nil {
		t.Fatalf("GET /registry: %d %s", rsp.code, rsp.body)
	}
	var names []string
	for _, svc := range got {
		names = append(names, svc.Name)
	}
	if !slices.Equal(sorted(names), []string{"greeter", "other"}) {
		t.Errorf("listed %v", names)
	}

	// Deregister one node: the other stays.
	if rsp := do(t, "DELETE", url, jsonOf(t, service("greeter", "g-1"))); rsp.code != 200 {
		t.Fatalf("DELETE g-1: %d %s", rsp.code, rsp.body)
	}
	if got := nodes(t, reg, "greeter"); !slices.Equal(got, []string{"g-2"}) {
		t.Fatalf("greeter's nodes after DELETE: %v", got)
	}
	if rsp := do(t, "DELETE", url, jsonOf(t, service("greeter", "g-2"))); rsp.code != 200 {
		t.Fatalf("DELETE g-2: %d %s", rsp.code, rsp.body)
	}
	wantError(t, "GET a deregistered service", do(t, "GET", url+"?service=greeter", ""), 404, "not found")
}

func TestRegisterTTL(t *testing.T) {
	reg := memory.New()
	s := start(t, Registry(reg))
	url := "http://" + s.Addr() + "/registry"
	for _, ttl := range []string{"50ms", "0"} {
		svc := service("ttl"+ttl, "t-1")
		if rsp := do(t, "POST", url+"?ttl="+ttl, jsonOf(t, svc)); rsp.code != 200 {
			t.Fatalf("POST ?ttl=%s: %d %s", ttl, rsp.code, rsp.body)
		}
	}
	// The node with a TTL expires; the one with ttl=0 never does (it is
	// checked after the other expired).
	testenv.WaitFor(t, "the node registered with ttl=50ms to expire", func() bool {
		return nodes(t, reg, "ttl50ms") == nil
	})
	if nodes(t, reg, "ttl0") == nil {
		t.Error("the node registered with ttl=0 expired")
	}
}

func TestRegistryBadInput(t *testing.T) {
	reg := memory.New()
	s := start(t, Registry(reg), MaxBodySize(512))
	url := "http://" + s.Addr() + "/registry"
	big := `{"name":"x","nodes":[{"id":"a","address":"` + strings.Repeat("a", 600) + `"}]}`
	tests := []struct {
		name   string
		method string
		query  string
		body   string
		code   int
		detail string
	}{
		{"malformed JSON", "POST", "", `{"name":`, 400, "malformed JSON"},
		{"not an object", "POST", "", `[1,2]`, 400, "malformed JSON"},
		{"wrong field type", "POST", "", `{"name":42}`, 400, "malformed JSON"},
		{"two values", "POST", "", `{"name":"a","nodes":[{"id":"1"}]} {}`, 400, "data after the service"},
		{"trailing garbage", "POST", "", `{"name":"a","nodes":[{"id":"1"}]} x`, 400, "data after the service"},
		{"empty body", "POST", "", ``, 400, "empty body"},
		{"null", "POST", "", `null`, 400, "invalid service"},
		{"no name", "POST", "", `{"nodes":[{"id":"1"}]}`, 400, "empty name"},
		{"no nodes", "POST", "", `{"name":"a"}`, 400, "no nodes"},
		{"node without id", "POST", "", `{"name":"a","nodes":[{"address":"x:1"}]}`, 400, "empty id"},
		{"duplicate node", "POST", "", `{"name":"a","nodes":[{"id":"1"},{"id":"1"}]}`, 400, "given twice"},
		{"null node", "POST", "", `{"name":"a","nodes":[null]}`, 400, "is nil"},
		{"body too large", "POST", "", big, 413, "limit"},
		{"bad ttl", "POST", "?ttl=soon", jsonOf(t, service("a", "n-1")), 400, "ttl"},
		{"negative ttl", "POST", "?ttl=-1s", jsonOf(t, service("a", "n-1")), 400, "ttl"},
		{"malformed JSON on DELETE", "DELETE", "", `{`, 400, "malformed JSON"},
		{"invalid service on DELETE", "DELETE", "", `{"name":"a"}`, 400, "no nodes"},
		{"body too large on DELETE", "DELETE", "", big, 413, "limit"},
		{"unknown service", "GET", "?service=nope", "", 404, "not found"},
		{"empty service name", "GET", "?service=", "", 400, "empty service name"},
		{"PUT", "PUT", "", jsonOf(t, service("a", "n-1")), 405, "PUT"},
		{"PATCH", "PATCH", "", "", 405, "PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp := do(t, tt.method, url+tt.query, tt.body)
			wantError(t, tt.name, rsp, tt.code, tt.detail)
			if tt.code == 405 && rsp.header.Get("Allow") != "GET, POST, DELETE" {
				t.Errorf("Allow %q", rsp.header.Get("Allow"))
			}
		})
	}
	// Nothing was registered, and the sidecar still serves.
	if rsp := do(t, "GET", url, ""); rsp.code != 200 || strings.TrimSpace(string(rsp.body)) != "[]" {
		t.Errorf("after bad input: %d %s", rsp.code, rsp.body)
	}
}

// TestBodyTooLargeChunked: a body without Content-Length is cut at the
// limit too.
func TestBodyTooLargeChunked(t *testing.T) {
	s := start(t, MaxBodySize(64))
	pr := strings.NewReader(`{"name":"x","nodes":[{"id":"a","address":"` + strings.Repeat("a", 200) + `"}]}`)
	req, err := http.NewRequestWithContext(t.Context(), "POST", "http://"+s.Addr()+"/registry", struct{ *strings.Reader }{pr})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 413 {
		t.Errorf("chunked body over the limit: %d", rsp.StatusCode)
	}
}

func TestRegistryDown(t *testing.T) {
	reg := &flakyRegistry{Registry: memory.New()}
	s := start(t, Registry(reg))
	url := "http://" + s.Addr() + "/registry"
	reg.down.Store(true)
	body := jsonOf(t, service("a", "n-1"))
	for _, tt := range []struct{ method, query, body string }{
		{"GET", "", ""},
		{"GET", "?service=a", ""},
		{"POST", "", body},
		{"DELETE", "", body},
	} {
		wantError(t, fmt.Sprintf("%s%s with the registry down", tt.method, tt.query),
			do(t, tt.method, url+tt.query, tt.body), 503, "connection refused")
	}
	// Bad input is still 400, not 503: it is refused before the registry.
	wantError(t, "malformed JSON with the registry down", do(t, "POST", url, "{"), 400, "malformed")

	reg.down.Store(false)
	if rsp := do(t, "POST", url, body); rsp.code != 200 {
		t.Errorf("POST once the registry is back: %d %s", rsp.code, rsp.body)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
