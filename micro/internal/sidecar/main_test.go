package sidecar

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	brokermemory "github.com/openmicro/go-micro/broker/memory"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger discards logs unless SIDECAR_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SIDECAR_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// connectedBroker returns a memory broker, connected, disconnected at the
// end of the test.
func connectedBroker(t *testing.T) broker.Broker {
	t.Helper()
	b := brokermemory.New(broker.Logger(testLogger()))
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Disconnect(context.Background()) })
	return b
}

// start builds and starts a sidecar on a free loopback port with a memory
// registry (unless opts give one) and stops it at the end of the test.
func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	opts = append([]Option{Registry(memory.New()), Address("127.0.0.1:0"), Logger(testLogger())}, opts...)
	s, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// response is an HTTP answer read whole.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends one request to url, with the header given as name, value
// pairs ("Host" sets the request's host).
func do(t *testing.T, method, url string, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: rsp.StatusCode, header: rsp.Header, body: b}
}

// wantError checks that rsp is an error answer with code and a go-micro
// errors JSON body whose detail holds detail.
func wantError(t *testing.T, what string, rsp response, code int, detail string) {
	t.Helper()
	if rsp.code != code {
		t.Errorf("%s: status %d, want %d (body %s)", what, rsp.code, code, rsp.body)
		return
	}
	if ct := rsp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	var e merrors.Error
	if err := json.Unmarshal(rsp.body, &e); err != nil {
		t.Errorf("%s: body %q is not an error as JSON: %v", what, rsp.body, err)
		return
	}
	if int(e.Code) != code || e.Status == "" || !strings.Contains(e.Detail, detail) {
		t.Errorf("%s: error %+v, want code %d and a detail holding %q", what, e, code, detail)
	}
}

// service is a valid registration of one node.
func service(name, id string) *registry.Service {
	return &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{{Id: id, Address: "127.0.0.1:9" + id[len(id)-1:]}}}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// nodes returns the ids of the nodes of name in reg; nil when none.
func nodes(t *testing.T, reg registry.Registry, name string) []string {
	t.Helper()
	ss, err := reg.GetService(t.Context(), name)
	if err != nil {
		return nil
	}
	var ids []string
	for _, s := range ss {
		for _, n := range s.Nodes {
			ids = append(ids, n.Id)
		}
	}
	return ids
}
