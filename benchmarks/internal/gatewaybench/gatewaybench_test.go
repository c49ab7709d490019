package gatewaybench

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBare checks the bare peer and the Conn against each other, and
// that Echo fails on a wrong answer rather than counting it.
func TestBare(t *testing.T) {
	srv, err := ServeBare("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	c := Dial("http://"+srv.Addr(), 4)
	defer c.Close()
	for range 3 {
		if err := c.Echo(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	for name, h := range map[string]http.HandlerFunc{
		"status":    func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "{}", http.StatusServiceUnavailable) },
		"not json":  func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) },
		"wrong msg": func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"msg":"Hello someone"}`)) },
	} {
		t.Run(name, func(t *testing.T) {
			bad := httptest.NewServer(h)
			defer bad.Close()
			c := Dial(bad.URL, 1)
			defer c.Close()
			if err := c.Echo(t.Context()); err == nil {
				t.Error("Echo succeeded on a wrong answer")
			}
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	for _, tc := range []struct {
		method, body string
		want         int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "{", http.StatusBadRequest},
		{http.MethodPost, `{"name":""}`, http.StatusBadRequest},
	} {
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, Path, strings.NewReader(tc.body)))
		if rec.Code != tc.want {
			t.Errorf("%s %q: status %d, want %d", tc.method, tc.body, rec.Code, tc.want)
		}
	}
}
