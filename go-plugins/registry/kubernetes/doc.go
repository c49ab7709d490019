// Package kubernetes is a go-micro registry that keeps services on the
// pods that run them, through the Kubernetes API (k8s.io/client-go).
//
// A blank import registers it under the name "kubernetes", so that
// --registry=kubernetes (or MICRO_REGISTRY=kubernetes) selects it:
//
//	import _ "github.com/openmicro/go-plugins/registry/kubernetes"
//
// A service instance is its pod. Register patches the registry's own pod
// (POD_NAME in POD_NAMESPACE, see [PodName] and [Namespace]) with a JSON
// merge patch that sets
//
//   - the label micro.mu/type=service ([TypeLabel]), on every pod that
//     carries a service;
//   - the label micro.mu/selector-KEY=service ([SelectorPrefix]), which
//     GetService and per-service watches select on;
//   - the annotation micro.mu/service-KEY ([ServicePrefix]): JSON holding,
//     for each version of the service, its metadata and endpoints and the
//     pod's nodes of it.
//
// KEY is the service name when it fits the syntax and the 63-byte limit of
// label keys, else a readable prefix of it followed by "--" and a hash; the
// real name is always in the annotation. Several nodes and services on one
// pod coexist: one annotation per service name holds all the pod's nodes of
// it. Deregister removes nodes, the annotation when none is left, and the
// labels with it. Each write carries the pod's resource version, so that
// concurrent writers of one pod retry rather than lose each other's change.
//
// GetService and ListServices list the pods by label and read the
// annotations of the ready ones: a pod counts while it is Running, not
// being deleted and its Ready condition is True, which is the rule by which
// Kubernetes sends a Service's traffic to a pod. Watch lists and then
// watches pods, and turns each change of a pod (added, changed, no longer
// ready, deleted) into Create, Update and Delete results for the nodes
// concerned.
//
// A pod that dies is removed by Kubernetes, and its nodes with it, which is
// the Kubernetes way of expiring a crashed instance. [registry.RegisterTTL]
// is honoured as well: each node's expiry time is stored in the annotation,
// readers leave out nodes past it and watchers report them deleted when it
// passes by their own clock. Clocks of the pods must therefore agree to
// well within the TTL (NTP does that).
//
// The registry needs permission to get, list, watch and patch pods in its
// namespace (see the README for the Role). Its values are safe for
// concurrent use.
//
// The package is tested against client-go's fake clientset
// (k8s.io/client-go/kubernetes/fake) and a test HTTP server in front of it,
// not against a real API server.
package kubernetes
