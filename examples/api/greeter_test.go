package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openmicro/go-micro/api"
)

// request builds an api.Request as the gateway sends it.
func request(method, query, contentType, body string, post map[string]string) *api.Request {
	req := &api.Request{Method: method, Path: "/greeter/hello", Body: []byte(body)}
	if query != "" {
		req.Get = map[string]*api.Pair{"name": {Key: "name", Values: []string{query}}}
	}
	if contentType != "" {
		req.Header = map[string]*api.Pair{"Content-Type": {Key: "Content-Type", Values: []string{contentType}}}
	}
	for k, v := range post {
		if req.Post == nil {
			req.Post = map[string]*api.Pair{}
		}
		req.Post[k] = &api.Pair{Key: k, Values: []string{v}}
	}
	return req
}

func TestHello(t *testing.T) {
	tests := []struct {
		name     string
		req      *api.Request
		wantCode int32
		wantMsg  string // the greeting, for 200
		wantErr  string // in the error, otherwise
	}{
		{"query", request("GET", "Ann", "", "", nil), 200, "Hello Ann", ""},
		{"query trimmed", request("GET", "  Ann ", "", "", nil), 200, "Hello Ann", ""},
		{"json", request("POST", "", "application/json", `{"name":"Bob"}`, nil), 200, "Hello Bob", ""},
		{"json with charset", request("POST", "", "application/json; charset=utf-8", `{"name":"Bob"}`, nil), 200, "Hello Bob", ""},
		{"json without content type", request("POST", "", "", `{"name":"Bob"}`, nil), 200, "Hello Bob", ""},
		{"+json", request("POST", "", "application/vnd.greeter+json", `{"name":"Bob"}`, nil), 200, "Hello Bob", ""},
		{"form", request("POST", "", "application/x-www-form-urlencoded", "name=Cy", map[string]string{"name": "Cy"}), 200, "Hello Cy", ""},
		{"unicode", request("GET", "Zoë 山田", "", "", nil), 200, "Hello Zoë 山田", ""},
		{"longest name", request("GET", strings.Repeat("é", MaxNameLength), "", "", nil), 200, "Hello " + strings.Repeat("é", MaxNameLength), ""},
		{"nothing", request("GET", "", "", "", nil), 400, "", "name is required"},
		{"blank", request("GET", "   ", "", "", nil), 400, "", "name is required"},
		{"form without name", request("POST", "", "application/x-www-form-urlencoded", "x=1", map[string]string{"x": "1"}), 400, "", "name is required"},
		{"json null name", request("POST", "", "application/json", `{"name":null}`, nil), 400, "", "name is required"},
		{"json not an object", request("POST", "", "application/json", `["Ann"]`, nil), 400, "", "not a JSON object"},
		{"json name not a string", request("POST", "", "application/json", `{"name":7}`, nil), 400, "", "not a JSON object"},
		{"malformed json", request("POST", "", "application/json", `{"name":`, nil), 400, "", "not a JSON object"},
		{"bad content type", request("POST", "", "application/json; =", `{"name":"A"}`, nil), 400, "", "Content-Type"},
		{"text", request("POST", "", "text/plain", "Ann", nil), 415, "", "unsupported content type"},
		{"too long", request("GET", strings.Repeat("a", MaxNameLength+1), "", "", nil), 400, "", "longer than"},
		{"control character", request("GET", "A\x00nn", "", "", nil), 400, "", "not printable"},
		{"invalid utf-8", request("GET", "A\xffnn", "", "", nil), 400, "", "UTF-8"},
		{"put", request("PUT", "Ann", "", "", nil), 405, "", "use GET or POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsp := &api.Response{}
			if err := new(Greeter).Hello(t.Context(), tt.req, rsp); err != nil {
				t.Fatalf("Hello returned %v; it answers every request itself", err)
			}
			if rsp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d (body %s)", rsp.StatusCode, tt.wantCode, rsp.Body)
			}
			if got := api.Get(rsp.Header, "Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			greeted := api.Get(rsp.Header, HeaderGreeter) != ""
			if greeted != (tt.wantCode == 200) {
				t.Errorf("%s set: %v, want it only on success", HeaderGreeter, greeted)
			}
			if tt.wantCode == 405 && api.Get(rsp.Header, "Allow") != "GET, POST" {
				t.Errorf("405 without Allow: %v", rsp.Header)
			}
			var body struct{ Message, Error string }
			if err := json.Unmarshal(rsp.Body, &body); err != nil {
				t.Fatalf("body %q: %v", rsp.Body, err)
			}
			if body.Message != tt.wantMsg || !strings.Contains(body.Error, tt.wantErr) || (tt.wantErr == "") != (body.Error == "") {
				t.Errorf("body %s, want message %q, error holding %q", rsp.Body, tt.wantMsg, tt.wantErr)
			}
		})
	}
}

// FuzzHello: whatever the request, Hello answers a status it chooses and a
// JSON body, and greets only a valid name.
func FuzzHello(f *testing.F) {
	f.Add("GET", "Ann", "", "")
	f.Add("POST", "", "application/json", `{"name":"Bob"}`)
	f.Add("POST", "", "application/json", `{"name":`)
	f.Add("POST", "", "multipart/form-data; boundary=x", "--x--")
	f.Add("POST", "", "text/plain; charset=\"", "x")
	f.Fuzz(func(t *testing.T, method, query, contentType, body string) {
		req := request(method, query, contentType, body, nil)
		rsp := &api.Response{}
		if err := new(Greeter).Hello(t.Context(), req, rsp); err != nil {
			t.Fatalf("Hello returned %v", err)
		}
		switch rsp.StatusCode {
		case http.StatusOK, http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d", rsp.StatusCode)
		}
		var out struct{ Message, Error string }
		if err := json.Unmarshal(rsp.Body, &out); err != nil {
			t.Fatalf("body %q: %v", rsp.Body, err)
		}
		if rsp.StatusCode == http.StatusOK {
			name := strings.TrimPrefix(out.Message, "Hello ")
			if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength {
				t.Fatalf("greeted %q", out.Message)
			}
		}
	})
}

// A request as the gateway sends it for GET /greeter/hello?name=Ann, and
// the response the greeter fills in.
func ExampleGreeter_Hello() {
	req := &api.Request{
		Method: "GET",
		Path:   "/greeter/hello",
		Get:    map[string]*api.Pair{"name": {Key: "name", Values: []string{"Ann"}}},
	}
	rsp := &api.Response{}
	if err := new(Greeter).Hello(context.Background(), req, rsp); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rsp.StatusCode, api.Get(rsp.Header, HeaderGreeter))
	fmt.Print(string(rsp.Body))
	// Output:
	// 200 api example
	// {"message":"Hello Ann"}
}
