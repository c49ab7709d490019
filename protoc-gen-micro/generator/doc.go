// Package generator is protoc-gen-micro's code generator: from the
// services of .proto files it writes typed go-micro clients and handlers,
// as protoc-gen-go-grpc does for gRPC, beside the messages protoc-gen-go
// writes. The protoc-gen-micro command runs [Generate] on the request
// protoc sends it; other tools (a test, a build system) can call it the
// same way.
//
// # What is generated
//
// For every file with a service that has methods, <name>.pb.micro.go in
// the file's Go package (the same package, path and name rules as
// protoc-gen-go: go_package, M<file>=<path>, paths=, module=). For a
// service Say (Go name of the proto service) with an RPC Hello:
//
//   - SayService, the client: one method per RPC, taking a context, the
//     request and client.CallOptions; NewSayService(name, c) builds it
//     over a client.Client for the service registered as name.
//   - SayHandler, the server side: Hello(ctx, in, out) error for a unary
//     RPC, and RegisterSayHandler(s, h, opts...) to add an implementation
//     to a server.Server as the handler "Say", whose endpoints are
//     "Say.Hello" and so on (server.HandlerName). It declares every stream
//     with server.StreamTypes, so the registry shows each stream's kind and
//     message shapes.
//   - SayEndpoints(), the endpoints as the server publishes them in the
//     registry: names, request and response shapes, stream kinds.
//   - For each streaming RPC Watch, the client's end Say_WatchService and
//     the server's end Say_WatchStream, typed with the RPC's messages.
//
// These are go-micro's names; none is a name protoc-gen-go-grpc declares
// (SayClient, SayServer, Say_WatchClient, Say_WatchServer, ...), so the
// two plugins may write into one Go package.
//
// The stream types have Context and, by kind:
//
//	server stream   client: Recv, Close              server: Send, Close
//	client stream   client: Send, CloseAndRecv, Close server: Recv, SendAndClose
//	bidirectional   client: Send, Recv, CloseSend, Close
//	                server: Send, Recv, Close
//
// The handler of a server stream gets its one request as an argument,
// Watch(ctx, in, stream); a stream that ends before carrying it is
// answered with a 400.
//
// The code imports go-micro's client, server and errors packages, the
// standard library's context and io, and the packages of the messages.
//
// # Names
//
// A generated name that meets one protoc-gen-go declares in the same Go
// package (a message SayService, a nested message Say.WatchService, an enum
// value) or one generated for an earlier service gets underscores appended
// (SayService_), with a warning on the [Logger]. Two RPCs of a service
// with the same Go name (say_hello and SayHello) are an error wrapping
// [ErrNameConflict]. Parameters and local variables keep clear of the
// names the file imports packages under. A service with no methods is
// skipped with a warning.
//
// # Concurrency
//
// Generate may be called from several goroutines at once. The generated
// clients are safe for concurrent use, as client.Client is; a stream is
// used by one sender and one receiver at a time.
package generator
