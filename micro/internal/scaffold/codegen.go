package scaffold

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/openmicro/protoc-gen-micro/generator"
	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// ProtobufModule is the module of the generated messages. The generated
// go.mod requires it at the version of protoc-gen-go's generator that
// micro links (the version the .pb.go's header names), and the generated
// Makefile says to install protoc-gen-go at that version, so that `make
// proto` writes the same code.
const ProtobufModule = "google.golang.org/protobuf"

// codegenParameter is the parameter both generators get, as
// scripts/generate.sh and the generated Makefile pass it to protoc: the
// generated files go beside the .proto.
const codegenParameter = "paths=source_relative"

// protobufFallback is the version of [ProtobufModule] the generated go.mod
// requires should the header of the generated messages not say one.
const protobufFallback = "v1.36.12"

// genGoVersion finds protoc-gen-go's version in the header of a .pb.go.
var genGoVersion = regexp.MustCompile(`(?m)^// \tprotoc-gen-go (v[0-9]+\.[0-9]+\.[0-9]+)$`)

// headerVersion returns the protoc-gen-go release in the header of a
// .pb.go, or protobufFallback when it names none (a development build).
func headerVersion(pbGo []byte) string {
	if m := genGoVersion.FindSubmatch(pbGo); m != nil {
		return string(m[1])
	}
	return protobufFallback
}

// generateCode does in process what protoc does with protoc-gen-go and
// protoc-gen-micro, as `make proto` runs them: it compiles the .proto src,
// found at file (a slash-separated path relative to the import root, the
// module's directory), and returns the files both generators write for
// it, by their paths relative to that root (file's directory, as
// paths=source_relative asks): <name>.pb.go and <name>.pb.micro.go for a
// file with a service. compiler is the protoc version the generated
// headers name; nil writes "(unknown)", protoc playing no part.
//
// A warning of protoc-gen-micro (a generated name it had to change to
// keep clear of another) is an error: the templates use the names as the
// generator documents them.
func generateCode(ctx context.Context, file string, src []byte, compiler *pluginpb.Version) (map[string][]byte, error) {
	c := protocompile.Compiler{
		Resolver: &protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{file: string(src)}),
		},
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := c.Compile(ctx, file)
	if err != nil {
		return nil, fmt.Errorf("scaffold: compiling %s: %w", file, err)
	}
	res, ok := compiled[0].(linker.Result)
	if !ok {
		return nil, fmt.Errorf("scaffold: compiling %s: no descriptor came back", file)
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate:  []string{file},
		Parameter:       proto.String(codegenParameter),
		ProtoFile:       []*descriptorpb.FileDescriptorProto{res.FileDescriptorProto()},
		CompilerVersion: compiler,
	}

	files := make(map[string][]byte)
	add := func(who string, rsp *pluginpb.CodeGeneratorResponse) error {
		if rsp.Error != nil {
			return fmt.Errorf("scaffold: %s on %s: %s", who, file, rsp.GetError())
		}
		for _, f := range rsp.GetFile() {
			if f.GetInsertionPoint() != "" || !filepath.IsLocal(filepath.FromSlash(f.GetName())) {
				return fmt.Errorf("scaffold: %s on %s wrote %q, not a file beside it", who, file, f.GetName())
			}
			files[f.GetName()] = []byte(f.GetContent())
		}
		return nil
	}

	// protoc-gen-go, as its main runs it.
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, fmt.Errorf("scaffold: protoc-gen-go on %s: %w", file, err)
	}
	for _, f := range gen.Files {
		if f.Generate {
			gengo.GenerateFile(gen, f)
		}
	}
	gen.SupportedFeatures = gengo.SupportedFeatures
	if err := add("protoc-gen-go", gen.Response()); err != nil {
		return nil, err
	}

	// protoc-gen-micro; its warnings are errors here.
	var warnings bytes.Buffer
	log := slog.New(slog.NewTextHandler(&warnings, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	}))
	rsp, err := generator.Generate(req, generator.Logger(log))
	if err != nil {
		return nil, fmt.Errorf("scaffold: protoc-gen-micro on %s: %w", file, err)
	}
	if warnings.Len() > 0 {
		return nil, fmt.Errorf("scaffold: protoc-gen-micro on %s: %s", file, strings.TrimSpace(warnings.String()))
	}
	if err := add("protoc-gen-micro", rsp); err != nil {
		return nil, err
	}
	return files, nil
}
