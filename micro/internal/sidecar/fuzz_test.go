package sidecar

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/broker"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/micro/internal/api"
)

// checkingRegistry keeps nothing: Register and Deregister only check that
// what reaches them is valid.
type checkingRegistry struct {
	registry.Registry
	t *testing.T
}

func (r checkingRegistry) Register(_ context.Context, s *registry.Service, _ ...registry.RegisterOption) error {
	if err := registry.Validate(s); err != nil {
		r.t.Errorf("an invalid service reached the registry: %v", err)
	}
	return nil
}

func (r checkingRegistry) Deregister(_ context.Context, s *registry.Service, _ ...registry.DeregisterOption) error {
	return r.Register(context.Background(), s)
}

// FuzzRegistryRequest sends any body to POST and DELETE /registry: the
// answer is 200 for a valid service, 413 over the size limit and 400 with
// a JSON error otherwise, and only valid services reach the registry.
func FuzzRegistryRequest(f *testing.F) {
	for _, seed := range []string{
		`{"name":"greeter","version":"1","nodes":[{"id":"g-1","address":"127.0.0.1:9090","metadata":{"a":"b"}}]}`,
		`{"name":"g","nodes":[{"id":"1"}],"endpoints":[{"name":"Say.Hello","request":{"name":"r","type":"T","values":[{"name":"x","type":"string"}]}}]}`,
		`{"name":"g","nodes":[{"id":"1"},{"id":"1"}]}`,
		`{"name":"g","nodes":[null]}`,
		`{"name":"g","endpoints":[null],"nodes":[{"id":"1"}]}`,
		`null`, `[]`, `{}`, `{"name":`, `{"name":"g","nodes":[{"id":"1"}]} {}`, ``, `"\ud800"`,
		strings.Repeat(`[`, 20000),
		`{"name":"` + strings.Repeat("x", 5000) + `"}`,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, del bool) {
		s, err := New(Registry(checkingRegistry{Registry: memory.New(), t: t}), MaxBodySize(4096), Logger(testLogger()))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Stop(context.Background()) }()
		method := http.MethodPost
		if del {
			method = http.MethodDelete
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(method, "/registry", strings.NewReader(body)))
		_, decodeErr := readService(strings.NewReader(body))
		switch rec.Code {
		case http.StatusOK:
			if decodeErr != nil || len(body) > 4096 {
				t.Fatalf("200 for %q, which does not decode (%v) or is over the limit", body, decodeErr)
			}
		case http.StatusRequestEntityTooLarge:
			if len(body) <= 4096 {
				t.Fatalf("413 for %d bytes", len(body))
			}
		case http.StatusBadRequest:
			if decodeErr == nil && len(body) <= 4096 {
				t.Fatalf("400 for %q, which decodes", body)
			}
			var e merrors.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != 400 || e.Detail == "" {
				t.Fatalf("400 with body %q", rec.Body.Bytes())
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}

// FuzzBrokerQuery: any query of /broker either is refused with a reason
// or names a valid topic, a queue without white space and a known mode.
func FuzzBrokerQuery(f *testing.F) {
	for _, seed := range []string{
		"topic=a", "topic=a&queue=g", "topic=a&mode=pub", "topic=a&mode=sub&queue=g", "topic=a&mode=pub&queue=g",
		"", "topic=", "topic=a%20b", "topic=%ff", "queue=g", "topic=a&mode=x", "topic=a&topic=b", "topic=%00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		ss, err := parseSocket(q)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty reason")
			}
			return
		}
		if broker.ValidateTopic(ss.topic) != nil || strings.ContainsAny(ss.queue, " \t\r\n") ||
			(ss.mode != ModePubSub && ss.mode != ModePub && ss.mode != ModeSub) || (ss.mode == ModePub && ss.queue != "") {
			t.Fatalf("accepted %q as %+v", raw, ss)
		}
	})
}

// FuzzParseTTL: a ttl is refused or is a duration of 0 or more.
func FuzzParseTTL(f *testing.F) {
	for _, seed := range []string{"30s", "0", "90", "-1s", "1h2m", "x", "", "9223372036854775807", "1e3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTTL(s)
		if err == nil && d < 0 {
			t.Fatalf("ttl %q parsed as %v", s, d)
		}
	})
}

// FuzzBrowserRefused: any Origin, Host and Sec-Fetch-Site are judged
// without a panic; a listed origin is always allowed, and a browser
// request from another site never is.
func FuzzBrowserRefused(f *testing.F) {
	for _, seed := range [][3]string{
		{"http://app.example", "127.0.0.1:8081", "cross-site"},
		{"http://APP.example/", "localhost:8081", ""},
		{"http://evil.example:8081", "evil.example:8081", "same-origin"},
		{"", "[::1]:8081", "same-origin"},
		{"null", "127.0.0.1:8081", "cross-site"},
		{"http://127.0.0.1:8081", "127.0.0.1:8081", ""},
		{"%zz", "[", "none"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	s, err := New(Registry(memory.New()), CORSOrigins("http://app.example"), Logger(testLogger()))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, origin, host, site string) {
		r := httptest.NewRequest(http.MethodPost, "/registry", nil)
		r.Host = host
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", site)
		why := s.browserRefused(r)
		listed := api.NormalizeOrigin(r.Header.Get("Origin")) == "http://app.example"
		if listed && why != "" {
			t.Fatalf("a listed origin %q refused: %s", origin, why)
		}
		if !listed && (r.Header.Get("Sec-Fetch-Site") == "cross-site" || r.Header.Get("Sec-Fetch-Site") == "same-site") && why == "" {
			t.Fatalf("a %s request from %q to %q allowed", site, origin, host)
		}
	})
}
