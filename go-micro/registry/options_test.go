package registry_test

import (
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
)

func TestOptions(t *testing.T) {
	cfg := &tls.Config{ServerName: "x"}
	o := registry.NewOptions(registry.Addrs("127.0.0.1:1", "127.0.0.1:2"), registry.Timeout(time.Second), registry.TLS(cfg))
	if !slices.Equal(o.Addrs, []string{"127.0.0.1:1", "127.0.0.1:2"}) || o.Timeout != time.Second || o.TLS != cfg {
		t.Fatalf("NewOptions = %+v", o)
	}
	if o := registry.NewOptions(); o.Addrs != nil || o.Timeout != 0 || o.TLS != nil {
		t.Fatalf("default Options = %+v, want zero", o)
	}
	if got := registry.NewRegisterOptions(registry.RegisterTTL(3 * time.Second)).TTL; got != 3*time.Second {
		t.Fatalf("RegisterTTL: TTL = %v", got)
	}
	if got := registry.NewRegisterOptions().TTL; got != 0 {
		t.Fatalf("default TTL = %v, want 0", got)
	}
	if got := registry.NewWatchOptions(registry.WatchService("a")).Service; got != "a" {
		t.Fatalf("WatchService: Service = %q", got)
	}
	if got := registry.NewWatchOptions().Service; got != "" {
		t.Fatalf("default watch Service = %q, want empty", got)
	}
}
