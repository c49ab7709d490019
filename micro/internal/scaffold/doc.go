// Package scaffold writes the files of a new service for `micro new`:
// main.go built on micro.NewService, a handler package with a test, the
// API in proto/NAME.proto with the Go code generated from it, a
// README.md, a Makefile and a .gitignore.
//
// The code of the .proto, NAME.pb.go (protoc-gen-go's messages, package
// pb) and NAME.pb.micro.go (protoc-gen-micro's client and handler), is
// generated in process, with no protoc or plugin on the machine: the
// .proto is compiled with github.com/bufbuild/protocompile and both
// generators run on the request protoc would send them, with
// paths=source_relative. The files are those `make proto` (protoc with
// the two plugins) writes from the same .proto, but for the protoc
// version in their headers, "(unknown)" here. The generated go.mod
// requires go-micro and google.golang.org/protobuf at the version of
// protoc-gen-go's generator linked into micro.
//
// go-micro is not published yet: [Options].Replaces adds replace
// directives to the generated go.mod ([ParseReplace] reads them as
// `go mod edit -replace` does), and [Tidy] runs `go mod tidy` so the
// service builds as generated. The functions are safe for concurrent use
// on different directories.
package scaffold
