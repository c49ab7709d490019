package generator_test

import (
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmicro/protoc-gen-micro/generator"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// FuzzGenerate runs the generator on mutated CodeGeneratorRequests and
// parameters: it
// must never panic (nor recover from a panic of protogen's), and what it
// generates must be Go that parses, written the same way twice.
func FuzzGenerate(f *testing.F) {
	for _, name := range caseDirs(f) {
		root := filepath.Join("testdata", name)
		for _, param := range []string{"", "paths=source_relative", "module=example.com/testdata"} {
			b, err := proto.Marshal(compile(f, root, protoFiles(f, root), param))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, param)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, param string) {
		req := new(pluginpb.CodeGeneratorRequest)
		if proto.Unmarshal(data, req) != nil {
			return
		}
		req.Parameter = proto.String(param)
		rsp, err := generator.Generate(req)
		if errors.Is(err, generator.ErrPanicked) {
			t.Fatalf("the generator panicked: %v", err)
		}
		if err != nil {
			if rsp != nil {
				t.Fatalf("a response came with the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "generator: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		again, err := generator.Generate(req)
		if err != nil || !proto.Equal(rsp, again) {
			t.Fatalf("a second run differs: %v", err)
		}
		for _, file := range rsp.File {
			if !strings.HasSuffix(file.GetName(), ".pb.micro.go") {
				t.Fatalf("generated %q", file.GetName())
			}
			if _, err := parser.ParseFile(token.NewFileSet(), file.GetName(), file.GetContent(), parser.AllErrors); err != nil {
				t.Fatalf("%s does not parse: %v\n%s", file.GetName(), err, file.GetContent())
			}
		}
	})
}

// FuzzDescriptors edits the descriptors of the testdata requests the way a
// .proto author could (names of services, methods and messages, stream
// flags, types, go_package, added methods), driven by ops, and checks the
// same as FuzzGenerate: the generator answers with an error or with Go
// that parses, the same way twice, and never panics.
func FuzzDescriptors(f *testing.F) {
	var seeds []*pluginpb.CodeGeneratorRequest
	for _, name := range caseDirs(f) {
		root := filepath.Join("testdata", name)
		seeds = append(seeds, compile(f, root, protoFiles(f, root), ""))
	}
	f.Add(uint8(0), "Say", []byte{0, 0})
	f.Add(uint8(1), "Close", []byte{1, 0, 1, 1, 2, 3})
	f.Add(uint8(2), "SayService", []byte{5, 0, 0, 0})
	f.Add(uint8(3), "ctx", []byte{6, 0, 4, 1})
	f.Add(uint8(4), "Stream_Client", []byte{7, 0, 7, 1, 2, 2})
	f.Fuzz(func(t *testing.T, seed uint8, name string, ops []byte) {
		req := proto.Clone(seeds[int(seed)%len(seeds)]).(*pluginpb.CodeGeneratorRequest)
		edit(req, name, ops)
		rsp, err := generator.Generate(req)
		if errors.Is(err, generator.ErrPanicked) {
			t.Fatalf("the generator panicked: %v", err)
		}
		if err != nil {
			if rsp != nil {
				t.Fatalf("a response came with the error %v", err)
			}
			return
		}
		again, err := generator.Generate(req)
		if err != nil || !proto.Equal(rsp, again) {
			t.Fatalf("a second run differs: %v", err)
		}
		for _, file := range rsp.File {
			if _, err := parser.ParseFile(token.NewFileSet(), file.GetName(), file.GetContent(), parser.AllErrors); err != nil {
				t.Fatalf("%s does not parse: %v\n%s", file.GetName(), err, file.GetContent())
			}
		}
	})
}

// edit applies ops to the last file of req (the one with the services),
// two bytes an op: what to do, and to which element.
func edit(req *pluginpb.CodeGeneratorRequest, name string, ops []byte) {
	fd := req.ProtoFile[len(req.ProtoFile)-1]
	pick := func(n int, b byte) int { return int(b) % n }
	for i := 0; i+1 < len(ops) && i < 32; i += 2 {
		op, at := ops[i], ops[i+1]
		var method *descriptorpb.MethodDescriptorProto
		var svc *descriptorpb.ServiceDescriptorProto
		if len(fd.Service) > 0 {
			svc = fd.Service[pick(len(fd.Service), at)]
			if len(svc.Method) > 0 {
				method = svc.Method[pick(len(svc.Method), at)]
			}
		}
		switch op % 8 {
		case 0:
			if svc != nil {
				svc.Name = proto.String(name)
			}
		case 1:
			if method != nil {
				method.Name = proto.String(name)
			}
		case 2:
			if method != nil {
				method.ClientStreaming = proto.Bool(!method.GetClientStreaming())
			}
		case 3:
			if method != nil {
				method.ServerStreaming = proto.Bool(!method.GetServerStreaming())
			}
		case 4:
			if method != nil && len(fd.MessageType) > 0 {
				method.OutputType = proto.String("." + fd.GetPackage() + "." + fd.MessageType[pick(len(fd.MessageType), at)].GetName())
			}
		case 5:
			if len(fd.MessageType) > 0 {
				fd.MessageType[pick(len(fd.MessageType), at)].Name = proto.String(name)
			}
		case 6:
			fd.Options.GoPackage = proto.String(name)
		case 7:
			if svc != nil && method != nil {
				m := proto.Clone(method).(*descriptorpb.MethodDescriptorProto)
				m.Name = proto.String(name)
				svc.Method = append(svc.Method, m)
			}
		}
	}
}
