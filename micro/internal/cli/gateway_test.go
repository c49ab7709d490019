package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/testenv"
)

// TestGatewayFlags checks that bad flags of micro api and micro sidecar
// are usage errors that say what is wrong, before anything listens.
func TestGatewayFlags(t *testing.T) {
	f := newFixture(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"api bad address", []string{"api", "--address", "nonsense"}, ExitUsage, `--api_address "nonsense": want host:port`},
		{"api unknown handler", []string{"api", "--address", "127.0.0.1:0", "--api_handler", "soap"}, ExitUsage, "rpc, api, proxy, event"},
		{"api bad origin", []string{"api", "--address", "127.0.0.1:0", "--api_cors", "app.example.com"}, ExitUsage, `--api_cors "app.example.com": want an origin`},
		{"api origin with a path", []string{"api", "--address", "127.0.0.1:0", "--api_cors", "https://app.example.com/x"}, ExitUsage, "want an origin"},
		{"api zero body", []string{"api", "--address", "127.0.0.1:0", "--api_max_body", "0"}, ExitUsage, "want a positive number of bytes"},
		{"api zero timeout", []string{"api", "--address", "127.0.0.1:0", "--api_timeout", "0s"}, ExitUsage, "want a positive duration"},
		{"api bad timeout", []string{"api", "--api_timeout", "soon"}, ExitUsage, "invalid value"},
		{"api tls without files", []string{"api", "--address", "127.0.0.1:0", "--enable_tls"}, ExitUsage, "--enable_tls needs --tls_cert_file and --tls_key_file"},
		{"api files without tls", []string{"api", "--address", "127.0.0.1:0", "--tls_cert_file", missing}, ExitUsage, "need --enable_tls"},
		{"api missing certificate", []string{"api", "--address", "127.0.0.1:0", "--enable_tls", "--tls_cert_file", missing, "--tls_key_file", missing}, ExitUsage, "missing.pem"},
		{"api extra argument", []string{"api", "more"}, ExitUsage, `unexpected argument "more"`},
		{"sidecar bad address", []string{"sidecar", "--address", "nonsense"}, ExitUsage, `--sidecar_address "nonsense": want host:port`},
		{"sidecar name without address", []string{"sidecar", "--address", "127.0.0.1:0", "--server_name", "app"}, ExitUsage, "--server_name needs --server_address"},
		{"sidecar address without name", []string{"sidecar", "--address", "127.0.0.1:0", "--server_address", "127.0.0.1:9"}, ExitUsage, "--server_address needs --server_name"},
		{"sidecar bad app address", []string{"sidecar", "--address", "127.0.0.1:0", "--server_name", "app", "--server_address", "nine"}, ExitUsage, `--server_address "nine": want host:port`},
		{"sidecar health without app", []string{"sidecar", "--address", "127.0.0.1:0", "--healthcheck_url", "http://127.0.0.1:9/health"}, ExitUsage, "--healthcheck_url needs --server_name"},
		{"sidecar bad health url", []string{"sidecar", "--address", "127.0.0.1:0", "--server_name", "app", "--server_address", "127.0.0.1:9", "--healthcheck_url", "ftp://x"}, ExitUsage, "want an http:// or https:// URL"},
		{"sidecar bad health threshold", []string{"sidecar", "--address", "127.0.0.1:0", "--server_name", "app", "--server_address", "127.0.0.1:9", "--healthcheck_url", "http://127.0.0.1:9/health", "--healthcheck_threshold", "0"}, ExitUsage, "--healthcheck_threshold 0: want 1 or more"},
		{"server bad api address", []string{"server", "--address", "127.0.0.1:0", "--api_address", "x"}, ExitUsage, `--api_address "x": want host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.run(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("want exit %d and %q on stderr\n%v", tt.code, tt.stderr, r)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a flag check wrote a file")
	}
}

// TestAPICommand runs micro api in process over the fixture's registry and
// calls the greeter through it.
func TestAPICommand(t *testing.T) {
	for _, tc := range []struct {
		command, path, body string
	}{
		{"api", "/rpc", `{"service": "greeter", "endpoint": "Say.Hello", "request": {"name": "Ann"}}`},
		{"sidecar", "/rpc", `{"service": "greeter", "endpoint": "Say.Hello", "request": {"name": "Ann"}}`},
	} {
		t.Run(tc.command, func(t *testing.T) {
			f := newFixture(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var stdout, stderr syncBuffer
			done := make(chan int, 1)
			opts := []Option{Components(cmd.Components{Registry: f.reg, Broker: f.bus.NewBroker()})}
			go func() {
				done <- Main(ctx, []string{"micro", tc.command, "--address", "127.0.0.1:0"}, &stdout, &stderr, opts...)
			}()
			ready := regexp.MustCompile(`micro ` + tc.command + ` listening on (\S+);`)
			var addr string
			testenv.WaitFor(t, "micro "+tc.command+" to listen", func() bool {
				m := ready.FindStringSubmatch(stdout.String())
				if m != nil {
					addr = m[1]
				}
				return m != nil
			})
			rsp, err := http.Post("http://"+addr+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Hello Ann") {
				t.Errorf("%s: %d %s", tc.path, rsp.StatusCode, b)
			}
			cancel()
			if code := testenv.Recv(t, "micro "+tc.command+" to stop", done); code != ExitOK {
				t.Errorf("exit %d after the context ended; stderr:\n%s", code, stderr.String())
			}
		})
	}
}
