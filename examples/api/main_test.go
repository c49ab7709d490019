package main

import (
	"encoding/json"
	"github.com/openmicro/examples/internal/proctest"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// serviceStarts is the line a go-micro service logs once it has started
// and registered.
var serviceStarts = regexp.MustCompile(`micro: service started.* address=(\S+)`)

// TestGateway runs micro server with the API gateway on its "api" handler
// and the greeter built from this package, as processes, and sends real
// HTTP requests through the gateway: the status, headers and body of each
// answer are the greeter's, the errors it chooses included; an endpoint
// the greeter lacks is the gateway's 404.
func TestGateway(t *testing.T) {
	micro := proctest.Build(t, "micro", "../../micro", ".")
	greeter := proctest.Build(t, "api-greeter", ".", ".")

	srv := proctest.StartServer(t, micro, "--api_address", "127.0.0.1:0", "--api_handler", "api", "--sidecar_address", "")
	if srv.API == "" {
		t.Fatalf("micro server printed no API gateway address:\n%s", srv.Stdout())
	}
	g := proctest.Start(t, "api greeter", greeter, "--registry_address", srv.Registry, "--server_address", "127.0.0.1:0")
	// The service has registered once it says it started.
	g.Await(t, "the greeter to start", serviceStarts)

	c := httpClient(t)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantCode    int
		wantBody    string // the whole body, when set
		wantInBody  string // in the body, when set
		wantHeader  map[string]string
	}{
		{name: "query", method: "GET", path: "/greeter/hello?name=Ann",
			wantCode: 200, wantBody: `{"message":"Hello Ann"}` + "\n",
			wantHeader: map[string]string{"X-Greeter": "api example", "Content-Type": "application/json"}},
		{name: "json body", method: "POST", path: "/greeter/hello", contentType: "application/json", body: `{"name":"Bob"}`,
			wantCode: 200, wantBody: `{"message":"Hello Bob"}` + "\n", wantHeader: map[string]string{"X-Greeter": "api example"}},
		{name: "form body", method: "POST", path: "/greeter/hello", contentType: "application/x-www-form-urlencoded", body: "name=Cy",
			wantCode: 200, wantBody: `{"message":"Hello Cy"}` + "\n", wantHeader: map[string]string{"X-Greeter": "api example"}},
		{name: "query wins over body", method: "POST", path: "/greeter/hello?name=Di", contentType: "application/json", body: `{"name":"Ed"}`,
			wantCode: 200, wantBody: `{"message":"Hello Di"}` + "\n"},
		{name: "trailing slash", method: "GET", path: "/greeter/hello/?name=Fay", wantCode: 200, wantBody: `{"message":"Hello Fay"}` + "\n"},
		{name: "no name", method: "GET", path: "/greeter/hello",
			wantCode: 400, wantInBody: "name is required", wantHeader: map[string]string{"X-Greeter": "", "Content-Type": "application/json"}},
		{name: "empty name", method: "GET", path: "/greeter/hello?name=", wantCode: 400, wantInBody: "name is required"},
		{name: "json without name", method: "POST", path: "/greeter/hello", contentType: "application/json", body: `{"nom":"x"}`,
			wantCode: 400, wantInBody: "name is required"},
		{name: "malformed json", method: "POST", path: "/greeter/hello", contentType: "application/json", body: `{"name":`,
			wantCode: 400, wantInBody: "not a JSON object"},
		{name: "long name", method: "GET", path: "/greeter/hello?name=" + strings.Repeat("a", MaxNameLength+1),
			wantCode: 400, wantInBody: "longer than"},
		{name: "text body", method: "POST", path: "/greeter/hello", contentType: "text/plain", body: "Gus",
			wantCode: 415, wantInBody: "unsupported content type"},
		{name: "wrong method", method: "DELETE", path: "/greeter/hello?name=Hal",
			wantCode: 405, wantInBody: "use GET or POST", wantHeader: map[string]string{"Allow": "GET, POST"}},
		// The gateway's own errors: the go-micro errors JSON.
		{name: "unknown endpoint", method: "GET", path: "/greeter/goodbye", wantCode: 404, wantInBody: "Greeter.Goodbye"},
		{name: "unknown service", method: "GET", path: "/nobody/hello", wantCode: 404, wantInBody: "go.micro.api.nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.API+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rsp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer rsp.Body.Close()
			body, err := io.ReadAll(rsp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if rsp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d; body %s", rsp.StatusCode, tt.wantCode, body)
			}
			for k, v := range tt.wantHeader {
				if got := rsp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if tt.wantInBody != "" && !strings.Contains(string(body), tt.wantInBody) {
				t.Errorf("body %q, want it to hold %q", body, tt.wantInBody)
			}
			if !json.Valid(body) {
				t.Errorf("body %q is not JSON", body)
			}
		})
	}
}

// TestHelp prints go-micro's flags and returns no error, so the command
// exits 0.
func TestHelp(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stdout := os.Stdout
	os.Stdout = w
	err = run([]string{"api", "--help"})
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatalf("run --help: %v", err)
	}
	if !strings.Contains(string(out), "--registry_address") {
		t.Errorf("--help does not list --registry_address:\n%s", out)
	}
}

// httpClient is a client of its own, whose connections close with the test.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: proctest.Patience}
}
