// Package registries is the end-to-end test of the greeter example over
// the registry plugins of go-plugins: for each of consul and etcd it runs
// a real engine (a consul agent from consultest, an embedded etcd from
// etcdtest), starts the greeter service with --registry and
// --registry_address as a user would, and calls it from a separate client
// service whose default selector finds it through its own registry and a
// registry cache. It has no non-test code.
//
// The consul part needs the consul binary that `make test-deps` builds;
// without it that part is skipped with the reason, or fails under
// MICRO_TEST_REQUIRE=all. The etcd part always runs.
package registries
