package api

import (
	"net/http"
	"testing"
)

func TestCORS(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	s := e.gateway(t, CORSOrigins("https://app.example.com", "http://localhost:3000/"))
	preflight := func(origin string) []string {
		return []string{"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type, x-test"}
	}
	t.Run("preflight allowed", func(t *testing.T) {
		for _, origin := range []string{"https://app.example.com", "HTTPS://APP.example.com", "http://localhost:3000"} {
			w := do(t, s, "OPTIONS", "/greeter/hello", "", "", preflight(origin)...)
			if w.Code != http.StatusNoContent {
				t.Fatalf("%s: status %d: %s", origin, w.Code, w.Body)
			}
			h := w.Header()
			if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Methods") == "" ||
				h.Get("Access-Control-Allow-Headers") != "content-type, x-test" || h.Get("Access-Control-Max-Age") == "" ||
				h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("%s: headers %v", origin, h)
			}
		}
	})
	t.Run("preflight refused", func(t *testing.T) {
		w := do(t, s, "OPTIONS", "/greeter/hello", "", "", preflight("https://evil.example.com")...)
		wantError(t, w, http.StatusForbidden)
		for k := range w.Header() {
			if len(k) > 12 && k[:12] == "Access-Contr" {
				t.Errorf("CORS header %s on a refused preflight", k)
			}
		}
	})
	t.Run("request from allowed origin", func(t *testing.T) {
		w := do(t, s, "POST", "/greeter/hello", "application/json", `{"name":"Ann"}`, "Origin", "https://app.example.com")
		var got HelloResponse
		wantJSON(t, w, &got)
		if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("headers %v", w.Header())
		}
	})
	t.Run("request from other origin", func(t *testing.T) {
		w := do(t, s, "POST", "/greeter/hello", "application/json", `{"name":"Ann"}`, "Origin", "https://evil.example.com")
		var got HelloResponse
		wantJSON(t, w, &got)
		if v := w.Header().Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin %q for another origin", v)
		}
	})
	t.Run("no list refuses every preflight", func(t *testing.T) {
		s := e.gateway(t)
		wantError(t, do(t, s, "OPTIONS", "/greeter/hello", "", "", preflight("https://app.example.com")...), http.StatusForbidden)
	})
	t.Run("star allows every origin", func(t *testing.T) {
		h := CORS([]string{"*"})(http.NotFoundHandler())
		w := do(t, h, "OPTIONS", "/x", "", "", preflight("https://any.example.org")...)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("status %d, headers %v", w.Code, w.Header())
		}
	})
}
