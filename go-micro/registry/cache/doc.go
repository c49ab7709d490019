// Package cache is a [registry.Registry] decorator that serves GetService
// from memory and keeps what it serves fresh by watching the registry
// underneath.
//
// The first GetService of a service name fetches it from the underlying
// registry and starts one watch for that name (registry.WatchService); each
// change the watch reports refetches the service, so the cache follows the
// registry closely. An entry is also refetched when it is older than the TTL
// ([TTL], one minute by default), which bounds staleness while a watch is
// broken. Concurrent misses of one name share a single fetch.
//
// A caller with an answer in the cache does not wait for the registry: an
// answer older than the TTL is returned at once (stale-while-revalidate)
// and one fetch of that name starts in the background, never more than one
// at a time per name however many callers ask. Its result replaces the
// answer when it arrives (a [registry.ErrNotFound] included: nodes the
// registry says are gone are not served on). Callers wait for a fetch only
// when the cache has no answer for the name yet, and after an invalidation
// (a Register or Deregister through the cache, or a change its watch
// reports) until the first fetch that follows it ends. Each fetch the cache
// makes on its own is bounded by [FetchTimeout] (ten seconds by default).
//
// When the underlying registry cannot be reached (GetService or Watch
// fail with anything but [registry.ErrNotFound], or outlast the fetch
// timeout) the cache keeps serving the last nodes it saw and retries: the
// watch with a bounded, jittered exponential backoff ([Backoff]), and the
// fetch no sooner than that backoff allows. Only a name that was never
// fetched successfully returns the error.
//
// Every GetService result is a deep copy: callers may change it freely.
// Readers on a hot path use [Cache.Snapshot] instead: the same answer,
// not copied, read-only, with a generation number that changes only when
// the stored answer does (the selector sorts a service's nodes once per
// generation rather than on every call). The cache never modifies an
// answer it has stored; it replaces it.
// Register and Deregister pass through and invalidate the entry of that
// service, so a caller reads its own writes. ListServices and Watch pass
// straight through.
//
// A Cache is safe for concurrent use. Reading a stored answer that may be
// served (fresh, within the retry delay of a failed fetch, or stale while
// its background refetch runs) takes no lock, so parallel readers do not
// contend; everything else is serialised. It owns one goroutine per
// watched service name and one per background refetch; [Cache.Close]
// cancels all of them and waits for them. After Close, GetService passes
// straight through to the underlying registry.
// An entry that GetService has not asked for during the idle time ([Idle]:
// five TTLs, but at least ten minutes, by default) is dropped and its watch
// stopped, so names asked for once (a broker's topics, say) do not hold a
// goroutine for the life of the Cache.
//
// The cache relies on the underlying registry to honour the context it is
// given: a Watch or GetService that ignores the end of its context and
// never returns keeps Close waiting. A first GetService waits for the
// name's watch to start (so that no change falls between the fetch and the
// watch) for at most a second; a registry whose Watch is slower is fetched
// from anyway and refetched once the watch runs.
package cache
