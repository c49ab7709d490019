// Package consul is a go-micro registry kept in HashiCorp consul.
//
// A blank import registers it under the name "consul", so that
// --registry=consul (or MICRO_REGISTRY=consul) and
// --registry_address=host:8500 select it:
//
//	import _ "github.com/openmicro/go-plugins/registry/consul"
//
// or it is built directly with [NewRegistry] and the generic options
// (registry.Addrs, registry.TLS, registry.Timeout) and its own
// ([Token], [Datacenter], [KeepaliveTTL], [DeregisterCriticalAfter],
// [WatchWait]).
//
// # How services are kept
//
// Every node is one consul service instance, registered with the consul
// agent the registry talks to: consul's service name is the registry
// service name, its ID is derived from name, version and node id, its
// address and port are the node's, and its tags are "micro" and
// "micro-version=<version>". Everything else (version, node id, address and
// metadata, the service's metadata and endpoints) is a JSON document,
// deflated, base64-encoded and split over the instance's metadata values
// (keys micro_0, micro_1, ...), because consul limits service metadata to
// 64 pairs of 512-byte values with keys of [a-zA-Z0-9_-]. A registration
// may take [MaxEncodedSize] bytes encoded (31.5 KiB), which holds hundreds
// of endpoints, as JSON endpoint trees deflate well (a test registers 400
// endpoints, 660 KB of JSON, which encode to 20 KB); a larger one fails
// with [ErrTooLarge] and registers nothing. Consul services not written by
// this plugin are ignored.
//
// # TTL and health
//
// Each instance has one consul TTL check. A node registered with
// registry.RegisterTTL(d) gets a check with TTL d that Register passes:
// registering the same node again (go-micro's server does so every
// register interval) only passes the check, one request that writes
// nothing to consul's catalog, so watchers see no event. If it is not
// registered again within d (its process crashed or hangs), the check goes
// critical and the node leaves GetService, ListServices and watchers at
// once; consul deregisters it [DeregisterCriticalAfter] later (one minute
// at least: consul's minimum). The registry never extends a TTL on its own,
// as the registry contract says.
//
// A node registered without a TTL does not expire while the Registry that
// registered it is open: its check has the TTL [KeepaliveTTL] and the
// registry passes it every third of that. If the process stops without
// deregistering, the node goes critical after the keepalive TTL and is
// removed like any other.
//
// GetService returns only nodes whose checks, and their consul node's
// checks, all pass.
//
// # Keepers, restarts and Close
//
// The registry runs one goroutine per node it registered (its keeper),
// stopped by Deregister, by the lapse of the node's TTL, or by Close. The
// keeper passes keepalive checks and, every third of the TTL, makes sure
// the agent still has the node: a consul agent that restarted and lost its
// state (or reaped the node) gets the node again within a third of the TTL,
// with what is left of it, without any call from the owner. Register does
// the same when it finds the node's check gone. So a go-micro server's
// nodes come back by themselves after a consul restart: through their
// keepers, and at the latest at the server's next re-registration. The
// keeper cannot tell a lost node from one removed behind its back: a node
// deregistered through another registry or consul's own API comes back too
// while the registry that registered it keeps it.
//
// The value NewRegistry returns implements io.Closer. Close stops the
// keepers and watchers and releases connections, without deregistering
// (so it acts like the process stopping); call it when the registry is no
// longer used. Methods called after Close return [ErrClosed], and so do
// the requests in flight when it is called, which Close ends and waits for.
//
// # Watching
//
// Watch uses consul's blocking queries (long polls on consul's raft index;
// Stop, the watch's context and Close end them at once): on the service's
// health for registry.WatchService, otherwise on the health checks of
// every plugin instance and node, reading the services whose checks
// changed (each instance's check carries a hash of its registration, so
// any change of an instance moves its check).
//
// Consul reports states, not events: a watcher reports the difference
// between two states it read, one Result per node, in the order of the
// raft index of each change (Create and Update at the index of the
// registration, Delete on expiry at the index where the check went
// critical). A node counts while all its checks (and its consul node's)
// pass, as in GetService: a node whose TTL lapsed is reported deleted as
// soon as its check goes critical, long before consul removes it.
//
// Changes made through the same Registry value are reported exactly: after
// each Register and Deregister, and before they return, the registry reads
// the service again and hands that state to its watchers, so they see
// every such change, in order. A GetService hands its read to the watchers
// of that name too, so a watcher never leaves unreported a state its
// registry has answered with; and when a watcher has read a newer state
// than GetService's own read (consul can answer a plain read with an older
// index than a blocking query returned), GetService answers with that
// state. So a cache over the registry that refetches on each event cannot
// keep a node no watcher reported gone. Changes made
// elsewhere (other processes, expiry) are seen through the blocking
// queries, with two limits: changes between two reads are merged (a node
// registered and removed in between is not seen at all), and consul keeps
// no index of a removal, so several removals seen in one read come after
// the read's other changes, oldest registration first.
//
// # Concurrency
//
// A Registry and its watchers are safe for concurrent use.
package consul
