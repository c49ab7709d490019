package api

import (
	"net/http"

	"github.com/openmicro/go-micro/api"
	"github.com/openmicro/go-micro/errors"
)

// apiHandler is the "api" handler: /[service]/[method] resolved as for the
// rpc handler, the whole HTTP request sent as an api.Request with the
// protobuf codec, and the api.Response written as the HTTP response.
func apiHandler(o *options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := getBuffer()
		defer buf.release()
		service, endpoint, body, ok := o.resolveAndRead(w, r, buf)
		if !ok {
			return
		}
		req, err := apiRequest(r, body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		if o.client == nil {
			WriteError(w, r, errors.InternalServerError(errorId, "%v", ErrNoClient))
			return
		}
		creq := o.client.NewRequest(service, endpoint, req, o.protoOpts...)
		rsp := new(api.Response)
		if err := o.client.Call(o.callContext(r), creq, rsp, o.callOpts...); err != nil {
			WriteError(w, r, callError(service, err))
			return
		}
		writeAPIResponse(w, r, service, rsp)
	})
}

// apiRequest is r, whose body is body, as an api.Request. The Post fields
// are those of a urlencoded or multipart body (their file parts left out);
// a malformed one is a 400.
func apiRequest(r *http.Request, body []byte) (*api.Request, error) {
	req := &api.Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Header: requestPairs(r),
		Get:    pairs(r.URL.Query()),
		Body:   body,
		Url:    r.URL.RequestURI(),
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && len(body) > 0 {
		kind, boundary, err := classify(ct, body)
		switch {
		case err != nil && errors.Code(err) == http.StatusBadRequest:
			return nil, err
		case err == nil && (kind == kindForm || kind == kindMultipart):
			v, err := parseForm(kind, boundary, body)
			if err != nil {
				return nil, err
			}
			req.Post = pairs(v)
		}
	}
	return req, nil
}

// requestPairs are r's headers as api Pairs: all but the hop-by-hop ones
// (those its Connection header names too) and the forwarding ones, with
// X-Forwarded-For, the client's address, as in the metadata.
func requestPairs(r *http.Request) map[string]*api.Pair {
	conn := r.Header["Connection"]
	p := make(map[string]*api.Pair, len(r.Header)+1)
	for k, vs := range r.Header {
		ck := http.CanonicalHeaderKey(k)
		if hopHeaders[ck] || forwardHeaders[ck] || len(conn) > 0 && hopHeader(conn, k) {
			continue
		}
		p[k] = &api.Pair{Key: k, Values: vs}
	}
	if ip := clientIP(r); ip != "" {
		p["X-Forwarded-For"] = &api.Pair{Key: "X-Forwarded-For", Values: []string{ip}}
	}
	return p
}

// hopHeaders are the hop-by-hop headers, about the connection to the
// gateway rather than the request.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// forwardHeaders are the forwarding headers only the gateway sets.
var forwardHeaders = map[string]bool{"Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true}

// pairs turns a header or form into api Pairs.
func pairs[M ~map[string][]string](m M) map[string]*api.Pair {
	if len(m) == 0 {
		return nil
	}
	p := make(map[string]*api.Pair, len(m))
	for k, vs := range m {
		p[k] = &api.Pair{Key: k, Values: vs}
	}
	return p
}

// writeAPIResponse writes a service's api.Response: its headers (but
// hop-by-hop ones and Content-Length, and any that is not a valid header),
// its status (0 is 200; one outside 200-599 is answered 502) and body.
func writeAPIResponse(w http.ResponseWriter, r *http.Request, service string, rsp *api.Response) {
	code := int(rsp.GetStatusCode())
	if code == 0 {
		code = http.StatusOK
	}
	if code < 200 || code > 599 {
		WriteError(w, r, errors.BadGateway(errorId, "service %q answered with status %d", service, code))
		return
	}
	h := w.Header()
	for k, p := range rsp.GetHeader() {
		ck := http.CanonicalHeaderKey(k)
		if !validHeaderName(k) || skipResponseHeaders[ck] || p == nil {
			continue
		}
		h.Del(ck)
		for _, v := range p.GetValues() {
			if validHeaderValue(v) {
				h.Add(ck, v)
			}
		}
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead && bodyAllowed(code) {
		_, _ = w.Write(rsp.GetBody())
	}
}

// skipResponseHeaders are the headers of an api.Response not written.
var skipResponseHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

func bodyAllowed(code int) bool {
	return code != http.StatusNoContent && code != http.StatusNotModified
}

// validHeaderName reports whether k is an HTTP token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c < 0x80 && c > ' ' && c != 0x7f && !isSeparator(c):
		default:
			return false
		}
	}
	return true
}

func isSeparator(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return true
	}
	return false
}

// validHeaderValue reports whether v holds no control character but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
