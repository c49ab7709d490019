package generator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmicro/protoc-gen-micro/generator"
	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"
)

// testModule is the module path every testdata go_package is under.
const testModule = "example.com/testdata"

// TestGeneratedCodeCompiles generates the .pb.go (protoc-gen-go's own
// generator, in process) and the .pb.micro.go of every testdata case into
// one temporary module that uses this checkout's go-micro, then runs go
// build and go vet on it. Beside them goes a file declaring every name
// protoc-gen-go-grpc would declare for the same services, so that the two
// plugins' output can share a Go package (as the benchmarks' does).
func TestGeneratedCodeCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	dir := t.TempDir()
	param := "module=" + testModule
	files := 0
	for _, name := range caseDirs(t) {
		root := filepath.Join("testdata", name)
		req := compile(t, root, protoFiles(t, root), param)
		rsp, err := generator.Generate(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files += write(t, dir, rsp)
		write(t, dir, generateGo(t, req))
		write(t, dir, grpcNames(t, req))
	}
	if files == 0 {
		t.Fatal("no .pb.micro.go was generated")
	}

	goMicro, err := filepath.Abs(filepath.Join("..", "..", "go-micro"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module " + testModule + "\n\ngo 1.26\n\n" +
		"require (\n\tgithub.com/openmicro/go-micro v0.0.0\n\tgoogle.golang.org/protobuf v1.36.12\n)\n\n" +
		"replace github.com/openmicro/go-micro => " + goMicro + "\n"
	writeFile(t, filepath.Join(dir, "go.mod"), gomod)
	// The checksums the module needs are those of this module and of
	// go-micro.
	var sum strings.Builder
	for _, f := range []string{filepath.Join("..", "go.sum"), filepath.Join(goMicro, "go.sum")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum.Write(b)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), sum.String())

	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}} {
		cmd := exec.CommandContext(t.Context(), goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// generateGo runs protoc-gen-go's generator on req.
func generateGo(t *testing.T, req *pluginpb.CodeGeneratorRequest) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gen.Files {
		if f.Generate {
			internal_gengo.GenerateFile(gen, f)
		}
	}
	rsp := gen.Response()
	if rsp.Error != nil {
		t.Fatalf("protoc-gen-go: %s", rsp.GetError())
	}
	return rsp
}

// grpcNames writes, for every file of req to generate that has services, a
// file in its Go package declaring the package-level names
// protoc-gen-go-grpc declares for those services: those of v1.6, and the
// unexported stream types of the releases before its generic streams.
func grpcNames(t *testing.T, req *pluginpb.CodeGeneratorRequest) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gen.Files {
		if !f.Generate || len(f.Services) == 0 {
			continue
		}
		g := gen.NewGeneratedFile(f.GeneratedFilenamePrefix+"_grpcnames.go", f.GoImportPath)
		g.P("package ", f.GoPackageName)
		g.P()
		for _, s := range f.Services {
			name := s.GoName
			low := strings.ToLower(name[:1]) + name[1:]
			names := []string{name + "Client", "New" + name + "Client", low + "Client", name + "Server",
				"Unimplemented" + name + "Server", "Unsafe" + name + "Server", "Register" + name + "Server",
				name + "_ServiceDesc", "_" + name + "_serviceDesc"}
			for _, m := range s.Methods {
				names = append(names, name+"_"+m.GoName+"_FullMethodName", "_"+name+"_"+m.GoName+"_Handler")
				if m.Desc.IsStreamingClient() || m.Desc.IsStreamingServer() {
					names = append(names, name+"_"+m.GoName+"Client", name+"_"+m.GoName+"Server",
						low+m.GoName+"Client", low+m.GoName+"Server")
				}
			}
			for _, n := range names {
				g.P("type ", n, " struct{}")
			}
		}
	}
	rsp := gen.Response()
	if rsp.Error != nil {
		t.Fatalf("grpc names: %s", rsp.GetError())
	}
	return rsp
}

// write writes the files of rsp under dir and returns how many there were.
func write(t *testing.T, dir string, rsp *pluginpb.CodeGeneratorResponse) int {
	t.Helper()
	for _, f := range rsp.File {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(f.GetName())), f.GetContent())
	}
	return len(rsp.File)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
