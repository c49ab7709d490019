// Package testenv holds what the tests of every module share: finding the
// outside servers (RabbitMQ, Redis, consul, ...) that some tests need and
// deciding what a test does when one is missing; waiting for events with a
// deadline instead of sleeping ([WaitFor], [Wait], [Recv], [Group]); and a
// throwaway TLS config ([SelfSignedTLS]).
//
// A test calls [Addr] with the engine's name and default loopback address.
// The address comes from MICRO_TEST_<ENGINE>_ADDR when set. When nothing
// answers there the test is skipped with the reason, unless the engine is
// required: MICRO_TEST_REQUIRE=all (as CI sets it) or a comma-separated
// list of engine names (MICRO_TEST_REQUIRE=redis,nats) turns the skip into a
// failure, so a missing server can never pass as a green run.
package testenv

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// RequireEnv names the variable that turns skips into failures.
const RequireEnv = "MICRO_TEST_REQUIRE"

// dialTimeout bounds the probe of an engine's address.
const dialTimeout = 2 * time.Second

// AddrEnv returns the variable that overrides an engine's address:
// MICRO_TEST_ + the upper-cased engine name + _ADDR.
func AddrEnv(engine string) string {
	return "MICRO_TEST_" + strings.ToUpper(strings.ReplaceAll(engine, "-", "_")) + "_ADDR"
}

// Required reports whether MICRO_TEST_REQUIRE asks for engine.
func Required(engine string) bool {
	for _, e := range strings.Split(os.Getenv(RequireEnv), ",") {
		e = strings.TrimSpace(e)
		if e == "all" || strings.EqualFold(e, engine) {
			return true
		}
	}
	return false
}

// Addr returns the address of engine (from its variable, else def) once a
// TCP connection to it succeeds. Otherwise it skips the test with the
// reason, or fails it when the engine is required.
func Addr(t testing.TB, engine, def string) string {
	t.Helper()
	addr := os.Getenv(AddrEnv(engine))
	if addr == "" {
		addr = def
	}
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err == nil {
		_ = c.Close()
		return addr
	}
	Missing(t, engine, "nothing answers at "+addr+" ("+err.Error()+"); set "+AddrEnv(engine)+" or run make test-deps")
	return ""
}

// Missing skips the test because engine is unavailable for reason, or
// fails it when the engine is required.
func Missing(t testing.TB, engine, reason string) {
	t.Helper()
	if Required(engine) {
		t.Fatalf("%s required (%s=%s) but unavailable: %s", engine, RequireEnv, os.Getenv(RequireEnv), reason)
	}
	t.Skipf("%s unavailable: %s", engine, reason)
}
