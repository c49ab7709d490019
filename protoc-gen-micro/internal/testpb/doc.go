// Package testpb is the Echo service that the end-to-end tests of
// protoc-gen-micro run over go-micro's http transport: one RPC of each
// kind (unary, server stream, client stream, bidirectional), generated
// from testpb.proto by protoc-gen-go and protoc-gen-micro. Run
// scripts/generate.sh after changing the .proto; a test of the generator
// package fails while the checked-in code is stale.
//
// The generated values are safe for concurrent use as go-micro's client
// and server are; a stream is used as its doc says.
package testpb
