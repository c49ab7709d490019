// Command protoc-gen-micro is a protoc plugin that generates go-micro
// clients and handlers from the services of .proto files: for each file
// with a service it writes <name>.pb.micro.go beside protoc-gen-go's
// <name>.pb.go.
//
//	go install github.com/openmicro/protoc-gen-micro
//	protoc --go_out=. --micro_out=. greeter.proto
//
// It takes protoc-gen-go's path parameters (--micro_opt=paths=source_relative,
// module=PREFIX, M<file>=<import path>). A parameter it does not know, or a
// request it cannot read, is an error on stderr and exit status 1; protoc
// then fails. See the generator package for what is generated.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/openmicro/protoc-gen-micro/generator"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run reads a CodeGeneratorRequest from stdin and writes the response to
// stdout; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "protoc-gen-micro: "+format+"\n", a...)
		return 1
	}
	switch {
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-version"):
		fmt.Fprintln(stdout, "protoc-gen-micro", generator.Version)
		return 0
	case len(args) > 0:
		return fail("unknown argument %q: protoc runs this program (protoc --micro_out=. x.proto); --version prints its version", args[0])
	}
	in, err := io.ReadAll(stdin)
	if err != nil {
		return fail("reading the request: %v", err)
	}
	req := new(pluginpb.CodeGeneratorRequest)
	if err := proto.Unmarshal(in, req); err != nil {
		return fail("the input is not a CodeGeneratorRequest (protoc runs this program): %v", err)
	}
	// protoc shows the plugin's stderr as it is: no timestamps.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	rsp, err := generator.Generate(req, generator.Logger(log))
	if err != nil {
		return fail("%v", err)
	}
	out, err := proto.Marshal(rsp)
	if err != nil {
		return fail("encoding the response: %v", err)
	}
	if _, err := stdout.Write(out); err != nil {
		return fail("writing the response: %v", err)
	}
	return 0
}
