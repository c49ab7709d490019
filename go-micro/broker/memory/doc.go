// Package memory is an in-process [broker.Broker]: messages never leave the
// process, so it needs no server and is what tests and single-process
// programs use.
//
// The package registers itself under the name "memory"; a blank import makes
// broker.Open("memory") and --broker=memory work:
//
//	import _ "github.com/openmicro/go-micro/broker/memory"
//
// # Buses
//
// Brokers exchange messages through a [Bus]. [New] gives every broker a bus
// of its own, so two brokers built by New never see each other's messages
// and no state is global. To let several brokers talk, as separate services
// would through a real broker, build them from one bus with
// [Bus.NewBroker]. Queue groups span the whole bus: subscribers of one group
// on different brokers of a bus share the group's messages.
//
// # Delivery
//
// Delivery is asynchronous. Publish copies the message once, puts it on the
// queue of every plain subscriber of the topic and on the queue of every
// queue group of the topic, and returns without waiting for any handler.
// Queues are unbounded, so Publish never blocks, a slow subscriber never
// loses messages and a handler may Publish (or Subscribe, or Unsubscribe)
// from inside itself without deadlock.
//
// A plain subscriber runs its handler on one goroutine of its own, so it
// sees the messages of its topic in the order they were published and one
// at a time. The members of a queue group each run one goroutine taking
// from the group's shared queue: a message goes to whichever member is free
// first, and members run concurrently.
//
// Each handler call gets its own deep copy of the message (header and body),
// so neither the publisher nor another subscriber can see a change a handler
// makes, and the publisher may reuse its message once Publish returns.
//
// # Acknowledgement
//
// With auto-ack (the default) a handler that returns nil acks the message
// and one that returns an error (or panics) nacks it. With
// [broker.DisableAutoAck] the handler calls Event.Ack or Event.Nack itself,
// at any time, also after it has returned; a message it neither acks nor
// nacks counts as acked, and its returned error is only logged. The first of
// Ack and Nack settles the message; later calls do nothing and return nil.
//
// A nacked message is redelivered: it goes back to the end of the queue it
// came from (the subscriber's, or the group's, where any member may take it)
// until it has been delivered [MaxDeliveries] times in all; after that it is
// dropped and a warning is logged. Redelivery stops when the subscriber (for
// a group: its last member) unsubscribes.
//
// # Lifecycle
//
// Publish and Subscribe return [broker.ErrNotConnected] before Connect and
// after Disconnect, and [broker.ErrInvalidTopic] for an empty topic or one
// holding white space, control characters or invalid UTF-8.
//
// Unsubscribe removes the subscription at once: no message published after
// it returns reaches the handler, messages still queued for the subscriber
// are dropped (a group keeps its queue while it has members) and a call
// already under way finishes. Unsubscribe does not wait for that call, so a
// handler may unsubscribe itself. A handler's context ends when its subscription is
// unsubscribed or its broker disconnects.
//
// Disconnect unsubscribes every subscriber of the broker, cancels the
// handlers' contexts and waits, within its ctx, until their running calls
// have returned. A broker may Connect again afterwards.
//
// Brokers and Buses are safe for concurrent use.
package memory
