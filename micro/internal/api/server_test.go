package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
)

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"unknown handler", []Option{Client(e.client), Handler("web")}, `unknown handler "web": use one of rpc, api, proxy, event`},
		{"rpc without client", nil, `handler "rpc": api: no client`},
		{"api without client", []Option{Handler("api")}, `handler "api": api: no client`},
		{"proxy without registry", []Option{Handler("proxy")}, `needs a registry`},
		{"event without broker", []Option{Handler("event")}, `handler "event": api: no broker`},
		{"bad address", []Option{Client(e.client), Address("8080")}, `address "8080"`},
		{"bad namespace", []Option{Client(e.client), Namespace("go..api")}, `namespace "go..api"`},
		{"bad origin", []Option{Client(e.client), CORSOrigins("example.com")}, `CORS origin "example.com"`},
		{"origin with path", []Option{Client(e.client), CORSOrigins("https://example.com/app")}, `CORS origin`},
		{"tls without certificate", []Option{Client(e.client), TLS(&tls.Config{})}, `no certificate`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "api: ") {
				t.Fatalf("New = %v, %v; want an error with %q", s, err, tc.want)
			}
		})
	}
	for _, opts := range [][]Option{
		{Client(e.client)},
		{Handler("proxy"), Registry(e.reg)},
		{Handler("event"), Broker(e.broker)},
		{Client(e.client), Namespace(""), CORSOrigins("*", "http://localhost:3000")},
	} {
		s, err := New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(t.Context()); !errors.Is(err, ErrStopped) {
			t.Fatalf("Start after Stop = %v", err)
		}
	}
}

func TestStartStop(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	s := e.gateway(t, Address("127.0.0.1:0"))
	if s.Addr() != "" {
		t.Fatalf("Addr before Start = %q", s.Addr())
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v", err)
	}
	rsp, err := http.Post("http://"+s.Addr()+"/greeter/hello", "application/json", strings.NewReader(`{"name":"Ann"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(b), "Hello Ann") {
		t.Fatalf("%d %s", rsp.StatusCode, b)
	}
	http.DefaultClient.CloseIdleConnections()

	// The access log has the request with its service and endpoint.
	lines := e.logs.accessLines(t)
	if len(lines) != 1 {
		t.Fatalf("access log lines %v", lines)
	}
	l := lines[0]
	for k, want := range map[string]any{"method": "POST", "path": "/greeter/hello", "status": float64(200),
		"service": "go.micro.api.greeter", "endpoint": "Greeter.Hello"} {
		if l[k] != want {
			t.Errorf("access log %s = %v, want %v (%v)", k, l[k], want, l)
		}
	}
	if l["bytes"].(float64) <= 0 || l["remote"] == "" || l["duration"] == nil {
		t.Errorf("access log %v", l)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop = %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("still listening after Stop")
	}
}

// TestStopWaits stops the gateway while a call is running: Stop returns
// ctx's error once its ctx ends, and the call's handler has returned by
// then.
func TestStopWaits(t *testing.T) {
	e := newEnv(t)
	g := e.startGreeter(t)
	s := e.gateway(t, Address("127.0.0.1:0"), RequestTimeout(time.Minute))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		rsp, err := http.Post("http://"+s.Addr()+"/greeter/hang", "application/json", strings.NewReader(`{}`))
		if err == nil {
			rsp.Body.Close()
		}
		done <- err
	}()
	// Wait until the call is in progress.
	poll(t, g.hanging.Load, func(n int32) bool { return n > 0 })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the deadline", err)
	}
	<-done
	http.DefaultClient.CloseIdleConnections()
}

func TestTLS(t *testing.T) {
	e := newEnv(t)
	e.startGreeter(t)
	certFile, keyFile, self := testenv.SelfSignedFiles(t)
	pool := self.RootCAs
	cfg, err := LoadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := e.gateway(t, Address("127.0.0.1:0"), TLS(cfg))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	rsp, err := c.Post("https://"+s.Addr()+"/greeter/hello", "application/json", strings.NewReader(`{"name":"TLS"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(b), "Hello TLS") || rsp.TLS == nil || rsp.ProtoMajor != 2 {
		t.Fatalf("%s %d %s", rsp.Proto, rsp.StatusCode, b)
	}
	// Plain HTTP to the TLS port fails.
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	if rsp, err := (&http.Client{Transport: plain}).Get("http://" + s.Addr() + "/greeter/hello"); err == nil {
		rsp.Body.Close()
		if rsp.StatusCode == 200 {
			t.Fatal("plain HTTP served by the TLS gateway")
		}
	}

	// The same from the files, over HTTP/1.1.
	s2 := e.gateway(t, Address("127.0.0.1:0"), TLSFiles(certFile, keyFile))
	if err := s2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	tr1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr1.CloseIdleConnections()
	rsp, err = (&http.Client{Transport: tr1}).Get("https://" + s2.Addr() + "/greeter/hello?name=Files")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || !strings.Contains(string(b), "Hello Files") {
		t.Fatalf("%d %s", rsp.StatusCode, b)
	}

	_, err = LoadTLS(filepath.Join(t.TempDir(), "missing.pem"), keyFile)
	if err == nil || !strings.Contains(err.Error(), "api: loading TLS certificate") {
		t.Fatalf("LoadTLS of a missing file = %v", err)
	}
	if _, err := New(e.opts(TLSFiles(keyFile, certFile))...); err == nil || !strings.Contains(err.Error(), "api: loading TLS certificate") {
		t.Fatalf("New with swapped files = %v", err)
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t)
	h := recoverPanics(e.logger, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	wantError(t, do(t, h, "GET", "/", "", ""), 500)
	if !strings.Contains(e.logs.String(), "handler panicked") {
		t.Error("panic not logged")
	}
}
