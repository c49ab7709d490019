// Package http is the default [broker.Broker] of go-micro: brokers deliver
// messages to each other directly over HTTP, peer to peer, and find each
// other's subscribers through a [registry.Registry]. No broker server is
// needed.
//
// The package registers itself under the name "http"; a blank import makes
// broker.Open("http", broker.Registry(r)) and --broker=http work:
//
//	import _ "github.com/openmicro/go-micro/broker/http"
//
// Import it under another name where net/http is used too:
//
//	import httpbroker "github.com/openmicro/go-micro/broker/http"
//
// # Set-up
//
// [New] needs [broker.Registry] and fails with [ErrNoRegistry] without it.
// Connect listens on the first of [broker.Addrs] (default 127.0.0.1:0, a
// free loopback port; give a reachable address for peers on other
// machines; an unspecified host such as ":8001" is advertised as the
// machine's first non-loopback IPv4 address). With [broker.TLS] the broker
// serves HTTPS and dials its peers with the same config: give it the
// certificate to serve and the roots (or verification settings) that
// trust the peers'.
//
// # Registration
//
// Each subscription is one node of the registry service [ServicePrefix] +
// topic (topic "orders" is "go.micro.broker.http.orders"). The node's id is
// the subscriber id, its address the broker's address, and its metadata
// holds broker=http, topic, queue, subscriber and secure ("true" for TLS).
// Subscribe registers the node with a TTL of [DefaultRegisterTTL] before it
// returns; one goroutine per connected broker registers every subscriber
// again each [DefaultRegisterInterval]. When the registry cannot be
// reached, Subscribe still succeeds (it fails only when its ctx ends): the
// subscriber is kept, one warning is logged, and registration is retried
// from a second on, backing off up to the interval, so a service may start
// before its registry and be found once the registry answers. Unsubscribe
// and Disconnect deregister the nodes; a broker that dies leaves them to
// expire.
//
// # Publishing
//
// Publish looks the topic's service up through a [cache.Cache] over the
// registry (one per connection; it follows the registry by watching it, so
// a new subscriber may take a moment to be seen by other brokers) and
// posts the message to the subscribers in parallel: to every plain
// subscriber, and for each queue group to one member picked at random.
// When that member cannot be dialled, has gone, or its handler failed or
// nacked the message, the next one is tried, each member once (as other
// brokers redeliver a nacked message to another member), so the group
// gets the message once when any member takes it. Publish returns when every delivery has been
// answered, which means after the subscribers' handlers have run. While
// the registry cannot be reached, Publish keeps delivering to the
// subscribers the cache saw last (it logs the outage through
// [broker.Logger]); only a topic it never looked up fails.
//
// Publishing to a topic without subscribers is not an error. When some
// subscribers do not take the message, Publish delivers to all the others
// and returns an error that joins one [*DeliveryError] per failed
// subscriber (or group), naming it; a failed handler's error arrives as an
// *errors.Error with code 500. Subscribers that unsubscribed meanwhile are
// skipped silently. Messages above [MaxMessageSize] encoded fail with
// [ErrMessageTooLarge] before anything is sent.
//
// # Wire form
//
// A delivery is POST [Path] + subscriber id with Content-Type
// [ContentType]. Its body is one line of JSON holding the topic and the
// message header ({"topic":"orders","header":{"Id":"42"}}), a newline, and
// the message body as raw bytes. The subscriber answers 204 once its
// handler acked the message; otherwise it answers with an errors.Error as
// JSON: 500 when the handler failed or nacked, 404 for an unknown
// subscriber, 405 for a method other than POST, 413 for a body above
// MaxMessageSize and 400 for a malformed body or a topic that is not the
// subscriber's.
//
// # Acknowledgement
//
// With auto-ack a handler's nil return acks and an error (or a panic)
// nacks. With [broker.DisableAutoAck] the handler calls Ack or Nack before
// it returns; calling neither leaves the outcome to its returned error.
// Ack and Nack after the handler returned do nothing. The broker never
// redelivers: a nack reaches the publisher as a failed delivery.
//
// # Lifecycle
//
// Publish and Subscribe return [broker.ErrNotConnected] before Connect and
// after Disconnect, and [broker.ErrInvalidTopic] for an empty topic or one
// holding white space, control characters or invalid UTF-8. Unsubscribe
// stops delivery at once (later deliveries get 404; a handler already
// running finishes) and ends the handler's context. Disconnect deregisters
// and closes every subscriber, cancels the handlers' contexts, shuts the
// HTTP server down gracefully within its ctx (waiting for running
// handlers), stops the cache and closes idle client connections. Calling
// it again waits once more for what is still running. A broker may Connect
// again after Disconnect.
//
// Handlers run on the HTTP server's goroutines, so a handler may Publish,
// Subscribe or Unsubscribe without deadlock.
//
// Brokers are safe for concurrent use.
package http
