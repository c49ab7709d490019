package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRPCHandler(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	s := e.gateway(t)
	tests := []struct {
		name, ct, body string
		header         []string
		want           HelloResponse
	}{
		{"json", "application/json", `{"service":"go.micro.api.greeter","endpoint":"Greeter.Hello","request":{"name":"Ann"}}`,
			nil, HelloResponse{Msg: "Hello Ann"}},
		{"method alias", "application/json", `{"service":"go.micro.api.greeter","method":"Greeter.Hello","request":{"name":"Bob"}}`,
			nil, HelloResponse{Msg: "Hello Bob"}},
		{"form", "application/x-www-form-urlencoded",
			"service=go.micro.api.greeter&endpoint=Greeter.Hello&request=" + `{"name":"Cy"}`,
			nil, HelloResponse{Msg: "Hello Cy"}},
		{"headers as metadata", "application/json", `{"service":"go.micro.api.greeter","endpoint":"Greeter.Hello"}`,
			[]string{"X-Test", "yes"}, HelloResponse{Msg: "Hello ", Header: "yes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, s, http.MethodPost, "/rpc", tc.ct, tc.body, tc.header...)
			var got HelloResponse
			wantJSON(t, w, &got)
			if got.Msg != tc.want.Msg || got.Header != tc.want.Header {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	// On its own, mounted anywhere.
	h := RPCHandler(Client(e.client))
	w := do(t, h, http.MethodPost, "/anywhere", "application/json",
		`{"service":"go.micro.api.greeter","endpoint":"Greeter.Hello","request":{"name":"Di"}}`)
	var got HelloResponse
	if wantJSON(t, w, &got); got.Msg != "Hello Di" {
		t.Fatalf("got %+v", got)
	}
	// Without a client: a 500 saying so.
	w = do(t, RPCHandler(), http.MethodPost, "/rpc", "application/json", `{"service":"a","endpoint":"B.C"}`)
	if e := wantError(t, w, 500); !strings.Contains(e.Detail, "no client") {
		t.Errorf("detail %q", e.Detail)
	}
}

func TestCallHandler(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	s := e.gateway(t)
	tests := []struct {
		name, method, target, ct, body string
		want                           HelloResponse
	}{
		{"post json", "POST", "/greeter/hello", "application/json", `{"name":"Ann"}`, HelloResponse{Msg: "Hello Ann"}},
		{"three elements", "POST", "/greeter/greeter/hello", "application/json", `{"name":"Ann"}`, HelloResponse{Msg: "Hello Ann"}},
		{"one element is Call", "POST", "/greeter", "application/json", `{"name":"Ann"}`, HelloResponse{Msg: "Call Ann"}},
		{"trailing slash", "POST", "/greeter/hello/", "application/json", `{"name":"Ann"}`, HelloResponse{Msg: "Hello Ann"}},
		{"get no body", "GET", "/greeter/hello", "", "", HelloResponse{Msg: "Hello "}},
		{"get query", "GET", "/greeter/hello?name=Bob&tags=a&tags=b", "", "", HelloResponse{Msg: "Hello Bob", Tags: []string{"a", "b"}}},
		{"form", "PUT", "/greeter/hello", "application/x-www-form-urlencoded", "name=Cy", HelloResponse{Msg: "Hello Cy"}},
		{"no content type", "PATCH", "/greeter/hello", "", `{"name":"Di"}`, HelloResponse{Msg: "Hello Di"}},
		{"delete", "DELETE", "/greeter/hello?name=Ed", "", "", HelloResponse{Msg: "Hello Ed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, s, tc.method, tc.target, tc.ct, tc.body)
			var got HelloResponse
			wantJSON(t, w, &got)
			if got.Msg != tc.want.Msg || strings.Join(got.Tags, ",") != strings.Join(tc.want.Tags, ",") {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	// Versioned paths reach go.micro.api.v1.greeter.
	e.startService(t, "go.micro.api.v1.greeter", &Greeter{})
	w := do(t, s, "POST", "/v1/greeter/hello", "application/json", `{"name":"V1"}`)
	var got HelloResponse
	if wantJSON(t, w, &got); got.Msg != "Hello V1" {
		t.Fatalf("got %+v", got)
	}

	// Another namespace, as a handler on its own.
	e.startService(t, "com.example.greeter", &Greeter{})
	h := CallHandler(Client(e.client), Namespace("com.example"))
	w = do(t, h, "POST", "/greeter/hello", "application/json", `{"name":"Ns"}`)
	if wantJSON(t, w, &got); got.Msg != "Hello Ns" {
		t.Fatalf("got %+v", got)
	}
}

// TestErrors sends each kind of bad request and checks its status and JSON
// error body, and that the gateway answers a good request right after.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	e.deadService(t, "go.micro.api.dead")
	s := e.gateway(t, MaxBodySize(1024))
	// The deadline cases go through a gateway with a short timeout; the
	// others get the default, so that a loaded machine does not time them
	// out.
	short := e.gateway(t, RequestTimeout(300*time.Millisecond))
	big := `{"name":"` + strings.Repeat("x", 2048) + `"}`
	tests := []struct {
		name, method, target, ct, body string
		code                           int
		id                             string
	}{
		{"unknown service", "POST", "/nosuch/hello", "application/json", `{}`, 404, "go.micro.client"},
		{"unknown service rpc", "POST", "/rpc", "application/json", `{"service":"nosuch","endpoint":"A.B"}`, 404, "go.micro.client"},
		{"unknown endpoint", "POST", "/greeter/nosuch", "application/json", `{}`, 404, "go.micro.api.greeter"},
		{"service error keeps its code", "POST", "/greeter/fail", "application/json", `{"code":409,"detail":"taken"}`, 409, "greeter"},
		{"service error 500", "POST", "/greeter/fail", "application/json", `{"code":500,"detail":"boom"}`, 500, "greeter"},
		{"service error with a non-error code", "POST", "/greeter/fail", "application/json", `{"code":200,"detail":"odd"}`, 500, "greeter"},
		{"request the service cannot decode", "POST", "/greeter/hello", "application/json", `{"name":5}`, 400, "go.micro.api.greeter"},
		{"dead node", "POST", "/dead/hello", "application/json", `{}`, 503, "go.micro.client"},
		{"deadline, handler honours it", "POST", "/greeter/sleep", "application/json", `{}`, 504, ""},
		{"deadline, handler ignores it", "POST", "/greeter/hang", "application/json", `{}`, 504, "go.micro.client"},
		{"deadline rpc", "POST", "/rpc", "application/json", `{"service":"go.micro.api.greeter","endpoint":"Greeter.Hang"}`, 504, "go.micro.client"},
		{"malformed json", "POST", "/greeter/hello", "application/json", `{"name":`, 400, "go.micro.api"},
		{"malformed json rpc", "POST", "/rpc", "application/json", `{"service":`, 400, "go.micro.api"},
		{"malformed request in rpc", "POST", "/rpc", "application/json", `{"service":"a","endpoint":"B.C","request":"{"}`, 400, "go.micro.api"},
		{"missing service rpc", "POST", "/rpc", "application/json", `{"endpoint":"B.C"}`, 400, "go.micro.api"},
		{"too large", "POST", "/greeter/hello", "application/json", big, 413, "go.micro.api"},
		{"too large rpc", "POST", "/rpc", "application/json", big, 413, "go.micro.api"},
		{"unsupported type", "POST", "/greeter/hello", "text/plain", "hi", 415, "go.micro.api"},
		{"unsupported type rpc", "POST", "/rpc", "application/xml", "<a/>", 415, "go.micro.api"},
		{"wrong method rpc", "GET", "/rpc", "", "", 405, "go.micro.api"},
		{"wrong method", "OPTIONS", "/greeter/hello", "", "", 405, "go.micro.api"},
		{"empty path", "GET", "/", "", "", 404, "go.micro.api"},
		{"version only", "GET", "/v1", "", "", 404, "go.micro.api"},
		{"double slash", "GET", "/greeter//hello", "", "", 400, "go.micro.api"},
		{"dot dot", "GET", "/greeter/../hello", "", "", 400, "go.micro.api"},
		{"odd characters", "GET", "/greeter/he%21lo", "", "", 400, "go.micro.api"},
		{"endpoint starting with a digit", "GET", "/greeter/1hello", "", "", 400, "go.micro.api"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gw := s
			if tc.code == 504 {
				gw = short
			}
			w := do(t, gw, tc.method, tc.target, tc.ct, tc.body)
			got := wantError(t, w, tc.code)
			if tc.id != "" && got.Id != tc.id {
				t.Errorf("error id %q, want %q (%+v)", got.Id, tc.id, got)
			}
			if tc.code == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			// The gateway keeps serving.
			w = do(t, s, "POST", "/greeter/hello", "application/json", `{"name":"next"}`)
			var ok HelloResponse
			if wantJSON(t, w, &ok); ok.Msg != "Hello next" {
				t.Fatalf("next request: %+v", ok)
			}
		})
	}
}
