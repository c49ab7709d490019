package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchBody is what each benchmark request sends, as the gateway row of
// benchmarks/cmd/bench does.
var benchBody = []byte(`{"name":"benchmark-0001"}`)

const benchWant = `{"msg":"Hello benchmark-0001"}`

// BenchmarkGateway measures POST /greeter/hello with a JSON body through
// the gateway to a go-micro service over the http transport: "handler"
// calls the gateway's ServeHTTP directly (the gateway's own cost plus the
// call), "listener" goes through a real loopback listener with keep-alive
// connections (net/http's cost too).
func BenchmarkGateway(b *testing.B) {
	e := newEnv(b)
	e.startGreeter(b)
	s := e.gateway(b, Address("127.0.0.1:0"), Logger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodPost, "/greeter/hello", bytes.NewReader(benchBody))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Body.String() != benchWant {
					b.Errorf("status %d: %s", w.Code, w.Body)
					return
				}
			}
		})
	})
	if err := s.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	url := "http://" + s.Addr() + "/greeter/hello"
	b.Run("listener", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 0, 256)
			for pb.Next() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(benchBody))
				req.Header.Set("Content-Type", "application/json")
				rsp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				w := bytes.NewBuffer(buf[:0])
				_, _ = w.ReadFrom(rsp.Body)
				rsp.Body.Close()
				if rsp.StatusCode != http.StatusOK || w.String() != benchWant {
					b.Errorf("status %d: %s", rsp.StatusCode, w)
					return
				}
			}
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}
