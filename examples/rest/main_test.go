package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/openmicro/examples/internal/proctest"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var apiListening = regexp.MustCompile(`micro api listening on (\S+);`)

// TestThroughGateway runs micro server (the registry service only), `micro
// api --api_handler proxy` and the rest service built from this package,
// as processes, and uses the notes resource and the websocket echo through
// the gateway: the service's answers, its 404 included, come through as
// they are. Once the service stops it has deregistered, and the gateway
// answers 404 for it itself.
func TestThroughGateway(t *testing.T) {
	micro := proctest.Build(t, "micro", "../../micro", ".")
	rest := proctest.Build(t, "rest", ".", ".")

	srv := proctest.StartServer(t, micro, "--api_address", "", "--sidecar_address", "")
	gw := proctest.Start(t, "micro api", micro, "--registry_address", srv.Registry,
		"api", "--address", "127.0.0.1:0", "--api_handler", "proxy")
	gateway := "http://" + gw.Await(t, "micro api to listen", apiListening)[1]
	svc := proctest.Start(t, "rest", rest, "--registry_address", srv.Registry,
		"--server_address", "127.0.0.1:0", "--register_ttl", "10s", "--register_interval", "2s")
	svc.Await(t, "the rest service to register", regexp.MustCompile(`rest: registered`))
	c := httpClient(t)

	// A note made and read back.
	code, _, body := do(t, c, "GET", gateway+"/rest/notes", "")
	if code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("GET /rest/notes: %d %s, want 200 []", code, body)
	}
	code, hdr, body := do(t, c, "POST", gateway+"/rest/notes", `{"text":"buy milk"}`)
	var made Note
	if code != 201 || json.Unmarshal([]byte(body), &made) != nil || made.ID != 1 || made.Text != "buy milk" {
		t.Fatalf("POST /rest/notes: %d %s, want 201 and note 1", code, body)
	}
	if loc := hdr.Get("Location"); loc != "/rest/notes/1" {
		t.Errorf("Location %q, want /rest/notes/1", loc)
	}
	code, _, body = do(t, c, "GET", gateway+"/rest/notes/1", "")
	var got Note
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Text != "buy milk" || !got.Created.Equal(made.Created) {
		t.Fatalf("GET /rest/notes/1: %d %s, want note 1", code, body)
	}
	code, _, body = do(t, c, "GET", gateway+"/rest/notes", "")
	var all []Note
	if code != 200 || json.Unmarshal([]byte(body), &all) != nil || len(all) != 1 {
		t.Fatalf("GET /rest/notes: %d %s, want the one note", code, body)
	}

	// The service's errors, passed through as the service wrote them.
	for _, tt := range []struct {
		method, path, body string
		code               int
		want               string // the whole body
	}{
		{"GET", "/rest/notes/99", "", 404, `{"error":"rest: note \"99\" not found"}`},
		{"GET", "/rest/nothing", "", 404, `{"error":"rest: no resource at /rest/nothing"}`},
		{"POST", "/rest/notes", `{"text":`, 400, ""},
		{"PUT", "/rest/notes", "", 405, `{"error":"rest: /rest/notes does not take this method; see the Allow header"}`},
	} {
		code, _, body := do(t, c, tt.method, gateway+tt.path, tt.body)
		if code != tt.code || (tt.want != "" && strings.TrimSpace(body) != tt.want) || !strings.Contains(body, `"error":"rest: `) {
			t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, code, body, tt.code, tt.want)
		}
	}
	code, _, _ = do(t, c, "DELETE", gateway+"/rest/notes/1", "")
	if code != 204 {
		t.Errorf("DELETE /rest/notes/1: %d, want 204", code)
	}

	// The websocket echo, through the proxy.
	wsURL := "ws" + strings.TrimPrefix(gateway, "http") + "/rest/ws"
	dialer := websocket.Dialer{HandshakeTimeout: proctest.Patience}
	conn, rsp, err := dialer.DialContext(t.Context(), wsURL, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v (%v)", wsURL, err, rsp)
	}
	defer conn.Close()
	for i, m := range []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello through the gateway")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 0xff}},
		{websocket.TextMessage, []byte(strings.Repeat("x", 32<<10))},
	} {
		if err := conn.WriteMessage(m.typ, m.data); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		typ, data, err := conn.ReadMessage()
		if err != nil || typ != m.typ || string(data) != string(m.data) {
			t.Fatalf("echo %d: type %d, %d bytes, %v; want type %d, the %d bytes sent", i, typ, len(data), err, m.typ, len(m.data))
		}
	}
	if err := conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after the close frame: %v, want the echo's normal closure", err)
	}

	// SIGTERM: the service deregisters and exits 0; the gateway then
	// knows no such service and answers 404 itself.
	if err := svc.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("rest: %v", err)
	}
	if !strings.Contains(svc.Output(), "rest: deregistered") {
		t.Errorf("rest did not log its deregistration:\n%s", svc.Output())
	}
	// The gateway's selector learns of the deregistration through its
	// registry watch: a request in between may still pick the old node
	// and get a 503.
	eventually(t, "the gateway to answer 404 for the stopped service", func() error {
		code, _, body := do(t, c, "GET", gateway+"/rest/notes", "")
		if code != 404 || !strings.Contains(body, `"id":"go.micro.api"`) || !strings.Contains(body, Name) {
			return fmt.Errorf("GET /rest/notes: %d %s, want the gateway's 404 for %s", code, body, Name)
		}
		return nil
	})
}

