package api

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	merrors "github.com/openmicro/go-micro/errors"
)

// Say is the greeter of FuzzGateway: Say.Hello, as in the examples.
type Say struct{}

func (s *Say) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// FuzzGateway sends any request through gateways with the rpc, api and
// event handlers and a small body limit: nothing panics, every answer has
// a status the gateway gives, an error answer is the errors.Error JSON of
// its status, and the gateway answers a good request after each.
func FuzzGateway(f *testing.F) {
	e := newEnv(f)
	// Say has no endpoint that waits.
	e.startService(f, "go.micro.api.greeter", &Say{})
	gws := []*Server{
		e.gateway(f, MaxBodySize(256), CORSOrigins("https://app.example.com", "*")),
		e.gateway(f, MaxBodySize(256), Handler("api")),
		e.gateway(f, MaxBodySize(256), Handler("event")),
	}
	f.Add(uint8(0), "POST", "/greeter/say/hello", "application/json", `{"name":"Ann"}`, "X-Test", "yes")
	f.Add(uint8(0), "POST", "/rpc", "application/x-www-form-urlencoded", "service=go.micro.api.greeter&endpoint=Say.Hello", "Connection", "x-test")
	f.Add(uint8(0), "GET", "/v1/greeter/say-hello?name=x&name=y", "", "", "Origin", "https://evil.example.com")
	f.Add(uint8(0), "OPTIONS", "/greeter/hello", "", "", "Access-Control-Request-Method", "POST")
	f.Add(uint8(1), "PUT", "/greeter/greeter/hello", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--", "", "")
	f.Add(uint8(2), "POST", "/event/a/b", "application/json", `{"a":1}`, "Content-Type", "application/protobuf")
	f.Add(uint8(2), "POST", "/a..b", "text/plain", "x", "", "")
	f.Fuzz(func(t *testing.T, which uint8, method, target, ct, body, hk, hv string) {
		s := gws[int(which)%len(gws)]
		r, err := http.NewRequestWithContext(t.Context(), method, target, strings.NewReader(body))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.1:1234"
		if ct != "" {
			r.Header["Content-Type"] = []string{ct}
		}
		if hk != "" {
			r.Header[hk] = append(r.Header[hk], hv)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("%s %q: status %d", method, target, w.Code)
		}
		if w.Code >= 400 && w.Code != 499 {
			var got merrors.Error
			if err := stdjson.Unmarshal(w.Body.Bytes(), &got); err != nil && method != http.MethodHead {
				t.Fatalf("%s %q: status %d with body %q: %v", method, target, w.Code, w.Body, err)
			}
			if method != http.MethodHead && int(got.Code) != w.Code {
				t.Fatalf("%s %q: status %d with error %+v", method, target, w.Code, got)
			}
		}
		// The gateway keeps serving.
		ok := httptest.NewRequestWithContext(t.Context(), "POST", "/greeter/say/hello", bytes.NewReader([]byte(`{"name":"next"}`)))
		ok.Header.Set("Content-Type", "application/json")
		w = httptest.NewRecorder()
		gws[0].ServeHTTP(w, ok)
		if w.Code != 200 {
			t.Fatalf("next request: %d %s", w.Code, w.Body)
		}
	})
}
