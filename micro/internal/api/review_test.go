package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openmicro/go-micro/registry"
)

// TestCORSStarHasNoCredentials: "*" lets every origin read answers, but
// not with the user's cookies, so it is answered with
// Access-Control-Allow-Origin: * and no Allow-Credentials; an origin also
// listed by name keeps its credentials.
func TestCORSStarHasNoCredentials(t *testing.T) {
	h := CORS([]string{"*", "https://app.example.com"})(http.NotFoundHandler())
	for _, tc := range []struct {
		origin, allow, creds string
	}{
		{"https://any.example.org", "*", ""},
		{"https://app.example.com", "https://app.example.com", "true"},
	} {
		for _, method := range []string{"OPTIONS", "GET"} {
			w := do(t, h, method, "/x", "", "", "Origin", tc.origin, "Access-Control-Request-Method", "POST")
			got := w.Header()
			if got.Get("Access-Control-Allow-Origin") != tc.allow || got.Get("Access-Control-Allow-Credentials") != tc.creds {
				t.Errorf("%s from %s: headers %v, want origin %q credentials %q", method, tc.origin, got, tc.allow, tc.creds)
			}
		}
	}
}

// TestCORSVaryAlways: with an allow-list, an answer depends on Origin even
// when the request has none, so a shared cache must not serve it to
// another origin.
func TestCORSVaryAlways(t *testing.T) {
	h := CORS([]string{"https://app.example.com"})(http.NotFoundHandler())
	w := do(t, h, "GET", "/x", "", "")
	if v := w.Header().Values("Vary"); len(v) != 1 || v[0] != "Origin" {
		t.Errorf("Vary %q, want Origin", v)
	}
	w = do(t, CORS(nil)(http.NotFoundHandler()), "GET", "/x", "", "")
	if v := w.Header().Values("Vary"); len(v) != 0 {
		t.Errorf("Vary %q without CORS", v)
	}
}

// TestWriteErrorAfterStart: once the response has started, WriteError
// changes nothing on the wire but still tells the access log.
func TestWriteErrorAfterStart(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	sw.WriteHeader(http.StatusOK)
	_, _ = sw.Write([]byte("partial"))
	r := httptest.NewRequestWithContext(t.Context(), "GET", "/x", nil)
	WriteError(sw, r, fmt.Errorf("late: %w", context.Canceled))
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Fatalf("status %d body %q", rec.Code, rec.Body)
	}
	if sw.info.err == nil || sw.info.err.Code != 499 {
		t.Errorf("access log error %+v", sw.info.err)
	}
}

