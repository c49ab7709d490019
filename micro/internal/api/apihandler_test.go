package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAPIHandler(t *testing.T) {
	e := newEnv(t)
	e.startService(t, "go.micro.api.site", &Page{})
	s := e.gateway(t, Handler("api"))

	w := do(t, s, "POST", "/site/page/show?q=1", "application/x-www-form-urlencoded", "f=2", "X-Test", "yes")
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	want := "path=/site/page/show url=/site/page/show?q=1 q=1 form=2 header=yes body=f=2"
	if got := w.Body.String(); got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	h := w.Header()
	if h.Get("X-Method") != "POST" || h.Get("Content-Type") != "text/plain" {
		t.Errorf("headers %v", h)
	}
	if h.Get("X-Bad-Value") != "" || h.Get("Bad Name") != "" {
		t.Errorf("invalid headers written: %v", h)
	}

	// A JSON body is passed as it is, with no form.
	w = do(t, s, "PUT", "/site/page/show", "application/json", `{"a":1}`)
	if want := `path=/site/page/show url=/site/page/show q= form= header= body={"a":1}`; w.Body.String() != want {
		t.Errorf("body %q, want %q", w.Body, want)
	}

	// Any content type goes through: the service decides.
	w = do(t, s, "POST", "/site/page/show", "text/plain", "hi")
	if w.Code != http.StatusCreated || !strings.HasSuffix(w.Body.String(), "body=hi") {
		t.Errorf("text body: %d %q", w.Code, w.Body)
	}

	for _, tc := range []struct {
		name, method, target, ct, body string
		code                           int
	}{
		{"status 0 is 200", "GET", "/site/page/status?code=0", "", "", 200},
		{"status 204", "GET", "/site/page/status?code=204", "", "", 204},
		{"status 418", "GET", "/site/page/status?code=418", "", "", 418},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, s, tc.method, tc.target, tc.ct, tc.body)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d", w.Code, tc.code)
			}
		})
	}
	for _, tc := range []struct {
		name, method, target, ct, body string
		code                           int
	}{
		{"bad status", "GET", "/site/page/status?code=99", "", "", 502},
		{"huge status", "GET", "/site/page/status?code=1000", "", "", 502},
		{"unknown service", "GET", "/nosuch/page/show", "", "", 404},
		{"unknown endpoint", "GET", "/site/page/nosuch", "", "", 404},
		{"malformed form", "POST", "/site/page/show", "application/x-www-form-urlencoded", "a=%zz", 400},
		{"no service", "GET", "/", "", "", 404},
		{"bad path", "GET", "/site//show", "", "", 400},
		{"json endpoint called with proto", "GET", "/greeter/hello", "", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, do(t, s, tc.method, tc.target, tc.ct, tc.body), tc.code)
			if w := do(t, s, "GET", "/site/page/status?code=200", "", ""); w.Code != 200 {
				t.Fatalf("next request: %d", w.Code)
			}
		})
	}

	// A JSON service called with the proto codec says 415.
	// (The selector's cache may remember for a moment that it was not
	// there.)
	e.startGreeter(t)
	w = poll(t, func() *httptest.ResponseRecorder { return do(t, s, "GET", "/greeter/hello", "", "") },
		func(w *httptest.ResponseRecorder) bool { return w.Code != 404 })
	wantError(t, w, 415)
}
