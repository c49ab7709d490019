// Package registrytest is the conformance suite for [registry.Registry]
// implementations, in the manner of testing/fstest and log/slog/slogtest.
//
// An implementation's test calls [Run] with a function that builds a
// registry for one subtest:
//
//	func TestConformance(t *testing.T) {
//		registrytest.Run(t, func(t *testing.T) registry.Registry {
//			return memory.New()
//		})
//	}
//
// Run checks the whole behavioural contract of the registry package:
// registering, getting and listing services, versions kept apart,
// deregistering single nodes, re-registration replacing addresses, metadata
// and endpoints, round-tripping of metadata and endpoint Value trees, TTL
// expiry (a service whose last node expired is gone from GetService and
// ListServices) and re-registration replacing the TTL (with a longer one, a
// shorter one, or none, which means no expiry), watch events (Create, Update
// and Delete, including expiry; per-service filtering, where a name that is
// a prefix of another is a different service; a backlog read late and in
// order; Stop and context cancellation), deep-copy safety, rejection of
// invalid input, already-cancelled contexts and concurrent use.
//
// The suite is written for slow and eventually consistent backends as well
// as in-memory ones: subtests run in parallel, each uses service names of its
// own (random, lower case letters, digits, '-' and '.', at most 40 bytes), every
// observation polls until a deadline ([Wait]), TTL tests use a TTL of one
// second by default ([TTL]), and no test assumes that a change is visible at
// once. Registries built by different subtests may share one backend.
// Everything a subtest registers is deregistered when it ends.
//
// The watch contract checked is: a watcher sees every change made after
// Watch returns, in order; the changes made by one call may be reported in
// one Result or split over several, but each node appears once with the
// right action: Create when it was not registered in that service version;
// Update when it was, and is registered again with another address or other
// metadata, or together with service metadata or endpoints that differ
// from the current ones (then every node of that registration is updated,
// and only those); Delete when it was deregistered or expired. A
// registration that changes nothing (a heartbeat) yields no event, and
// neither does deregistering a node that is not registered. Results carry
// the service's name, version, metadata and endpoints and only the nodes
// concerned.
//
// Validation is the one of [registry.Validate]: Register and Deregister
// reject what it rejects with an error wrapping [registry.ErrInvalidService]
// and change nothing. A call whose context is already done returns an error
// wrapping ctx.Err() and changes nothing.
//
// Options relax the suite for backends that lack a capability
// ([WithoutTTL]); the default is strict.
//
// The suite tests itself: its own tests run it over registries with one
// deliberate defect each (nodes that never expire, a lost second node,
// shared pointers, a watcher that misses deletes or matches names by
// prefix, ...) and require the checks meant to catch each defect to fail.
package registrytest
