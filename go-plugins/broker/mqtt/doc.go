// Package mqtt is a [broker.Broker] over MQTT 3.1.1, for servers such as
// Mosquitto, EMQX, HiveMQ or VerneMQ, through the Eclipse Paho client
// (github.com/eclipse/paho.mqtt.golang).
//
// The package registers itself under the name "mqtt"; a blank import makes
// broker.Open("mqtt") and --broker=mqtt work:
//
//	import _ "github.com/openmicro/go-plugins/broker/mqtt"
//
// # Set-up
//
// [New] dials nothing; Connect does. It connects to [broker.Addrs]
// (default [DefaultAddress], tcp://127.0.0.1:1883), trying them in order.
// An address is host:port or a URL with scheme tcp, mqtt, tls, ssl, mqtts,
// ws or wss; without a port it gets 1883 (8883 for TLS). [broker.TLS]
// secures the connection: tcp:// and addresses without a scheme then use
// TLS, ws:// becomes wss://. User name and password come from
// [Credentials] or from the address (tcp://user:password@host). Connect
// fails when the first connection cannot be made within its ctx and
// [ConnectTimeout].
//
// # Topics
//
// A broker topic maps to one MQTT topic name: dots become slashes
// ("go.micro.orders" is "go/micro/orders"), see [MapTopic]. Topics holding
// '/', '+' or '#', or starting with '$', are refused with an error wrapping
// [broker.ErrInvalidTopic], so the mapping stays one to one and a topic can
// never act as a wildcard.
//
// # Messages
//
// MQTT 3.1.1 has no message headers, so the header and body of a
// [broker.Message] travel together in an envelope ([EncodeEnvelope]): a
// magic byte 0xC0, a version byte (1), the number of header entries, each
// key and value prefixed with its length as an unsigned varint, and then
// the body as is. Encoding takes one allocation. An envelope carries at
// most [MaxHeaders] header entries: Publish refuses more with
// [ErrMessageTooLarge], so a hostile payload cannot make a subscriber
// allocate many times its size. A received payload that
// is not a valid envelope (another client's JSON, a truncated or a future
// envelope) never reaches a handler and never stops the subscriber: it is
// acknowledged, logged at warn level and given to the [ErrorHandler] as a
// [*DeliveryError] wrapping [ErrInvalidEnvelope].
//
// Publish waits, within its ctx, for the server to take the message: the
// PUBACK at QoS 1 (the default, see [QoS]), PUBCOMP at QoS 2, the write at
// QoS 0. While the connection is down a QoS 1 or 2 message is kept by the
// client and sent once it is back (Publish still ends with its ctx); at
// QoS 0 Publish fails with [ErrReconnecting]. Messages are never retained.
//
// The server's acknowledgement means it has queued the message for the
// subscribers, not that they got it: a server bounds what it queues for a
// client that lags, and drops the rest, QoS 1 and 2 included (Mosquitto's
// max_queued_messages, 1000 by default, beyond the in-flight window). A
// subscriber that must keep up with bursts larger than that needs the
// limit raised on the server (0 lifts it).
//
// # Subscriptions and queue groups
//
// All the subscriptions of a broker to one topic share one MQTT
// subscription, and each gets its own copy of every message. A queue group
// ([broker.Queue]) is an MQTT shared subscription, $share/<group>/<topic>:
// the server hands each message to one member of the group, across
// processes. Because an MQTT 3.1.1 PUBLISH does not say which of a client's
// subscriptions it matched, each queue group a broker uses gets a
// connection of its own (client id [ClientID] + "-q-" + group), opened on
// the first Subscribe with that group and kept until Disconnect; within
// the broker the members of a group take from one local queue.
//
// Shared subscriptions exist in MQTT 5 and in many 3.1.1 servers
// (Mosquitto since 1.6, EMQX, HiveMQ, VerneMQ). With
// [SharedSubscriptions](false) Subscribe with a queue group fails at once
// with [ErrQueueUnsupported]; otherwise a server that answers the SUBSCRIBE
// with a failure makes it fail with [ErrQueueUnsupported] and
// [ErrRefused]. A server that accepts the filter without supporting it
// (it then matches nothing) cannot be told apart; declare it.
//
// Subscribe returns once the server has acknowledged the subscription
// (SUBACK), so a message published after it returns is delivered. While
// the connection is lost and being re-established, Subscribe waits for it
// within its ctx, and fails with an error wrapping [ErrReconnecting] and
// the ctx's error when the ctx ends first.
// Unsubscribe stops delivery at once and, when it was the broker's last
// subscription of its filter, unsubscribes at the server and waits for the
// UNSUBACK within its ctx.
//
// Each subscriber runs its handler on a goroutine of its own, one message
// at a time in the order received; handlers may Publish, Subscribe and
// Unsubscribe. Messages wait for a handler in a queue bounded by
// [MaxPending]; beyond it they are dropped and reported ([ErrOverflow]).
//
// # Acknowledgement
//
// At QoS 1 the server gets the PUBACK of a message (at QoS 2 the PUBREC)
// only once every subscriber of this broker that received it has settled
// it: with auto-ack when its handler returns, with [broker.DisableAutoAck]
// when it calls Event.Ack or Event.Nack, which it may do after returning.
// Until then the message holds one slot of the server's in-flight window
// for the connection (Mosquitto's max_inflight_messages, 20 by default), so
// a handler that never settles its messages stalls delivery on that
// connection once the window is full. A message not yet acknowledged when
// the connection drops is delivered again by the server when the session
// resumes (CleanSession(false)), so a handler may see it twice.
//
// MQTT 3.1.1 has no negative acknowledgement: Nack, like a handler error
// with auto-ack, settles the message as well; it is not redelivered, and
// with auto-ack the failure is logged at warn level. At QoS 0 Ack and Nack
// only mark the message done. The first of Ack and Nack counts; later calls
// return nil. A panicking handler is recovered, logged and counts as a nack.
//
// # Connection loss and sessions
//
// A lost connection is re-established automatically with exponential
// back-off up to [MaxReconnectInterval], logged through [broker.Logger]
// (warn on loss, info once back). After every reconnection the broker
// subscribes again to all its filters, since a restarted server may have
// lost them, and checks the SUBACK. With [CleanSession](true), the default,
// the server forgets the session on disconnection, so messages published
// while the connection is down are not delivered. With CleanSession(false)
// and a stable [ClientID] the server keeps the subscriptions and queues QoS
// 1 and 2 messages for the client while it is away, also across
// Disconnect and a later Connect (even in another process): the queued
// messages arrive right after CONNECT and are held, unacknowledged, for up
// to 10 seconds for a Subscribe to their topic to take them; Unsubscribe
// removes a subscription from the server's session.
//
// # Lifecycle
//
// Publish and Subscribe return [broker.ErrNotConnected] before Connect and
// after Disconnect. Disconnect stops every subscriber, ends the handlers'
// contexts, waits within its ctx for running handlers and then closes the
// connections, also when ctx ended first (it then returns an error
// wrapping ctx's); messages still queued for a handler are not
// acknowledged. Calling it again waits for the handlers once more. A
// broker may Connect again after Disconnect.
//
// Brokers are safe for concurrent use.
package mqtt
