// Package api holds the types the API gateway (`micro api` with its "api"
// handler) speaks with the services behind it: [Request] is the HTTP
// request as the gateway received it (method, path, headers, query, form
// and body) and [Response] is the HTTP response the service wants
// written (status code, headers, body).
//
// A service written against them handles whole HTTP requests through
// go-micro RPC, choosing its own status codes and headers:
//
//	func (h *Greeter) Hello(ctx context.Context, req *api.Request, rsp *api.Response) error {
//		name := api.Get(req.Get, "name")
//		rsp.StatusCode = http.StatusOK
//		rsp.Header = map[string]*api.Pair{"Content-Type": {Key: "Content-Type", Values: []string{"text/plain"}}}
//		rsp.Body = []byte("hello " + name)
//		return nil
//	}
//
// The messages are protocol buffers (api.proto beside this file), sent with
// the proto codec; the types are safe to share once built.
package api

// Get returns the first value of key in pairs (a [Request]'s Header, Get or
// Post), or "" when there is none.
func Get(pairs map[string]*Pair, key string) string {
	p := pairs[key]
	if p == nil || len(p.Values) == 0 {
		return ""
	}
	return p.Values[0]
}
