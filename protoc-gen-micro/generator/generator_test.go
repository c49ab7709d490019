package generator_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/protoc-gen-micro/generator"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// TestBadInput gives Generate requests it must refuse, each with a clear
// error and no response.
func TestBadInput(t *testing.T) {
	unary := func(t *testing.T, param string) *pluginpb.CodeGeneratorRequest {
		return compile(t, filepath.Join("testdata", "unary"), []string{"unary.proto"}, param)
	}
	cases := []struct {
		name string
		req  func(t *testing.T) *pluginpb.CodeGeneratorRequest
		is   error
		says string
	}{
		{"unknown parameter", func(t *testing.T) *pluginpb.CodeGeneratorRequest { return unary(t, "plugins=grpc") },
			generator.ErrUnknownParameter, `unknown parameter "plugins"`},
		{"unknown parameter after known ones", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			return unary(t, "paths=source_relative,Mx.proto=example.com/x,verbose")
		}, generator.ErrUnknownParameter, `"verbose"`},
		{"bad paths", func(t *testing.T) *pluginpb.CodeGeneratorRequest { return unary(t, "paths=everywhere") },
			generator.ErrInvalidRequest, "everywhere"},
		{"module with source_relative", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			return unary(t, "paths=source_relative,module=example.com")
		}, generator.ErrInvalidRequest, "module="},
		{"file not in the request", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			req := unary(t, "")
			req.FileToGenerate = []string{"missing.proto"}
			return req
		}, generator.ErrInvalidRequest, "missing.proto"},
		{"no go_package", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			req := unary(t, "")
			last := req.ProtoFile[len(req.ProtoFile)-1]
			last.Options.GoPackage = nil
			return req
		}, generator.ErrInvalidRequest, "go_package"},
		{"unresolved input type", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			req := unary(t, "")
			last := req.ProtoFile[len(req.ProtoFile)-1]
			last.Service[0].Method[0].InputType = proto.String(".unary.Nowhere")
			return req
		}, generator.ErrInvalidRequest, "Nowhere"},
		{"two RPCs, one Go method", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			req := unary(t, "")
			last := req.ProtoFile[len(req.ProtoFile)-1]
			m := last.Service[0].Method
			m[0].Name, m[1].Name = proto.String("say_hello"), proto.String("SayHello")
			return req
		}, generator.ErrNameConflict, "say_hello and SayHello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rsp, err := generator.Generate(tc.req(t), generator.Logger(slog.New(slog.DiscardHandler)))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want an error wrapping %v that says %q", err, tc.is, tc.says)
			}
			if !strings.HasPrefix(err.Error(), "generator: ") {
				t.Errorf("%q does not start with the package prefix", err)
			}
			if rsp != nil {
				t.Errorf("a response came with the error: %v", rsp)
			}
		})
	}
}

// TestNothingToGenerate generates nothing, and no error, for files
// without a service with methods and for a request naming no file (as
// protoc-gen-go and protoc-gen-go-grpc answer it), declaring what the
// plugin supports all the same.
func TestNothingToGenerate(t *testing.T) {
	cases := []struct {
		name string
		req  func(t *testing.T) *pluginpb.CodeGeneratorRequest
	}{
		{"no service", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			return compile(t, filepath.Join("testdata", "noservice"), []string{"noservice.proto"}, "")
		}},
		{"no file to generate", func(t *testing.T) *pluginpb.CodeGeneratorRequest {
			req := compile(t, filepath.Join("testdata", "unary"), []string{"unary.proto"}, "")
			req.FileToGenerate = nil
			return req
		}},
		{"empty request", func(*testing.T) *pluginpb.CodeGeneratorRequest { return new(pluginpb.CodeGeneratorRequest) }},
		{"nil request", func(*testing.T) *pluginpb.CodeGeneratorRequest { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rsp, err := generator.Generate(tc.req(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(rsp.File) != 0 || rsp.Error != nil {
				t.Fatalf("got %v, want an empty response", rsp)
			}
			if rsp.GetSupportedFeatures()&uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL) == 0 {
				t.Error("the response does not declare proto3 optional support")
			}
			if rsp.GetMaximumEdition() < int32(descriptorpb.Edition_EDITION_2023) {
				t.Errorf("maximum edition %d, want at least 2023", rsp.GetMaximumEdition())
			}
		})
	}
}

// TestParameters checks where files go and which package they are in
// under protoc-gen-go's parameters.
func TestParameters(t *testing.T) {
	cases := []struct {
		param    string
		wantFile string
		wantPkg  string
	}{
		{"", "example.com/testdata/unary/unary.pb.micro.go", "package unary"},
		{"paths=import", "example.com/testdata/unary/unary.pb.micro.go", "package unary"},
		{"paths=source_relative", "unary.pb.micro.go", "package unary"},
		{"module=example.com/testdata", "unary/unary.pb.micro.go", "package unary"},
		// Without a name in M, the name comes from go_package, as for
		// protoc-gen-go.
		{"Munary.proto=example.com/other/greeterpb", "example.com/other/greeterpb/unary.pb.micro.go", "package unary"},
		{"Munary.proto=example.com/other;hello,paths=source_relative", "unary.pb.micro.go", "package hello"},
		{"annotate_code=false", "example.com/testdata/unary/unary.pb.micro.go", "package unary"},
	}
	for _, tc := range cases {
		t.Run(tc.param, func(t *testing.T) {
			req := compile(t, filepath.Join("testdata", "unary"), []string{"unary.proto"}, tc.param)
			rsp, err := generator.Generate(req)
			if err != nil {
				t.Fatal(err)
			}
			if len(rsp.File) != 1 || rsp.File[0].GetName() != tc.wantFile {
				t.Fatalf("files %v, want %s", names(rsp), tc.wantFile)
			}
			if !strings.Contains(rsp.File[0].GetContent(), "\n"+tc.wantPkg+"\n") {
				t.Fatalf("the file does not say %q:\n%s", tc.wantPkg, rsp.File[0].GetContent()[:200])
			}
		})
	}
}

