package micro

import (
	"fmt"
	"time"

	"github.com/openmicro/go-micro/registry"
)

// The messages of the registry service's endpoints, carried as JSON
// (application/json). The client in this package sends them, and the
// service side (registry/micro/handler) serves them.

// RegisterRequest is the request of Registry.Register: register the nodes
// of Service.
type RegisterRequest struct {
	// Service is the service and the nodes to register; it must pass
	// registry.Validate.
	Service *registry.Service `json:"service"`
	// TTL makes the nodes expire unless registered again within it; 0 (or
	// absent) means no expiry. In nanoseconds on the wire; negative is
	// rejected.
	TTL time.Duration `json:"ttl,omitempty"`
}

// RegisterResponse is the (empty) response of Registry.Register.
type RegisterResponse struct{}

// DeregisterRequest is the request of Registry.Deregister: remove the nodes
// of Service (only their ids matter).
type DeregisterRequest struct {
	// Service must pass registry.Validate.
	Service *registry.Service `json:"service"`
}

// DeregisterResponse is the (empty) response of Registry.Deregister.
type DeregisterResponse struct{}

// GetServiceRequest is the request of Registry.GetService.
type GetServiceRequest struct {
	// Service is the name of the service; it must not be empty.
	Service string `json:"service"`
}

// GetServiceResponse is the response of Registry.GetService: one entry per
// version. A service with no node is a 404 error, not an empty list, whose
// detail is exactly `service "NAME" not found` (NAME quoted as Go quotes
// strings); the client takes only that 404 for registry.ErrNotFound.
type GetServiceResponse struct {
	Services []*registry.Service `json:"services"`
}

// notFoundDetail is the detail of the registry service's 404 for an
// unknown service.
func notFoundDetail(name string) string { return fmt.Sprintf("service %q not found", name) }

// ListServicesRequest is the (empty) request of Registry.ListServices.
type ListServicesRequest struct{}

// ListServicesResponse is the response of Registry.ListServices: one entry
// per name and version.
type ListServicesResponse struct {
	Services []*registry.Service `json:"services"`
}

// WatchRequest is the first and only message a client sends on a
// Registry.Watch stream. The client then keeps its side of the stream
// open: closing it ends the watch.
type WatchRequest struct {
	// Service limits the watch to one service name; empty watches all.
	Service string `json:"service,omitempty"`
}

// The Type of a [WatchResponse].
const (
	// WatchSnapshot carries, in Service, one service version with all its
	// nodes as it stood when the watch started.
	WatchSnapshot = "snapshot"
	// WatchReady follows the last WatchSnapshot: the snapshot is complete
	// and every later message is a WatchEvent.
	WatchReady = "ready"
	// WatchEvent carries one change: Action and Service as in a
	// registry.Result.
	WatchEvent = "event"
)

// WatchResponse is one message of a Registry.Watch stream from the
// service. A stream starts with zero or more WatchSnapshot messages, then
// one WatchReady, then WatchEvent messages for every change made after the
// service started watching its backend, in order.
type WatchResponse struct {
	// Type is WatchSnapshot, WatchReady or WatchEvent.
	Type string `json:"type"`
	// Action is the change of a WatchEvent: create, update or delete.
	Action registry.Action `json:"action,omitempty"`
	// Service is the service version of a WatchSnapshot (with all its
	// nodes) or of a WatchEvent (with the nodes the change concerns).
	Service *registry.Service `json:"service,omitempty"`
}

// The endpoints of the registry service.
const (
	endpointRegister     = "Registry.Register"
	endpointDeregister   = "Registry.Deregister"
	endpointGetService   = "Registry.GetService"
	endpointListServices = "Registry.ListServices"
	endpointWatch        = "Registry.Watch"
)
