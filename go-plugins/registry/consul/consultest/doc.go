// Package consultest runs real consul agents for tests: [Start] starts
// `consul agent -dev` on free loopback ports, with its data in the test's
// temporary folder, waits until it serves, and stops it when the test
// ends. It is meant for tests only (the consul registry plugin's and the
// examples' end-to-end tests); a program never imports it.
//
// The agent is the consul binary that `make test-deps` (scripts/consul.sh)
// builds into ${XDG_CACHE_HOME:-$HOME/.cache}/micro/consul-v1.13.9/consul,
// or the one $MICRO_TEST_CONSUL_BIN names. Without a binary the test is
// skipped with the reason, or fails when consul is required
// (MICRO_TEST_REQUIRE=all or a list naming consul; see package
// github.com/openmicro/go-micro/testenv).
//
// Each agent is a one-node dev cluster: bound to 127.0.0.1, serving HTTP
// on its own port ([Agent.Addr]), with DNS and gRPC off, no update check,
// and its log in a file that is printed (its last 4 KiB) when the test
// failed. An agent started by a test dies with the test binary even when
// that is killed. Dev mode keeps nothing across a restart: services and
// checks are gone after [Agent.Restart].
//
// An [Agent] is safe for concurrent use; Start, Stop and Restart report
// failures through the test that created it, so call them from that
// test's goroutine.
package consultest
