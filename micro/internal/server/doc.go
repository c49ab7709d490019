// Package server is what `micro server` runs: one process hosting the
// services a machine needs, each a [Part] started in order and stopped in
// reverse.
//
// The parts are, for now:
//
//   - broker: the broker of the global flags (go-micro's http broker by
//     default, peer to peer through the registry), connected.
//   - registry: the registry service go.micro.registry, a go-micro server
//     on [DefaultAddress] (127.0.0.1:8000, the address the "micro"
//     registry of every service dials) serving
//     github.com/openmicro/go-micro/registry/micro/handler over the
//     backend registry: memory (with TTL expiry), etcd or consul.
//
// The API gateway, the web UI, the sidecar and the platform services are
// to be added to the list as further parts.
//
// Stop ends the registry's watch streams, deregisters and drains the
// server, then disconnects the broker. A Server is safe for concurrent
// use; Start may be called once and Stop is idempotent.
package server
