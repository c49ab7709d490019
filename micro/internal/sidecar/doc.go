// Package sidecar is what `micro sidecar` runs: the HTTP face of go-micro
// for apps written in any language. An app beside it registers services,
// calls them, and publishes and subscribes over plain HTTP and websockets,
// and the sidecar can register the app itself and keep it registered while
// it is healthy.
//
// # Endpoints
//
// A [Server] serves (as an http.Handler, or on its own listener after
// [Server.Start], default [DefaultAddress] "127.0.0.1:8081"):
//
//   - GET /registry?service=NAME: the service's registry records, a JSON
//     array of registry.Service (one per version); 404 when it is unknown.
//     GET /registry without service: every service, as such an array.
//   - POST /registry: register the registry.Service in the JSON body; an
//     optional ttl query parameter (a duration such as 30s, or whole
//     seconds) makes its nodes expire unless registered again. DELETE
//     /registry: deregister the nodes of the body's service. Both answer
//     200 with {}.
//   - POST /rpc: call any endpoint, {"service", "endpoint", "request"}
//     (the API gateway's handler, micro/internal/api.RPCHandler).
//   - /[service]/[method]: call the endpoint the path resolves to in the
//     [Namespace] (default "go.micro.api"), as the API gateway does
//     (api.CallHandler).
//   - GET /broker?topic=T[&queue=G][&mode=M]: a websocket that publishes
//     to and subscribes on topic T; see below.
//
// Every error is answered with its status and the go-micro errors JSON
// body ({"id","code","detail","status"}), and the sidecar keeps serving: a
// malformed body or an invalid registry.Service (registry.Validate) is
// 400, an unknown service 404, a registry that cannot be reached 503, a
// wrong method 405 (with Allow), a body over [MaxBodySize] 413, a missing
// or invalid topic, queue or mode 400, and a request to /broker that is
// not a websocket handshake 400, a socket beyond [MaxSockets] 503.
//
// # Who may call
//
// Anyone who reaches the sidecar may register, deregister and call any
// service and publish on any topic: it has no authentication, by design,
// for the app beside it. Listen on loopback (or a pod's or container's
// private network) and do not expose it beyond the host.
//
// Browsers may call from the [CORSOrigins] ("*" for any). Every request of
// a browser page on another origin is refused with 403, whatever its
// method, since CORS alone only hides the answer of a request that has
// already registered or called something: a request whose Origin is
// neither one of those nor the sidecar's own host, and one without an
// Origin whose Sec-Fetch-Site is cross-site or same-site. A preflight from
// such an origin is refused too, and so is a /broker handshake (no
// cross-site websocket hijacking). Clients that are not browsers send
// neither header and are served.
//
// # The /broker websocket
//
// The query names the topic (required, as broker.ValidateTopic accepts),
// the queue group (optional) and the mode: "pubsub" (the default), "pub"
// (publish only) or "sub" (subscribe only). The subscription is made
// before the handshake completes, so once the socket is open no event is
// missed (with the http broker, a publisher finds the new subscriber once
// its registry cache does).
//
//   - App to sidecar: each text or binary frame is published as one event
//     on the topic. Its body is the frame's bytes; its Content-Type header
//     is application/json when the bytes are valid JSON and
//     application/octet-stream otherwise, so go-micro subscribers decode
//     it into a struct or a []byte; Micro-Topic and Micro-Id are set too.
//     Frames are published one at a time, in order: a slow broker slows
//     the app's writes down. A publish that fails is logged and the socket
//     stays open; a broker that is not connected closes it (1011). A frame
//     on a "sub" socket closes it (1008), and one over MaxBodySize closes
//     it with 1009.
//   - Sidecar to app: each event the subscription receives is written as
//     one frame holding the event's body: a text frame when the body is
//     valid UTF-8, a binary frame otherwise. Headers are not sent. A
//     "pubsub" socket gets its own events back, like any subscriber.
//   - Queue groups: sockets (and go-micro subscribers) with the same
//     queue=G share the topic's events, each event going to one of them;
//     sockets without a group each get every event. A socket in a group
//     acks an event only once its frame is written to the connection, and
//     nacks it when the socket closes first, after unsubscribing, so that
//     a broker that redelivers (memory, nats, rabbitmq) gives it to
//     another member: none is lost to a closing member and none is
//     delivered twice. (A frame written but not yet read by an app that
//     then fails is lost; the websocket protocol has no acks of its own.)
//   - Slow consumers: events wait in a buffer of at most [SocketBuffer]
//     events (default 64) and [SocketBufferBytes] bytes (default 8 MiB; a
//     lone event is taken whatever its size). When an event arrives that
//     does not fit, the socket is closed with [CloseSlowConsumer] (1008)
//     and the reason "sidecar: slow consumer: N events (B bytes) unread";
//     the broker is never blocked by a full buffer. In a queue group that
//     event and those buffered are nacked; otherwise they are dropped.
//   - Keep-alive: the sidecar pings every [KeepAlive] (default 30s); a
//     socket from which nothing arrives (no frame, ping or pong) during
//     two of these intervals in a row is closed (1008). Websocket clients
//     answer pings by themselves.
//   - Closing: when the app closes the socket, or the connection fails, the
//     subscription ends. [Server.Stop] closes every socket with
//     [CloseStopping] (1001) and the reason "sidecar: stopping".
//
// # Registering the app
//
// With [App] the sidecar registers the app beside it, a node of the named
// service at its host:port, with [RegisterTTL] (default 90s) and renews it
// every [RegisterInterval] (default 30s), like a go-micro server
// (--register_ttl, --register_interval). While the registry cannot be
// reached it logs one warning and retries, backing off up to the interval.
// With [HealthCheck] it GETs the app's health URL every interval: the app
// is registered once the answer is 2xx, deregistered when it is not
// [HealthThreshold] times in a row (3 by default, so that one lost answer
// does not take a working app away) and registered again on its next 2xx. Redirects are not followed (a
// 3xx is not healthy), no proxy is used, and a health URL that leads back
// to the sidecar itself is never taken for the app's answer. Stop
// deregisters it, within its ctx.
//
// A Server is safe for concurrent use. Start may be called once; Stop is
// idempotent. The client, registry and broker belong to the caller: Start
// connects the broker (a no-op when it is connected), and nothing here
// disconnects or closes them.
package sidecar
