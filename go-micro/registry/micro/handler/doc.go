// Package handler is the service side of go-micro's "micro" registry: a
// go-micro handler that serves any registry.Registry (usually the memory
// one) to the clients of registry/micro. `micro server` hosts it; any
// go-micro server can:
//
//	h := handler.New(memory.New())
//	srv, _ := server.New(server.Name(micro.ServiceName), server.Address(":8000"), ...)
//	_ = srv.Handle(srv.NewHandler(h))
//	_ = srv.Start(ctx)
//	...
//	_ = handler.Close(h) // ends the watch streams
//	_ = srv.Stop(ctx)
//
// The handler's type is named Registry, so its endpoints are
// Registry.Register, Registry.Deregister, Registry.GetService,
// Registry.ListServices and the stream Registry.Watch, with the request and
// response messages of package registry/micro (JSON).
//
// # Requests
//
// Register and Deregister take a service that registry.Validate accepts,
// and Register a TTL that is not negative: the nodes then expire unless
// registered again within it, which the backing registry does (the memory
// registry expires nodes on a timer and reports it to watchers as a
// Delete). GetService takes a service name. A request that breaks these
// rules, or that does not decode, gets errors.BadRequest (400) with a
// detail saying what is wrong, and changes nothing; GetService of an
// unknown service gets errors.NotFound (404), which the client turns back
// into registry.ErrNotFound. The backing registry's other failures come
// back as 500 naming it, and a call whose context ended as 408 or 499.
// Errors carry the Id "go.micro.registry".
//
// # Watch
//
// A Watch stream starts with one micro.WatchRequest from the client. The
// handler starts watching the backing registry, then sends the snapshot:
// one micro.WatchSnapshot message per service version watched (from
// GetService, so with all its nodes), then micro.WatchReady, then a
// micro.WatchEvent per change. A change made while the snapshot is read
// may show both in it and as an event; the client sorts that out. The
// watch ends when the client closes or half-closes its side of the
// stream, when the call ends, or at [Close], which ends every open watch
// with a 503 (errors.ServiceUnavailable) telling its client to reconnect
// and refuses new ones; unary calls are served after Close.
//
// A client that reads slower than the registry changes is not given
// unbounded memory: past the transport's window (1 MiB per stream for
// the http transport), the changes wait in a backlog bounded by
// [MaxBacklog] (default 8 MiB). A watch whose backlog would overflow
// stops its backend watcher at once and, once the client has read what
// is already on its way, ends with a 503 saying it fell behind; the
// client reconnects and resyncs from a fresh snapshot, so no change is
// lost to it. A client that stopped reading altogether keeps the stream
// (and the goroutine sending on it) until it reads, leaves or the server
// stops: go-micro's server gives a handler no way to abandon a Send that
// waits for its client. Close stops the backend watchers of such watches
// at once all the same.
//
// Close is a function, not a method, because server.NewHandler makes
// every exported method of the handler an endpoint and rejects methods of
// any other shape. Call it before the server's Stop, which otherwise
// waits for the open watch streams until its context ends.
//
// A Registry is safe for concurrent use; the server calls its methods
// from one goroutine per call. Each open watch holds one backend watcher,
// its backlog, one goroutine that moves the backend's changes into the
// backlog and one that notices the client leaving.
package handler