// eventually polls cond until it returns nil, failing the test with its
// last error after proctest.Patience.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(proctest.Patience)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: the test ended: %v", what, err)
		}
	}
}

// do sends one request, a JSON body when body is set, and returns the
// answer.
func do(t *testing.T, c *http.Client, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rsp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return rsp.StatusCode, rsp.Header, string(b)
}

// httpClient is a client of its own, whose connections close with the test.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: proctest.Patience}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("MICRO_REGISTRY_ADDRESS", "127.0.0.1:1")
	tests := []struct {
		args []string
		want config
		err  string
	}{
		{nil, config{address: "127.0.0.1:0", registryAddress: "127.0.0.1:1", ttl: 90 * time.Second, interval: 30 * time.Second}, ""},
		{[]string{"--server_address", ":9000", "--registry_address", "127.0.0.1:2", "--register_ttl", "10s", "--register_interval", "2s", "--server_advertise", "10.0.0.1:9000"},
			config{address: ":9000", advertise: "10.0.0.1:9000", registryAddress: "127.0.0.1:2", ttl: 10 * time.Second, interval: 2 * time.Second}, ""},
		{[]string{"--register_ttl", "soon"}, config{}, "invalid value"},
		{[]string{"--server_advertise", "nowhere"}, config{}, "want host:port"},
		{[]string{"extra"}, config{}, "unexpected argument"},
		{[]string{"--nope"}, config{}, "not defined"},
		{[]string{"-h"}, config{}, "help requested"},
	}
	for _, tt := range tests {
		got, err := parseFlags(tt.args, io.Discard)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: %v, want an error saying %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
}

func TestAdvertised(t *testing.T) {
	tests := []struct {
		addr      net.Addr
		advertise string
		want      string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "", "127.0.0.1:80"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 80}, "", "127.0.0.1:80"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, "", "127.0.0.1:80"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "", "[::1]:80"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 80}, "host:1", "host:1"},
	}
	for _, tt := range tests {
		if got := advertised(tt.addr, tt.advertise); got != tt.want {
			t.Errorf("advertised(%v, %q) = %q, want %q", tt.addr, tt.advertise, got, tt.want)
		}
	}
}

// TestRunBadFlags: bad flags stop run before it listens or registers.
func TestRunBadFlags(t *testing.T) {
	if err := run(t.Context(), []string{"--server_address", "127.0.0.1:notaport"}, io.Discard); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("run with a bad address: %v", err)
	}
	if err := run(t.Context(), []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h: %v, want flag.ErrHelp", err)
	}
}
