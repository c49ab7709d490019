// Package memory is an in-process [registry.Registry]: services live in a
// map owned by the value [New] returns, so two registries never share state.
// It needs no server and is what tests and single-process programs use.
//
// The package registers itself under the name "memory"; a blank import makes
// registry.Open("memory") and --registry=memory work:
//
//	import _ "github.com/openmicro/go-micro/registry/memory"
//
// # Semantics
//
// Services are kept per name and version. Register validates its input with
// [registry.Validate] and then adds the nodes it carries, or refreshes them
// when already present: a refreshed node takes the new address and metadata,
// and the service's metadata and endpoints become those of the latest
// registration. Deregister removes only the nodes it names (unknown ones are
// ignored); a version disappears with its last node, and GetService returns
// an error wrapping [registry.ErrNotFound] once no version is left.
//
// A node registered with [registry.RegisterTTL] expires d after its latest
// registration, on a timer; registering it again restarts the timer with the
// new TTL (0 or less means no expiry). Expiry is reported to watchers like a
// Deregister.
//
// Every value passed in or handed out is a deep copy ([registry.Copy]):
// changing a *Service after registering it, or one returned by GetService,
// ListServices or a Watcher, never changes the registry.
//
// A call whose context is already done returns ctx.Err() and changes nothing.
//
// # Watch events
//
// A watcher sees every change made after Watch returns, in the order the
// changes were made. Each Result's Service carries the name, version,
// metadata and endpoints of the service version and only the nodes the
// change concerns:
//
//   - Create: nodes that were not registered in that version before.
//   - Update: nodes that were registered and have been registered again with
//     a different address or metadata, or whose service's metadata or
//     endpoints changed with this registration. A registration that changes
//     nothing (a heartbeat) only refreshes the TTL and yields no event.
//   - Delete: nodes removed by Deregister or by TTL expiry.
//
// One Register yields at most one Create (its new nodes) followed by at most
// one Update (its changed nodes); one Deregister yields at most one Delete.
//
// Events are queued per watcher without bound, so a slow reader never blocks
// Register or Deregister and never loses an event. The price is memory: each
// change builds one Result (a copy of the service's metadata and endpoints,
// Value trees included, and of the nodes concerned), shared by the queues
// of every watcher interested in it, and each queue holds a pointer per
// pending change. A Result is freed once every such watcher has read it or
// stopped, so a watcher that is neither read nor stopped keeps every
// change made after Watch in memory for as long as it lives; a service with
// large endpoint descriptions that re-registers often makes that grow fast.
// Read every watcher you create, and Stop it (or cancel its context) when
// done. Stop, or the end of the context given to Watch, ends the watcher:
// pending and later calls to Next return [registry.ErrWatcherStopped] and
// queued events are dropped. Any number of goroutines may call Next on one
// watcher; each change goes to exactly one of them.
//
// A Registry and its Watchers are safe for concurrent use.
package memory
