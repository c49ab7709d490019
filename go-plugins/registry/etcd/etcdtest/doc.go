// Package etcdtest embeds a real etcd in the test process, with
// go.etcd.io/etcd/server/v3/embed: [Start] runs a one-member cluster on
// free loopback ports, with its data in the test's temporary folder, waits
// until it serves, and stops it when the test ends. It is meant for tests
// only (the etcd registry plugin's and the examples' end-to-end tests); a
// program never imports it.
//
// The member is tuned for tests, not for keeping data: fsync is off, the
// election is fast (which also lowers etcd's minimum lease TTL to 1s),
// password hashing is the cheapest, the gRPC gateway is off and etcd's
// own log is discarded (a failed start still surfaces as an error). The
// client port serves plain HTTP, or TLS with the [TLS] option.
//
// A [Server] can be stopped and started again on the same ports, with its
// data ([Server.Stop], [Server.Start]) or without it ([Server.Wipe]), to
// test what clients do when etcd restarts or loses its disk. Once stopped,
// it leaves no goroutine behind.
//
// [NewServer] does the same without a test, for examples and programs
// that clean up themselves. A Server is safe for concurrent use.
package etcdtest
