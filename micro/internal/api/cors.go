package api

import (
	"net/http"
	"strings"

	"github.com/openmicro/go-micro/errors"
)

// corsMethods are the methods a preflight is told are allowed.
const corsMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"

// corsMaxAge is how long, in seconds, a browser may cache a preflight.
const corsMaxAge = "600"

// CORS returns middleware that lets browsers on the given origins call the
// handler it wraps. An origin is scheme://host[:port] and matches without
// regard to case or a trailing slash; "*" allows every origin, without
// credentials.
//
// A request whose Origin is listed gets Access-Control-Allow-Origin (the
// origin itself) and Access-Control-Allow-Credentials: true; one from
// another origin, when "*" is listed, gets Access-Control-Allow-Origin: *
// and no credentials, so that a page elsewhere cannot act with the user's
// cookies. With a non-empty list every answer has Vary: Origin.
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) from
// an allowed origin is answered 204 with Access-Control-Allow-Methods,
// Access-Control-Allow-Headers (the headers asked for) and
// Access-Control-Max-Age, without reaching the handler; from another origin
// it is answered 403 with a JSON error and no CORS headers. Other requests
// from other origins reach the handler without CORS headers, so the
// browser keeps their answers from the page. The middleware is safe for
// concurrent use.
func CORS(origins []string) func(http.Handler) http.Handler {
	allow := make(map[string]bool, len(origins))
	any := false
	for _, o := range origins {
		o = NormalizeOrigin(o)
		if o == "*" {
			any = true
		} else if o != "" {
			allow[o] = true
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			preflight := r.Method == http.MethodOptions && origin != "" &&
				r.Header.Get("Access-Control-Request-Method") != ""
			h := w.Header()
			if len(origins) > 0 {
				h.Add("Vary", "Origin")
			}
			listed := origin != "" && allow[NormalizeOrigin(origin)]
			if origin == "" || !listed && !any {
				if preflight {
					WriteError(w, r, errors.Forbidden(errorId, "origin %q is not allowed", origin))
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			if listed {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			} else {
				h.Set("Access-Control-Allow-Origin", "*")
			}
			if !preflight {
				next.ServeHTTP(w, r)
				return
			}
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			if rh := r.Header.Values("Access-Control-Request-Headers"); len(rh) > 0 {
				h.Set("Access-Control-Allow-Headers", strings.Join(rh, ", "))
			}
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

// NormalizeOrigin is an origin as allow-lists compare it: lower case,
// without surrounding space or a trailing slash. The sidecar compares
// origins the same way.
func NormalizeOrigin(o string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
}
