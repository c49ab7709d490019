package sidecar

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Msg string `json:"msg"`
}

// Say is the greeter's handler: Say.Hello, and Say.Fail which fails with
// a 418.
type Say struct{}

func (Say) Hello(_ context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

func (Say) Fail(_ context.Context, req *HelloRequest, _ *HelloResponse) error {
	return merrors.New("greeter", "no "+req.Name, 418)
}

func newTransport(t *testing.T) transport.Transport {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// startGreeter serves Say as service name.
func startGreeter(t *testing.T, reg registry.Registry, name string) {
	t.Helper()
	srv, err := server.New(server.Name(name), server.Address("127.0.0.1:0"),
		server.Registry(reg), server.Transport(newTransport(t)), server.Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(Say{})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
}

// newClient returns a client over reg.
func newClient(t *testing.T, reg registry.Registry) client.Client {
	t.Helper()
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })
	c, err := client.New(client.Selector(sel), client.Transport(newTransport(t)), client.Logger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCalls: /rpc and /[service]/[method] call real go-micro services.
func TestCalls(t *testing.T) {
	reg := memory.New()
	startGreeter(t, reg, "greeter")
	startGreeter(t, reg, "go.micro.api.greeter")
	s := start(t, Registry(reg), Client(newClient(t, reg)))
	base := "http://" + s.Addr()

	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string // the reply's msg, or the error's detail
	}{
		{"rpc", "POST", "/rpc", `{"service":"greeter","endpoint":"Say.Hello","request":{"name":"Ann"}}`, 200, "Hello Ann"},
		{"rpc error", "POST", "/rpc", `{"service":"greeter","endpoint":"Say.Fail","request":{"name":"tea"}}`, 418, "no tea"},
		{"rpc unknown service", "POST", "/rpc", `{"service":"nobody","endpoint":"Say.Hello","request":{}}`, 404, ""},
		{"rpc malformed", "POST", "/rpc", `{"service":`, 400, ""},
		{"rpc wrong method", "GET", "/rpc", ``, 405, ""},
		{"path", "POST", "/greeter/say/hello", `{"name":"Bob"}`, 200, "Hello Bob"},
		{"path with a query", "GET", "/greeter/say/hello?name=Cy", ``, 200, "Hello Cy"},
		{"path unknown service", "POST", "/nobody/say/hello", `{}`, 404, ""},
		{"path malformed JSON", "POST", "/greeter/say/hello", `{"name":`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp := do(t, tt.method, base+tt.path, tt.body, "Content-Type", "application/json")
			if tt.code != 200 {
				wantError(t, tt.name, rsp, tt.code, tt.msg)
				return
			}
			var got HelloResponse
			if rsp.code != 200 || json.Unmarshal(rsp.body, &got) != nil || got.Msg != tt.msg {
				t.Errorf("%d %s, want 200 with msg %q", rsp.code, rsp.body, tt.msg)
			}
		})
	}
}

func TestNoClient(t *testing.T) {
	s := start(t)
	wantError(t, "/rpc without a client", do(t, "POST", "http://"+s.Addr()+"/rpc",
		`{"service":"greeter","endpoint":"Say.Hello","request":{}}`, "Content-Type", "application/json"), 500, "client")
	// The rest of the sidecar serves.
	if rsp := do(t, "GET", "http://"+s.Addr()+"/registry", ""); rsp.code != 200 {
		t.Errorf("GET /registry: %d", rsp.code)
	}
}

func TestCORS(t *testing.T) {
	s := start(t, CORSOrigins("http://app.example"))
	url := "http://" + s.Addr() + "/registry"
	preflight := func(origin string) response {
		return do(t, "OPTIONS", url, "", "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "Content-Type")
	}

	rsp := preflight("http://app.example")
	if rsp.code != 204 || rsp.header.Get("Access-Control-Allow-Origin") != "http://app.example" ||
		rsp.header.Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("allowed preflight: %d %v", rsp.code, rsp.header)
	}
	rsp = preflight("http://evil.example")
	wantError(t, "refused preflight", rsp, 403, "not allowed")
	if h := rsp.header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Errorf("refused preflight has Access-Control-Allow-Origin %q", h)
	}

	// A simple request from an allowed origin carries the header; from
	// another it does not, so the browser hides the answer.
	if rsp := do(t, "GET", url, "", "Origin", "http://app.example"); rsp.code != 200 || rsp.header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Errorf("GET from an allowed origin: %d %v", rsp.code, rsp.header)
	}
	if rsp := do(t, "GET", url, "", "Origin", "http://evil.example"); rsp.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin: %v", rsp.header)
	}

	// Without an allow-list no origin is allowed.
	plain := start(t)
	if rsp := do(t, "OPTIONS", "http://"+plain.Addr()+"/registry", "", "Origin", "http://app.example", "Access-Control-Request-Method", "GET"); rsp.code != 403 {
		t.Errorf("preflight without an allow-list: %d", rsp.code)
	}
}