// TestSlowBody: a client that sends headers and then a body slower than
// the request timeout is answered 408 and loses its connection, instead of
// holding a handler for ever.
func TestSlowBody(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	for _, handler := range []string{"rpc", "api", "event"} {
		t.Run(handler, func(t *testing.T) {
			s := e.gateway(t, Address("127.0.0.1:0"), Handler(handler), RequestTimeout(200*time.Millisecond))
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Guards against a hang only; the answer comes after the timeout.
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			_, err = io.WriteString(c, "POST /greeter/hello HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				"Content-Length: 100\r\n\r\n{\"name\":")
			if err != nil {
				t.Fatal(err)
			}
			rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			rsp.Body.Close()
			if rsp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408", rsp.StatusCode)
			}
			if !rsp.Close {
				t.Error("408 without Connection: close")
			}
			if n, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("connection still open after the 408: %d, %v", n, err)
			}
		})
	}
	// A body that comes in time is read as before, and the connection is
	// kept for the next request.
	s := e.gateway(t, Address("127.0.0.1:0"), RequestTimeout(10*time.Second))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	for range 3 {
		rsp, err := (&http.Client{Transport: tr}).Post("http://"+s.Addr()+"/greeter/hello", "application/json", strings.NewReader(`{"name":"Ann"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != 200 || !strings.Contains(string(b), "Hello Ann") {
			t.Fatalf("%d %s", rsp.StatusCode, b)
		}
	}
}

// TestErrorsHideInternals: a node that cannot be reached is a 503 whose
// body names the service but not the node's address, which goes to the
// access log only.
func TestErrorsHideInternals(t *testing.T) {
	for _, tc := range []struct {
		name, handler, method, target, body string
	}{
		{"rpc", "rpc", "POST", "/dead/hello", "{}"},
		{"rpc endpoint", "rpc", "POST", "/rpc", `{"service":"go.micro.api.dead","endpoint":"Dead.Hello"}`},
		{"api", "api", "GET", "/dead/hello", ""},
		{"proxy", "proxy", "GET", "/dead/hello", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An env of its own: the selector remembers failed nodes.
			e := newEnv(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			err = e.reg.Register(t.Context(), &registry.Service{Name: "go.micro.api.dead", Version: "1",
				Nodes: []*registry.Node{{Id: "dead-1", Address: addr}}})
			if err != nil {
				t.Fatal(err)
			}
			s := e.gateway(t, Handler(tc.handler))
			w := do(t, s, tc.method, tc.target, "application/json", tc.body)
			got := wantError(t, w, http.StatusServiceUnavailable)
			if strings.Contains(w.Body.String(), addr) || !strings.Contains(got.Detail, "go.micro.api.dead") {
				t.Errorf("error body %s: want the service and not %s", w.Body, addr)
			}
			lines := e.logs.accessLines(t)
			last := lines[len(lines)-1]
			if msg, _ := last["error"].(string); !strings.Contains(msg, addr) {
				t.Errorf("access log %v: want the node's address", last)
			}
		})
	}
}

// TestMetadataForwarded: the call's metadata has X-Forwarded-For set to
// the client's address (the client's own X-Forwarded-* and Forwarded
// dropped, as the proxy handler does), and no header that the request's
// Connection header names as hop-by-hop.
func TestMetadataForwarded(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	s := e.gateway(t)
	w := do(t, s, "POST", "/greeter/meta", "application/json", "{}",
		"X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.example.com", "Forwarded", "for=6.6.6.6",
		"Connection", "X-Hop", "X-Hop", "secret", "X-Test", "yes", "Cookie", "c=1", "Authorization", "Bearer t")
	var got MetaResponse
	wantJSON(t, w, &got)
	want := map[string]string{"X-Forwarded-For": "192.0.2.1", "X-Test": "yes", "Authorization": "Bearer t"}
	for k, v := range want {
		if got.MD[k] != v {
			t.Errorf("metadata %s = %q, want %q (%v)", k, got.MD[k], v, got.MD)
		}
	}
	for _, k := range []string{"X-Forwarded-Host", "Forwarded", "X-Hop", "Cookie", "Connection"} {
		if v, ok := got.MD[k]; ok {
			t.Errorf("metadata %s = %q passed on", k, v)
		}
	}

	// The api handler's api.Request has the same X-Forwarded-For.
	e.startService(t, "go.micro.api.site", &Page{})
	a := e.gateway(t, Handler("api"))
	w = do(t, a, "GET", "/site/page/forwarded", "", "", "X-Forwarded-For", "6.6.6.6", "X-Hop", "x", "Connection", "x-hop")
	if got := w.Body.String(); got != "xff=192.0.2.1 hop=" {
		t.Errorf("api.Request headers: %q", got)
	}
}

// TestAccessLogOnAbort: a proxied response that breaks off after its
// headers aborts the handler (http.ErrAbortHandler), and is still logged.
func TestAccessLogOnAbort(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "short")
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	t.Cleanup(ts.Close)
	err := e.reg.Register(t.Context(), &registry.Service{Name: "go.micro.api.broken", Version: "1",
		Nodes: []*registry.Node{{Id: "broken-1", Address: ts.Listener.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.gateway(t, Handler("proxy"), Address("127.0.0.1:0"))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rsp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr() + "/broken/x")
	if err == nil {
		_, err = io.ReadAll(rsp.Body)
		rsp.Body.Close()
	}
	if err == nil {
		t.Fatal("a broken body read in full")
	}
	poll(t, func() []map[string]any { return e.logs.accessLines(t) }, func(l []map[string]any) bool {
		return len(l) == 1 && l[0]["path"] == "/broken/x"
	})
}

// TestProxyOutlivesTimeout: the request timeout bounds the reading of a
// request's body by the gateway, not a websocket's life.
func TestProxyOutlivesTimeout(t *testing.T) {
	e := newEnv(t)
	e.startBackend(t, "go.micro.api.web")
	timeout := 100 * time.Millisecond
	s := e.gateway(t, Handler("proxy"), Address("127.0.0.1:0"), RequestTimeout(timeout))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, rsp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+s.Addr()+"/web/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	defer c.Close()
	<-time.After(3 * timeout) // let the request timeout pass
	if err := c.WriteMessage(websocket.TextMessage, []byte("late")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // against a hang only
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "echo: late" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestProxyStreamOutlivesTimeout: a proxied response streamed for longer
// than the request timeout, to a request without a body, is not cut.
func TestProxyStreamOutlivesTimeout(t *testing.T) {
	e := newEnv(t)
	timeout := 100 * time.Millisecond
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "a")
		_ = http.NewResponseController(w).Flush()
		<-time.After(3 * timeout) // let the request timeout pass
		_, _ = io.WriteString(w, "b")
	}))
	t.Cleanup(ts.Close)
	err := e.reg.Register(t.Context(), &registry.Service{Name: "go.micro.api.stream", Version: "1",
		Nodes: []*registry.Node{{Id: "stream-1", Address: ts.Listener.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	s := e.gateway(t, Handler("proxy"), Address("127.0.0.1:0"), RequestTimeout(timeout))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	rsp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr() + "/stream/x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if err != nil || string(b) != "ab" {
		t.Fatalf("got %q, %v", b, err)
	}
}

// TestReadBody reads bodies of known and unknown length, over the limit
// and cut short, into a buffer used again.
func TestReadBody(t *testing.T) {
	buf := getBuffer()
	defer buf.release()
	for _, tc := range []struct {
		name   string
		body   string
		length int64 // -1: unknown
		want   string
		code   int32
	}{
		{"known length", `{"name":"Ann"}`, 14, `{"name":"Ann"}`, 0},
		{"unknown length", strings.Repeat("x", 1000), -1, strings.Repeat("x", 1000), 0},
		{"shorter again", "ab", 2, "ab", 0},
		{"unknown length at the limit", strings.Repeat("y", 1024), -1, strings.Repeat("y", 1024), 0},
		{"unknown length over the limit", strings.Repeat("z", 1025), -1, "", 413},
		{"declared over the limit", "x", 2000, "", 413},
		{"cut short", "abc", 10, "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), "POST", "/x", io.NopCloser(strings.NewReader(tc.body)))
			r.ContentLength = tc.length
			got, err := readBody(httptest.NewRecorder(), r, 1024, buf)
			if tc.code != 0 {
				if e, _ := toError(err); e.Code != tc.code {
					t.Fatalf("readBody = %q, %v; want a %d", got, err, tc.code)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("readBody = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestRouter: a request whose path does not start with "/" (OPTIONS *,
// say) is a 404, and /rpc and /event/ are routes only when there is a
// client and a broker.
func TestRouter(t *testing.T) {
	e := newEnv(t)
	s := e.gateway(t)
	r := httptest.NewRequestWithContext(t.Context(), "OPTIONS", "*", nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	wantError(t, w, http.StatusNotFound)

	p, err := New(Handler("proxy"), Registry(e.reg), Logger(e.logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	for _, path := range []string{"/rpc", "/event/x"} {
		// Without a client or broker these are the proxy's, to services
		// named rpc and event.
		if e := wantError(t, do(t, p, "POST", path, "application/json", "{}"), 404); !strings.Contains(e.Detail, "go.micro.api.") {
			t.Errorf("%s: %+v", path, e)
		}
	}
}

// TestAccessLogLevel: the access log line goes through the logger's
// handler with the logger's own attributes, and not at all when the
// logger does not take level Info.
func TestAccessLogLevel(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	for _, tc := range []struct {
		name  string
		level slog.Level
		lines int
	}{
		{"info", slog.LevelInfo, 1},
		{"warn", slog.LevelWarn, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := new(syncBuffer)
			l := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: tc.level})).With("component", "gateway")
			s := e.gateway(t, Logger(l))
			wantJSON(t, do(t, s, "POST", "/greeter/hello", "application/json", `{"name":"Ann"}`), new(HelloResponse))
			lines := logs.accessLines(t)
			if len(lines) != tc.lines {
				t.Fatalf("%d access log lines: %v", len(lines), lines)
			}
			if tc.lines > 0 && (lines[0]["component"] != "gateway" || lines[0]["level"] != "INFO" || lines[0]["time"] == nil) {
				t.Errorf("access log line %v", lines[0])
			}
		})
	}
}
