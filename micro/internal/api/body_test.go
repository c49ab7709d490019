package api

import (
	"bytes"
	stdjson "encoding/json"
	"mime/multipart"
	"testing"

	merrors "github.com/openmicro/go-micro/errors"
)

func multipartBody(t testing.TB, fields map[string]string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write([]byte("file content"))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.String()
}

func TestDecodeRPC(t *testing.T) {
	mpType, mpBody := multipartBody(t, map[string]string{"service": "greeter", "endpoint": "Say.Hello", "request": `{"name":"Ann"}`})
	const js = "application/json"
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, ct, body string
		want           rpcRequest
		code           int32
	}{
		{"json", js, `{"service":"greeter","endpoint":"Say.Hello","request":{"name":"Ann"}}`,
			rpcRequest{"greeter", "Say.Hello", []byte(`{"name":"Ann"}`)}, 0},
		{"json method", js, `{"service":"greeter","method":"Say.Hello","request":{}}`,
			rpcRequest{"greeter", "Say.Hello", []byte(`{}`)}, 0},
		{"json same endpoint and method", js, `{"service":"greeter","endpoint":"Say.Hello","method":"Say.Hello"}`,
			rpcRequest{"greeter", "Say.Hello", []byte(`{}`)}, 0},
		{"json no request", js, `{"service":"greeter","endpoint":"Say.Hello"}`,
			rpcRequest{"greeter", "Say.Hello", []byte(`{}`)}, 0},
		{"json null request", js, `{"service":"greeter","endpoint":"Say.Hello","request":null}`,
			rpcRequest{"greeter", "Say.Hello", []byte(`{}`)}, 0},
		{"json string request", js, `{"service":"greeter","endpoint":"Say.Hello","request":"{\"name\":\"Ann\"}"}`,
			rpcRequest{"greeter", "Say.Hello", []byte(`{"name":"Ann"}`)}, 0},
		{"json charset", js + "; charset=utf-8", `{"service":"a","endpoint":"B.C"}`,
			rpcRequest{"a", "B.C", []byte(`{}`)}, 0},
		{"vendor json", "application/vnd.api+json", `{"service":"a","endpoint":"B.C"}`,
			rpcRequest{"a", "B.C", []byte(`{}`)}, 0},
		{"no content type", "", `{"service":"a","endpoint":"B.C"}`, rpcRequest{"a", "B.C", []byte(`{}`)}, 0},
		{"curl -d json", form, `{"service":"a","endpoint":"B.C","request":{"x":1}}`,
			rpcRequest{"a", "B.C", []byte(`{"x":1}`)}, 0},
		{"form", form, "service=greeter&endpoint=Say.Hello&request=%7B%22name%22%3A%22Ann%22%7D",
			rpcRequest{"greeter", "Say.Hello", []byte(`{"name":"Ann"}`)}, 0},
		{"form method no request", form, "service=greeter&method=Say.Hello",
			rpcRequest{"greeter", "Say.Hello", []byte(`{}`)}, 0},
		{"multipart", mpType, mpBody, rpcRequest{"greeter", "Say.Hello", []byte(`{"name":"Ann"}`)}, 0},

		{"empty", js, "", rpcRequest{}, 400},
		{"malformed json", js, `{"service":`, rpcRequest{}, 400},
		{"json array", js, `[1,2]`, rpcRequest{}, 400},
		{"json null", js, `null`, rpcRequest{}, 400},
		{"trailing data", js, `{"service":"a","endpoint":"B.C"} x`, rpcRequest{}, 400},
		{"two objects", js, `{"service":"a","endpoint":"B.C"}{}`, rpcRequest{}, 400},
		{"service not a string", js, `{"service":1,"endpoint":"B.C"}`, rpcRequest{}, 400},
		{"malformed request", js, `{"service":"a","endpoint":"B.C","request":"{nope"}`, rpcRequest{}, 400},
		{"no service", js, `{"endpoint":"B.C"}`, rpcRequest{}, 400},
		{"no endpoint", js, `{"service":"a"}`, rpcRequest{}, 400},
		{"endpoint and method differ", js, `{"service":"a","endpoint":"B.C","method":"B.D"}`, rpcRequest{}, 400},
		{"space in service", js, `{"service":"a b","endpoint":"B.C"}`, rpcRequest{}, 400},
		{"control in endpoint", js, `{"service":"a","endpoint":"B.C\u0000"}`, rpcRequest{}, 400},
		{"malformed form request", form, "service=a&endpoint=B.C&request=nope", rpcRequest{}, 400},
		{"malformed form", form, "service=%zz", rpcRequest{}, 400},
		{"multipart no boundary", "multipart/form-data", "x", rpcRequest{}, 400},
		{"malformed content type", "application/json; =", "{}", rpcRequest{}, 400},
		{"text", "text/plain", `{"service":"a","endpoint":"B.C"}`, rpcRequest{}, 415},
		{"xml", "application/xml", `<a/>`, rpcRequest{}, 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRPC(tc.ct, []byte(tc.body))
			if tc.code != 0 {
				if merrors.Code(err) != tc.code {
					t.Fatalf("decodeRPC = %+v, %v; want a %d", got, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Service != tc.want.Service || got.Endpoint != tc.want.Endpoint || !bytes.Equal(got.Request, tc.want.Request) {
				t.Fatalf("decodeRPC = %q %q %s, want %q %q %s", got.Service, got.Endpoint, got.Request,
					tc.want.Service, tc.want.Endpoint, tc.want.Request)
			}
		})
	}
}

func TestDecodeCall(t *testing.T) {
	mpType, mpBody := multipartBody(t, map[string]string{"name": "Ann"})
	tests := []struct {
		name, ct, query, body string
		want                  string
		code                  int32
	}{
		{"json", "application/json", "", `{"name":"Ann"}`, `{"name":"Ann"}`, 0},
		{"json wins over query", "application/json", "name=Bob", `{"name":"Ann"}`, `{"name":"Ann"}`, 0},
		{"no content type", "", "", ` {"name":"Ann"} `, `{"name":"Ann"}`, 0},
		{"empty", "", "", "", `{}`, 0},
		{"empty with a type", "application/json", "", "", `{}`, 0},
		{"query", "", "name=Ann&tags=a&tags=b", "", `{"name":"Ann","tags":["a","b"]}`, 0},
		{"query with a bad pair", "", "name=Ann&x=%zz", "", `{"name":"Ann"}`, 0},
		{"form", "application/x-www-form-urlencoded", "", "name=Ann", `{"name":"Ann"}`, 0},
		{"curl -d json", "application/x-www-form-urlencoded", "", `{"name":"Ann"}`, `{"name":"Ann"}`, 0},
		{"multipart", mpType, "", mpBody, `{"name":"Ann"}`, 0},
		{"malformed", "application/json", "", `{"name":`, "", 400},
		{"unsupported", "text/plain", "", `hi`, "", 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCall(tc.ct, tc.query, []byte(tc.body))
			if tc.code != 0 {
				if merrors.Code(err) != tc.code {
					t.Fatalf("decodeCall = %s, %v; want a %d", got, err, tc.code)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("decodeCall = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// FuzzDecodeRPC checks that the /rpc body decoding never panics, fails only
// with a 400 or 415 *errors.Error, and accepts only a named service and
// endpoint with a valid JSON request.
func FuzzDecodeRPC(f *testing.F) {
	mpType, mpBody := multipartBody(f, map[string]string{"service": "a", "endpoint": "B.C"})
	f.Add("application/json", `{"service":"greeter","endpoint":"Say.Hello","request":{"name":"Ann"}}`)
	f.Add("application/json", `{"service":"a","method":"B.C","request":"{}"}`)
	f.Add("application/x-www-form-urlencoded", "service=a&endpoint=B.C&request=%7B%7D")
	f.Add("", `{"service":"a","endpoint":"B.C"} `)
	f.Add(mpType, mpBody)
	f.Add("multipart/form-data; boundary=x", "--x\r\n\r\n--x--")
	f.Add("text/plain", "x")
	f.Fuzz(func(t *testing.T, ct, body string) {
		got, err := decodeRPC(ct, []byte(body))
		if err != nil {
			var e *merrors.Error
			if !asError(err, &e) || e.Code != 400 && e.Code != 415 {
				t.Fatalf("decodeRPC(%q, %q): error %v is not a 400 or 415", ct, body, err)
			}
			return
		}
		if checkName("service", got.Service) != nil || checkName("endpoint", got.Endpoint) != nil {
			t.Fatalf("decodeRPC(%q, %q) accepted %q %q", ct, body, got.Service, got.Endpoint)
		}
		if !stdjson.Valid(got.Request) {
			t.Fatalf("decodeRPC(%q, %q): request %q is not JSON", ct, body, got.Request)
		}
	})
}

// FuzzDecodeCall checks the rpc handler's request building: no panic, a
// 400 or 415 on failure, valid JSON otherwise.
func FuzzDecodeCall(f *testing.F) {
	f.Add("application/json", "a=1", `{"name":"Ann"}`)
	f.Add("", "a=1&a=2&b=", "")
	f.Add("application/x-www-form-urlencoded", "", "name=Ann&x=%zz")
	f.Add("multipart/form-data; boundary=x", "", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--")
	f.Fuzz(func(t *testing.T, ct, query, body string) {
		got, err := decodeCall(ct, query, []byte(body))
		if err != nil {
			if c := merrors.Code(err); c != 400 && c != 415 {
				t.Fatalf("decodeCall(%q, %q, %q): error %v is not a 400 or 415", ct, query, body, err)
			}
			return
		}
		if !stdjson.Valid(got) {
			t.Fatalf("decodeCall(%q, %q, %q) = %q: not JSON", ct, query, body, got)
		}
	})
}

func asError(err error, e **merrors.Error) bool {
	x, ok := err.(*merrors.Error)
	*e = x
	return ok && x != nil
}
