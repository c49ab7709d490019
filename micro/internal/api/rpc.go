package api

import (
	"context"
	stdjson "encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/metadata"
)

// RPCHandler returns the handler of POST /rpc: it calls the endpoint of the
// service named in the body and answers with the service's reply as JSON.
// The body is a JSON object
//
//	{"service": "greeter", "endpoint": "Say.Hello", "request": {"name": "Ann"}}
//
// ("method" is accepted for "endpoint"; a "request" that is a JSON string
// is read as the JSON it holds) or form fields service, endpoint (or
// method) and request (JSON text). The call goes through the [Client] with
// the JSON codec and raw JSON both ways, so any service answers whatever its
// Go types, within [RequestTimeout]; the HTTP request headers travel as
// metadata (see the package doc). Errors are written by [WriteError]: 405
// for another method than POST, 413 over [MaxBodySize], 415 for another
// Content-Type than JSON or a form, 400 for a malformed body or missing
// service or endpoint, and the call's error otherwise.
//
// It needs [Client]; without one it answers every request with 500. The
// path is not looked at: mount it where wanted.
func RPCHandler(opts ...Option) http.Handler {
	o := newOptions(opts)
	return rpcHandler(&o)
}

func rpcHandler(o *options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		buf := getBuffer()
		defer buf.release()
		body, err := readBody(w, r, o.maxBody, buf)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		req, err := decodeRPC(r.Header.Get("Content-Type"), body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		o.callJSON(w, r, req.Service, req.Endpoint, req.Request)
	})
}

// callMethods are the methods the rpc handler serves.
var callMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// CallHandler returns the handler of /[service]/[method]: it resolves the
// request's path in the [Namespace] with [Resolve], calls that endpoint
// with the JSON codec and raw JSON both ways, and answers with the
// service's reply as JSON.
//
// The request message is the JSON body as sent (Content-Type
// application/json, any +json type, or none); the fields of a urlencoded or
// multipart form body as a JSON object of strings; and, when the body is
// empty, the query parameters as such an object ({} without any), so
// GET /greeter/say/hello?name=Ann sends {"name":"Ann"}. A parameter given
// more than once becomes an array of strings. Methods GET, POST, PUT, PATCH
// and DELETE are served, others get 405.
//
// Errors are written by [WriteError]: 404 for a path naming no service or a
// service the registry does not know, 400 for a path [Resolve] refuses or
// malformed JSON, 413, 415, and the call's error otherwise (503 when no
// node could be reached, 504 when the call's deadline passed). It needs
// [Client]; without one it answers every request with 500.
func CallHandler(opts ...Option) http.Handler {
	o := newOptions(opts)
	return callHandler(&o)
}

// resolveAndRead resolves the request's path to its service and endpoint
// (recorded for the access log) and reads its body into buf, as the rpc
// and api handlers begin. When either fails it answers the error itself
// and ok is false.
func (o *options) resolveAndRead(w http.ResponseWriter, r *http.Request, buf *buffer) (service, endpoint string, body []byte, ok bool) {
	service, endpoint, err := o.resolver.resolve(r.URL.Path)
	if err != nil {
		WriteError(w, r, err)
		return "", "", nil, false
	}
	setTarget(w, service, endpoint)
	body, err = readBody(w, r, o.maxBody, buf)
	if err != nil {
		WriteError(w, r, err)
		return "", "", nil, false
	}
	return service, endpoint, body, true
}

func callHandler(o *options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(r.Method, callMethods) {
			methodNotAllowed(w, r, callMethods...)
			return
		}
		buf := getBuffer()
		defer buf.release()
		service, endpoint, body, ok := o.resolveAndRead(w, r, buf)
		if !ok {
			return
		}
		req, err := decodeCall(r.Header.Get("Content-Type"), r.URL.RawQuery, body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		o.callJSON(w, r, service, endpoint, req)
	})
}

// callJSON calls service's endpoint with body as the raw JSON request and
// writes the raw JSON reply.
func (o *options) callJSON(w http.ResponseWriter, r *http.Request, service, endpoint string, body []byte) {
	setTarget(w, service, endpoint)
	if o.client == nil {
		WriteError(w, r, errors.InternalServerError(errorId, "%v", ErrNoClient))
		return
	}
	req := o.client.NewRequest(service, endpoint, stdjson.RawMessage(body), o.jsonOpts...)
	var rsp stdjson.RawMessage
	if err := o.client.Call(o.callContext(r), req, &rsp, o.callOpts...); err != nil {
		WriteError(w, r, callError(service, err))
		return
	}
	if len(rsp) == 0 {
		rsp = stdjson.RawMessage("{}")
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(rsp)
	}
}

// callContext is the context of a call made for r: r's, with r's headers
// as metadata (see headerMetadata). The call's deadline is the client's
// request timeout, set by callOpts.
func (o *options) callContext(r *http.Request) context.Context {
	ctx := r.Context()
	md := mdPool.Get().(map[string]string)
	defer func() {
		clear(md)
		mdPool.Put(md)
	}()
	headerMetadata(md, r)
	if _, ok := metadata.FromContext(ctx); ok {
		return metadata.Merge(ctx, md, false) // what ctx carries already wins
	}
	return metadata.NewContext(ctx, md) // a copy of md
}

// mdPool holds the maps headerMetadata fills for callContext.
var mdPool = sync.Pool{New: func() any { return make(map[string]string, 8) }}

// skipHeaders are the request headers not passed on as metadata: the
// hop-by-hop ones, those that describe the HTTP body rather than the call,
// cookies, and the forwarding headers, which only the gateway sets.
var skipHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Accept-Encoding": true,
	"Cookie": true, "Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
}

// headerMetadata puts into md the metadata a call carries for an HTTP
// request: its headers but the skipped ones and those its Connection
// header names, the values of a repeated header joined with ", ", and
// X-Forwarded-For, the client's address. The keys are canonicalised by
// metadata.NewContext.
func headerMetadata(md map[string]string, r *http.Request) {
	h := r.Header
	conn := h["Connection"]
	for k, vs := range h {
		if skipHeaders[http.CanonicalHeaderKey(k)] || len(vs) == 0 || len(conn) > 0 && hopHeader(conn, k) {
			continue
		}
		md[k] = strings.Join(vs, ", ")
	}
	if ip := clientIP(r); ip != "" {
		md["X-Forwarded-For"] = ip
	}
}

// hopHeader reports whether the Connection header values conn name k.
func hopHeader(conn []string, k string) bool {
	for _, v := range conn {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), k) {
				return true
			}
		}
	}
	return false
}

// clientIP is the address of r's client, without its port.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func allowed(method string, methods []string) bool {
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	return false
}

// methodNotAllowed answers 405 with the Allow header.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, methods ...string) {
	w.Header().Set("Allow", strings.Join(methods, ", "))
	WriteError(w, r, errors.MethodNotAllowed(errorId, "method %s not allowed: use %s", r.Method, strings.Join(methods, " or ")))
}
