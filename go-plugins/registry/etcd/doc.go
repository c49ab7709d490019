// Package etcd is a [registry.Registry] that keeps services in etcd (v3 API,
// through go.etcd.io/etcd/client/v3).
//
// The package registers itself under the name "etcd"; a blank import makes
// registry.Open("etcd") and --registry=etcd (MICRO_REGISTRY=etcd) work, with
// --registry_address naming the endpoints:
//
//	import _ "github.com/openmicro/go-plugins/registry/etcd"
//
// Or build one directly with [NewRegistry] and its options. The returned
// value also implements io.Closer; Close releases the connection and the
// registry's goroutine (see below), and does not deregister anything.
//
// # Keys and values
//
// Each node is one key, <prefix><name>/<version>/<node id> (each part
// path-escaped, so a name never prefixes another's keys; the prefix is
// [DefaultPrefix] unless [Prefix] says otherwise), whose value is the JSON of
// the service (name, version, metadata, endpoints) with that one node.
// JSON carries only UTF-8, so Register refuses, with an error wrapping
// [registry.ErrInvalidService], a name, version or node id that is not
// valid UTF-8. GetService reads the service's keys and assembles the nodes
// per version; a version's metadata and endpoints are those of its most
// recently written node. ListServices returns names and versions without nodes. Keys not
// spelt as above, and values that do not decode or do not match their key,
// are skipped by every call.
//
// # TTL and leases
//
// Register with [registry.RegisterTTL] grants a lease of the TTL, rounded up
// to whole seconds (etcd also raises it to its minimum, 2s with default
// settings), and writes the key with it: the node disappears when the TTL
// passes after its latest registration, as the registry contract says.
// Registering the same node again with the same TTL, as a service's
// heartbeat does, renews that lease (one KeepAliveOnce) and writes the key
// only when the node changed, so a heartbeat costs one request and yields no
// watch event. Another TTL gets a new lease (the old one is revoked); no TTL
// writes the key without a lease. Deregister deletes the key and revokes its
// lease.
//
// The registry does not renew leases in the background: a background
// KeepAlive would keep a node alive past its TTL without registration, so a
// node that stopped heartbeating (a hung or crashed process) expires at its
// TTL whether its process still runs or not.
//
// # Surviving etcd restarts
//
// While the registry holds nodes (registered by it and not deregistered,
// with a TTL that has not passed) or has watchers, one goroutine, owned by
// the registry and stopped by Close, checks at every [CheckInterval] that
// etcd still has the keys, with read-only transactions. When etcd restarted
// without its data, it puts back what it holds (a node with a TTL with a
// lease of what is left of it; the next heartbeat restores the full TTL),
// with no call from the service (whoever removed a key: a node is put back
// for as long as the registry that registered it holds it, so deregister
// through that registry). A Register also notices a lost lease and
// grants a new one. When the store's revision is seen going back, open
// watchers end with an error wrapping [ErrDataLost], since their watch
// cannot resume on the new store: watch again (registry/cache does).
// After a restart with its data, leases and keys are still there and
// watches resume where they were.
//
// # Unreachable etcd
//
// NewRegistry does not wait for etcd (unless [Auth] is given, which
// authenticates at once). Every request is bounded by [registry.Timeout]
// (default [DefaultTimeout]); while etcd cannot be reached, or has no
// leader, calls fail with an error wrapping [ErrUnreachable] that names the
// endpoints, and succeed again once etcd is back (the connection is retried
// at least every 2s).
//
// # Watch events
//
// Watch uses an etcd watch on the prefix (the service's prefix with
// registry.WatchService) from the revision current when Watch returns, with
// previous values, and maps each event: a new key is a Create; a key written
// again with another value an Update (with the same value — a new lease —
// nothing); a deleted or expired key, or one overwritten with a value that
// does not decode, a Delete carrying the node as it was.
// Each Result carries one node. The watcher ends with Stop or the end of the
// context given to Watch; Next then returns [registry.ErrWatcherStopped].
// Unread events are buffered by the etcd client without bound.
//
// A Registry and its Watchers are safe for concurrent use.
package etcd
