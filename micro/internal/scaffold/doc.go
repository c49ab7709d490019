// Package scaffold writes the files of a new service for `micro new`:
// main.go built on micro.NewService, a handler package with a test, the
// request and response types, a README.md, a Makefile and a .gitignore.
//
// The types are plain Go in proto/ (package pb) for now, with the JSON
// names of proto fields, so that the generated code of protoc-gen-go and
// protoc-gen-micro can replace them later without changing the wire.
//
// go-micro is not published yet: [Options].Replaces adds replace
// directives to the generated go.mod ([ParseReplace] reads them as
// `go mod edit -replace` does), and [Tidy] runs `go mod tidy` so the
// service builds as generated. The functions are safe for concurrent use
// on different directories.
package scaffold