// TestCrossSiteRequests: a browser on an origin that is not allowed cannot
// change anything through the sidecar, not even with a "simple" request
// that needs no preflight; allowed origins, same-origin pages and clients
// that are not browsers can.
func TestCrossSiteRequests(t *testing.T) {
	reg := memory.New()
	s := start(t, Registry(reg), CORSOrigins("http://app.example"))
	url := "http://" + s.Addr() + "/registry"
	_, port, _ := net.SplitHostPort(s.Addr())
	body := func(id string) string { return jsonOf(t, service("csrf", id)) }
	tests := []struct {
		name   string
		method string
		header []string
		id     string
		code   int
	}{
		{"simple POST from another origin", "POST", []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}, "e-1", 403},
		{"POST with a null origin", "POST", []string{"Content-Type", "text/plain", "Origin", "null"}, "e-2", 403},
		{"cross-site request without an origin", "POST", []string{"Content-Type", "text/plain", "Sec-Fetch-Site", "cross-site"}, "e-3", 403},
		{"same-site request without an origin", "POST", []string{"Sec-Fetch-Site", "same-site"}, "e-4", 403},
		{"POST from an allowed origin", "POST", []string{"Origin", "http://app.example"}, "ok-1", 200},
		{"same-origin POST", "POST", []string{"Origin", "http://" + s.Addr(), "Sec-Fetch-Site", "same-origin"}, "ok-2", 200},
		{"not a browser", "POST", nil, "ok-3", 200},
		{"typed into the address bar", "POST", []string{"Sec-Fetch-Site", "none"}, "ok-4", 200},
		{"same-origin page on localhost", "POST", []string{"Host", "localhost:" + port, "Origin", "http://localhost:" + port, "Sec-Fetch-Site", "same-origin"}, "ok-5", 200},
		{"not a browser, by name, with an Origin", "POST", []string{"Host", "sidecar.internal:" + port, "Origin", "http://sidecar.internal:" + port}, "ok-6", 200},
		{"DNS rebinding", "POST", []string{"Host", "evil.example:" + port, "Origin", "http://evil.example:" + port, "Sec-Fetch-Site", "same-origin"}, "e-5", 403},
		{"DNS rebinding without an Origin", "POST", []string{"Host", "evil.example:" + port, "Sec-Fetch-Site", "same-origin"}, "e-6", 403},
		{"origin of another port", "POST", []string{"Origin", "http://127.0.0.1:1"}, "e-7", 403},
		{"origin not http", "POST", []string{"Origin", "ftp://" + s.Addr()}, "e-8", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp := do(t, tt.method, url, body(tt.id), tt.header...)
			if tt.code != 200 {
				wantError(t, tt.name, rsp, tt.code, "not allowed")
				return
			}
			if rsp.code != 200 {
				t.Errorf("%d %s", rsp.code, rsp.body)
			}
		})
	}
	got := sorted(nodes(t, reg, "csrf"))
	if want := []string{"ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "ok-6"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("registered %v, want %v", got, want)
	}
	// A cross-site GET cannot call a service either (an <img> would).
	wantError(t, "cross-site GET", do(t, "GET", "http://"+s.Addr()+"/greeter/say/hello?name=x", "", "Sec-Fetch-Site", "cross-site"), 403, "not allowed")
}
