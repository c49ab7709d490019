// Package micro is go-micro's default registry: a client of the registry
// service that `micro server` hosts (service [ServiceName], at
// [DefaultAddress] unless registry.Addrs says otherwise), so that services
// on one machine find each other with no flags and nothing else to run.
//
// The package registers itself under the name "micro", which is the
// default of go-micro's --registry flag; go-micro's cmd package imports it,
// and a program that opens registries by name without cmd imports it for
// its side effect:
//
//	import _ "github.com/openmicro/go-micro/registry/micro"
//
// [NewRegistry] builds one directly. It reads registry.Addrs (the first
// address is used; the others are tried in turn when it fails),
// registry.Timeout (the bound of each request; default [DefaultTimeout],
// since a registry that stopped answering must not hold its callers
// forever), registry.TLS (to reach a service that serves TLS) and this
// package's [Logger]. It connects to nothing: the first call dials.
//
// # Protocol
//
// The registry talks go-micro RPC over the http transport, with JSON
// bodies, dialling the address directly (no selector, no registry lookup).
// The endpoints are Registry.Register, Registry.Deregister,
// Registry.GetService and Registry.ListServices, whose request and
// response messages are the exported types of this package
// ([RegisterRequest] and so on), and the stream Registry.Watch
// ([WatchRequest], [WatchResponse]). The service side is
// registry/micro/handler.
//
// # Errors
//
// Register and Deregister check their input with registry.Validate before
// sending it. GetService of an unknown service returns an error wrapping
// registry.ErrNotFound; only the registry service's own answer for an
// unknown service means that, so a server at the address that lacks the
// registry's endpoints gives an error saying so instead. A call that finds nothing answering at the address
// returns an error matching [ErrUnreachable] that names the address and
// what to do:
//
//	registry micro: nothing answers at 127.0.0.1:8000: start it with "micro server" or choose another registry with --registry
//
// (or "cannot reach the registry at ... (reason)" when something answered
// but not as a registry, such as a TLS mismatch). A go-micro server whose
// registry is down logs that error once, keeps serving and keeps trying to
// register. An error the service answers with is wrapped, its
// *errors.Error intact. A call whose context ends returns an error wrapping
// ctx.Err().
//
// # Watching
//
// Watch opens a stream, on which the service first sends a snapshot of the
// services watched and then every change; Watch returns once the snapshot
// is in, so every change made after it returns is seen. The watcher keeps
// what it knows of the registry (the snapshot plus the changes since, a
// copy of every service version it watches, endpoints included) and
// reports each change relative to it: a change it already knows of is not
// reported again.
//
// When the stream breaks (the server restarted or stopped, the connection
// dropped, or the server ended it because the watcher's caller read too
// slowly), the watcher reconnects by itself, for as long as it takes: at
// once, then with jittered waits doubling from 0.1 up to 3 seconds. A
// stream that breaks less than 10 seconds after it opened counts as a
// failed try, so a registry that ends every watch straight away is not
// hammered by reconnections. On reconnecting it compares the new snapshot with what
// it knew and reports the difference (Delete of the nodes gone, Create of
// the nodes new, Update of the nodes changed) before the changes that
// follow. So a watcher never shows a node that went while it was away; a
// server that comes back empty yields a Delete of every node, and a
// Create of each as its service registers again. The loss is logged as a
// warning, and the reconnection at info level, by the first watcher to
// see it (at most one warning a minute; the other watchers log at debug
// level). The watcher reads the stream in Next, so it notices a break, and
// reconnects, while a Next is waiting. Stop and the end of the watch's
// context end it, even while it reconnects; Next then returns
// registry.ErrWatcherStopped.
//
// # Close and Options
//
// The value NewRegistry returns implements io.Closer: Close stops its
// watchers and closes its connections, and calls after it return
// [ErrClosed]. It also has Options() registry.Options, which gives the
// addresses in use (the server's registration warning shows them). A
// Registry and its watchers are safe for concurrent use; concurrent Next
// calls on one watcher each get different changes.
package micro
