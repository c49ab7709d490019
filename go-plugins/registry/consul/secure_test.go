package consul

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-plugins/registry/consul/consultest"
)

// TestTLSTokenDatacenter runs an agent that serves HTTPS (besides HTTP,
// which the harness uses) and enforces ACLs, and reaches it with
// registry.TLS, Token and Datacenter.
func TestTLSTokenDatacenter(t *testing.T) {
	t.Parallel()
	certFile, keyFile, cfg := testenv.SelfSignedFiles(t)
	const token = "root-token"
	httpsPort := consultest.FreePorts(t, 1)[0]
	consultest.Start(t, consultest.Token(token), consultest.Args(
		"-datacenter", "dc-test",
		"-hcl", fmt.Sprintf(`ports { https = %d }`, httpsPort),
		"-hcl", fmt.Sprintf(`tls { defaults { cert_file = %q key_file = %q verify_incoming = false } }`, certFile, keyFile),
		"-hcl", fmt.Sprintf(`acl { enabled = true default_policy = "deny" tokens { initial_management = %q agent = %q } }`, token, token),
	))
	addr := fmt.Sprintf("127.0.0.1:%d", httpsPort)

	s := svc("secure", "n", 1000)
	t.Run("no token", func(t *testing.T) {
		r := testRegistry(t, addr, registry.TLS(cfg))
		err := r.Register(t.Context(), s)
		if statusCode(err) != http.StatusForbidden {
			t.Fatalf("Register without a token = %v, want a 403", err)
		}
	})
	t.Run("no TLS", func(t *testing.T) {
		r := testRegistry(t, "http://"+addr, Token(token))
		if err := r.Register(t.Context(), s); err == nil {
			t.Fatal("plain HTTP to the HTTPS port worked")
		}
	})
	t.Run("TLS and token", func(t *testing.T) {
		r := testRegistry(t, addr, registry.TLS(cfg), Token(token), Datacenter("dc-test"))
		w := watchStream(t, r)
		if err := r.Register(t.Context(), s, registry.RegisterTTL(time.Minute)); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, w, 20*time.Second, registry.Create, "secure", "n")
		eventually(t, "the node registered", 20*time.Second, hasNodes(t, r, "secure", "n"))
		list, err := r.ListServices(t.Context())
		if err != nil || len(list) != 1 || list[0].Name != "secure" || list[0].Version != "1" {
			t.Fatalf("ListServices = %v, %v", list, err)
		}
		if err := r.Deregister(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, w, 20*time.Second, registry.Delete, "secure", "n")
	})
	t.Run("unknown datacenter", func(t *testing.T) {
		r := testRegistry(t, addr, registry.TLS(cfg), Token(token), Datacenter("nowhere"))
		_, err := r.GetService(t.Context(), "secure")
		if err == nil || errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "datacenter") {
			t.Fatalf("GetService in an unknown datacenter = %v, want consul's datacenter error", err)
		}
	})
}
