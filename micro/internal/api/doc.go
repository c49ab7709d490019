// Package api is the HTTP API gateway behind `micro api`: it turns HTTP
// requests into calls to go-micro services, reverse-proxies to their HTTP
// servers, and publishes events, with CORS, TLS, body size limits, request
// timeouts, an access log and errors mapped to HTTP status.
//
// # The gateway
//
// [New] builds a [Server] from options; [Server.Start] listens on
// [Address] (":8080" by default; HTTPS, HTTP/2 included, with [TLS] or
// [TLSFiles]) and [Server.Stop]
// shuts it down gracefully. [Server.ServeHTTP] is the whole router, for
// tests with net/http/httptest. Its routes:
//
//   - POST /rpc: [RPCHandler], the service, endpoint and request named in
//     the body. Mounted when a [Client] is given.
//   - /event/[topic]: POST publishes the body on the [Broker] (mounted
//     when a broker is given).
//   - / (everything else): the handler chosen with [Handler]:
//     "rpc" (the default): [CallHandler], /[service]/[method] resolved
//     with [Resolve] in the [Namespace] ("go.micro.api" by default), JSON
//     in and out;
//     "api": the same resolution, the HTTP request sent as an
//     api.Request (github.com/openmicro/go-micro/api) with the protobuf
//     codec, and the api.Response answered written as the HTTP response;
//     "proxy": a reverse proxy (websockets included) to the HTTP server of
//     the service namespace + "." + the path's first element, the path
//     kept as received;
//     "event": POST /[topic] publishes, as /event/[topic] does.
//
// # Calls
//
// The rpc and api handlers call through the go-micro [Client] with the
// request's context, bounded by [RequestTimeout] (30s by default; the
// service sees it as its deadline). The request's headers go with the call
// as metadata, but for the hop-by-hop ones (those the Connection header
// names too), Content-Type, Content-Length, Content-Encoding,
// Accept-Encoding, Cookie and the forwarding headers (Forwarded,
// X-Forwarded-*); a header repeated is joined with ", ". The gateway sets
// X-Forwarded-For to its HTTP client's address.
//
// # Timeouts
//
// A [Server] bounds the reading of each request: its headers within 10s,
// its body within the [RequestTimeout] (408 otherwise), and closes idle
// keep-alive connections after 120s. It bounds the writing of the answer
// as well: within twice the RequestTimeout from the request's start, and
// past that as long as each write makes progress within the timeout, so a
// client that stops reading cannot hold a handler. The proxy handler
// streams bodies and websockets for as long as they take (a hijacked
// connection keeps no deadline); its request timeout is the wait for the
// backend's response headers. The handlers used on their own
// ([RPCHandler], [CallHandler]) leave the reading of bodies to the
// http.Server they are mounted in.
//
// # Events
//
// An event is published with the body bytes as sent and the headers
// Content-Type (as sent; application/json when none), Micro-Topic,
// Micro-Id (a new random id, as go-micro's client.Publish sets),
// Micro-Time (the time of publication, RFC 3339 with nanoseconds, UTC)
// and Micro-Origin (the HTTP client's address as the gateway saw it), so
// a go-micro subscriber with a typed handler decodes a JSON body
// directly. The Content-Type must have a go-micro codec (JSON, protobuf,
// octet-stream, ...): another is answered with 415, and a JSON body that is
// not valid JSON with 400. The answer is 200 with {"id","topic"}.
//
// # Errors
//
// Every error is answered by [WriteError] with the errors.Error JSON
// ({"id","code","detail","status"}) as the body and its code as the status:
// a service's error keeps its code; the client's own errors map as 404 for
// a service the registry does not know, 503 when no node could be reached
// or the node went away, 504 when the call's deadline passed, 413 for a
// message over the transport's limit. The gateway's own: 400 malformed
// JSON or form, bad path; 404 no service in the path; 405 wrong method;
// 408 body not received in time; 413 body over [MaxBodySize]; 415
// unsupported Content-Type; 502 an api handler answer with a bad status.
// The gateway keeps serving after each. Errors that hold the text of a
// lower-level one (an unreachable node's address, a registry's or broker's
// failure) are answered with a short detail naming the service or topic,
// and logged whole.
//
// # Access log
//
// [Server] logs one line per request at level Info through its [Logger]
// ("api: request") with method, path, status, bytes, duration, remote and,
// when the path resolved, service and endpoint (or topic); error when the
// answer is a 5xx or left part of its error out. Nothing is computed for
// it when the logger does not log level Info.
//
// # Concurrency
//
// A [Server] and the handlers and middleware of this package are safe for
// concurrent use. Start may be called once; Stop is idempotent.
package api
