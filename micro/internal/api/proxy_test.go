package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openmicro/go-micro/registry"
)

// startBackend runs an HTTP server registered as service name: it echoes
// the method, path and query, upgrades /web/ws to a websocket that echoes
// messages, and holds /web/slow until the test ends.
func (e *env) startBackend(t *testing.T, name string) {
	t.Helper()
	hold := make(chan struct{})
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/web/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/web/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/web/cors", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Expose-Headers", "X-Backend")
		_, _ = w.Write([]byte("cors"))
	})
	mux.HandleFunc("/web/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 2048 { // 64 MiB, more than any socket buffers
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s %s body=%s xff=%s", r.Method, r.URL.Path, r.URL.RawQuery, b, r.Header.Get("X-Forwarded-For"))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(hold) })
	err := e.reg.Register(t.Context(), &registry.Service{Name: name, Version: "1",
		Nodes: []*registry.Node{{Id: name + "-1", Address: ts.Listener.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestProxy(t *testing.T) {
	e := newEnv(t)
	e.startBackend(t, "go.micro.api.web")
	e.deadService(t, "go.micro.api.dead")
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"client's selector", []Option{Client(e.client)}},
		{"registry", []Option{Registry(e.reg)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newProxy := func(opts ...Option) *Server {
				s, err := New(append(append(tc.opts, Handler("proxy"), Logger(e.logger), MaxBodySize(1024)), opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Stop(context.Background()) })
				return s
			}
			s := newProxy()
			// The slow backend is tried through a gateway with a short
			// timeout; the others get the default, so that a loaded
			// machine does not time them out.
			short := newProxy(RequestTimeout(300 * time.Millisecond))
			w := do(t, s, "POST", "/web/a/b/?x=1", "text/plain", "hello")
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if got, want := w.Body.String(), "POST /web/a/b/ x=1 body=hello xff=192.0.2.1"; got != want {
				t.Errorf("body %q, want %q", got, want)
			}
			if w.Header().Get("X-Backend") != "go.micro.api.web" {
				t.Errorf("headers %v", w.Header())
			}
			for _, ec := range []struct {
				name, method, target, body string
				code                       int
			}{
				{"unknown service", "GET", "/nosuch/x", "", 404},
				{"no service", "GET", "/", "", 404},
				{"bad element", "GET", "/we%21b/x", "", 400},
				{"dead node", "GET", "/dead/x", "", 503},
				{"slow backend", "GET", "/web/slow", "", 504},
				{"too large", "POST", "/web/x", strings.Repeat("x", 2048), 413},
			} {
				t.Run(ec.name, func(t *testing.T) {
					gw := s
					if ec.code == 504 {
						gw = short
					}
					wantError(t, do(t, gw, ec.method, ec.target, "text/plain", ec.body), ec.code)
					if w := do(t, s, "GET", "/web/ok", "", ""); w.Code != 200 {
						t.Fatalf("next request: %d %s", w.Code, w.Body)
					}
				})
			}
		})
	}
}

// TestProxyClientStopsReading: a client that stops reading a long proxied
// response cannot hold the gateway's handler: once a write has made no
// progress for the request timeout, the request ends (its access line is
// logged) and the gateway serves on.
func TestProxyClientStopsReading(t *testing.T) {
	e := newEnv(t)
	e.startBackend(t, "go.micro.api.web")
	s := e.gateway(t, Handler("proxy"), Address("127.0.0.1:0"), RequestTimeout(300*time.Millisecond))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if _, err := io.WriteString(c, "GET /web/big HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Nothing is read from c.
	line := poll(t, func() map[string]any {
		for _, l := range e.logs.accessLines(t) {
			if l["path"] == "/web/big" {
				return l
			}
		}
		return nil
	}, func(l map[string]any) bool { return l != nil })
	if line["error"] != "response aborted" {
		t.Errorf("access line %v, want error \"response aborted\"", line)
	}
	rsp, err := http.Get("http://" + s.Addr() + "/web/ok")
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Fatalf("next request: %d", rsp.StatusCode)
	}
}

// TestProxyCORSOwnedByGateway: with an allow-list the gateway's CORS
// headers are the only ones: a backend's Access-Control-Allow-Origin and
// -Credentials neither go out beside them (two values, which browsers
// refuse) nor open the answer to an origin the list leaves out. Without an
// allow-list the backend's pass.
func TestProxyCORSOwnedByGateway(t *testing.T) {
	e := newEnv(t)
	e.startBackend(t, "go.micro.api.web")
	withList := e.gateway(t, Handler("proxy"), CORSOrigins("https://app.example"))
	for _, tc := range []struct {
		name, origin string
		want         []string // Access-Control-Allow-Origin values
		creds        []string
	}{
		{"allowed origin", "https://app.example", []string{"https://app.example"}, []string{"true"}},
		{"other origin", "https://evil.example", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, withList, "GET", "/web/cors", "", "", "Origin", tc.origin)
			if w.Code != http.StatusOK || w.Body.String() != "cors" {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			h := w.Result().Header
			if got := h.Values("Access-Control-Allow-Origin"); !slices.Equal(got, tc.want) {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.want)
			}
			if got := h.Values("Access-Control-Allow-Credentials"); !slices.Equal(got, tc.creds) {
				t.Errorf("Access-Control-Allow-Credentials %q, want %q", got, tc.creds)
			}
			if got := h.Get("Access-Control-Expose-Headers"); got != "X-Backend" {
				t.Errorf("Access-Control-Expose-Headers %q, want the backend's", got)
			}
		})
	}
	t.Run("no allow-list", func(t *testing.T) {
		noList := e.gateway(t, Handler("proxy"))
		w := do(t, noList, "GET", "/web/cors", "", "", "Origin", "https://evil.example")
		if got := w.Result().Header.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{"*"}) {
			t.Errorf("Access-Control-Allow-Origin %q, want the backend's *", got)
		}
	})
}

// TestProxyTooLargeChunked sends a body without Content-Length over the
// limit: the proxy stops reading it and answers 413.
func TestProxyTooLargeChunked(t *testing.T) {
	e := newEnv(t)
	e.startBackend(t, "go.micro.api.web")
	s := e.gateway(t, Handler("proxy"), MaxBodySize(1024))
	req := httptest.NewRequestWithContext(t.Context(), "POST", "/web/x", io.MultiReader(strings.NewReader(strings.Repeat("x", 4096))))
	req.ContentLength = -1
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	wantError(t, w, 413)
}

func TestProxyWebsocket(t *testing.T) {
	e := newEnv(t)
	e.startBackend(t, "go.micro.api.web")
	s := e.gateway(t, Handler("proxy"), Address("127.0.0.1:0"))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, rsp, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+s.Addr()+"/web/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	defer c.Close()
	for _, msg := range []string{"one", "two"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo: "+msg {
			t.Fatalf("got %q", got)
		}
	}
	// Stop closes the websocket, which the client sees.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("websocket still open after Stop")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("websocket not closed by Stop: %v", err)
	}
	var lines []map[string]any
	poll(t, func() []map[string]any { lines = e.logs.accessLines(t); return lines },
		func(l []map[string]any) bool { return len(l) > 0 })
	if st := lines[0]["status"]; st != float64(101) {
		t.Errorf("access log status %v, want 101: %v", st, lines[0])
	}
}