func names(rsp *pluginpb.CodeGeneratorResponse) []string {
	var s []string
	for _, f := range rsp.File {
		s = append(s, f.GetName())
	}
	return s
}

// TestVersionHeader writes the versions of both tools, as protoc-gen-go
// does.
func TestVersionHeader(t *testing.T) {
	cases := []struct {
		version *pluginpb.Version
		want    string
	}{
		{nil, "// - protoc           (unknown)\n"},
		{&pluginpb.Version{Major: proto.Int32(3), Minor: proto.Int32(21), Patch: proto.Int32(12)}, "// - protoc           v3.21.12\n"},
		{&pluginpb.Version{Major: proto.Int32(29), Minor: proto.Int32(0), Patch: proto.Int32(0), Suffix: proto.String("rc1")}, "// - protoc           v29.0.0-rc1\n"},
	}
	for _, tc := range cases {
		req := compile(t, filepath.Join("testdata", "unary"), []string{"unary.proto"}, "")
		req.CompilerVersion = tc.version
		rsp, err := generator.Generate(req)
		if err != nil {
			t.Fatal(err)
		}
		content := rsp.File[0].GetContent()
		for _, want := range []string{"// Code generated by protoc-gen-micro. DO NOT EDIT.\n", "// - protoc-gen-micro " + generator.Version + "\n", tc.want} {
			if !strings.Contains(content, want) {
				t.Errorf("the header lacks %q:\n%s", want, content[:min(len(content), 300)])
			}
		}
	}
}

// TestRenamesAreLogged names, as warnings, each generated name that was
// changed to keep clear of another in the Go package.
func TestRenamesAreLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	req := compile(t, filepath.Join("testdata", "collisions"), protoFiles(t, filepath.Join("testdata", "collisions")), "")
	if _, err := generator.Generate(req, generator.Logger(log)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`want=(\S+) got=(\S+)`).FindAllStringSubmatch(buf.String(), -1) {
		got = append(got, m[1]+"->"+m[2])
	}
	want := []string{"SayService->SayService_", "SayEndpoints->SayEndpoints_", "Say_StreamService->Say_StreamService_",
		"Say_StreamStream->Say_StreamStream_", "ChatHandler->ChatHandler_"}
	if !slices.Equal(got, want) {
		t.Fatalf("renames logged %v, want %v\n%s", got, want, buf.String())
	}
}

// TestOnlyGoMicroImports checks that generated code imports go-micro's
// client, server and errors, the standard library's context and io, and
// the packages of the messages: nothing else.
func TestOnlyGoMicroImports(t *testing.T) {
	allowed := regexp.MustCompile(`^\t\w+ "(context|io|github\.com/openmicro/go-micro/(client|server|errors)|example\.com/testdata/.*|google\.golang\.org/protobuf/types/known/emptypb)"$`)
	for _, name := range caseDirs(t) {
		root := filepath.Join("testdata", name)
		req := compile(t, root, protoFiles(t, root), "")
		rsp, err := generator.Generate(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rsp.File {
			_, imports, ok := strings.Cut(f.GetContent(), "\nimport (\n")
			if !ok {
				t.Fatalf("%s: no import block", f.GetName())
			}
			imports, _, _ = strings.Cut(imports, "\n)\n")
			for line := range strings.SplitSeq(imports, "\n") {
				if !allowed.MatchString(line) {
					t.Errorf("%s imports %s", f.GetName(), line)
				}
			}
		}
	}
}

// TestCheckedInTestpb regenerates internal/testpb in process and compares
// it with the checked-in file, but for the protoc version (scripts/generate.sh
// uses protoc itself).
func TestCheckedInTestpb(t *testing.T) {
	root := filepath.Join("..", "internal", "testpb")
	req := compile(t, root, []string{"testpb.proto"}, "paths=source_relative")
	rsp, err := generator.Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rsp.File) != 1 {
		t.Fatalf("files %v", names(rsp))
	}
	checkedIn, err := os.ReadFile(filepath.Join(root, "testpb.pb.micro.go"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^// - protoc +.*$`)
	source := regexp.MustCompile(`(?m)^// source: .*$`)
	norm := func(s string) string {
		return source.ReplaceAllString(version.ReplaceAllString(s, ""), "")
	}
	if got, want := norm(rsp.File[0].GetContent()), norm(string(checkedIn)); got != want {
		t.Fatalf("internal/testpb/testpb.pb.micro.go is stale: run scripts/generate.sh\n%s", firstDiff(want, got))
	}
}

// TestConcurrent runs Generate on one request from several goroutines:
// the same output each time, and no race.
func TestConcurrent(t *testing.T) {
	root := filepath.Join("testdata", "streams")
	req := compile(t, root, protoFiles(t, root), "")
	want, err := generator.Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			got, err := generator.Generate(req)
			if err == nil && !proto.Equal(got, want) {
				err = errors.New("a different response")
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := testenv.Recv(t, "Generate", errs); err != nil {
			t.Fatal(err)
		}
	}
}
