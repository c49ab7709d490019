package scaffold

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "user-store")
	files, err := Generate(Options{Dir: dir, Module: "example.com/user-store",
		Replaces: []Replace{{Old: GoMicroModule, New: "/src/go-micro"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore", "Makefile", "README.md", "go.mod", "handler/handler.go", "handler/handler_test.go", "main.go",
		"proto/user-store.pb.go", "proto/user-store.pb.micro.go", "proto/user-store.proto"}
	if !slices.Equal(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	pbVersion := headerVersion([]byte(read("proto/user-store.pb.go")))
	checks := []struct {
		file string
		want []string
	}{
		{"go.mod", []string{"module example.com/user-store\n", "\ngo 1.",
			"\tgithub.com/openmicro/go-micro " + GoMicroVersion + "\n", "\tgoogle.golang.org/protobuf " + pbVersion + "\n",
			"replace github.com/openmicro/go-micro => /src/go-micro"}},
		{"main.go", []string{`const name = "user-store"`, "micro.NewService(", `"example.com/user-store/handler"`,
			`pb "example.com/user-store/proto"`, "pb.RegisterUserStoreHandler(srv, new(handler.UserStore))", "service.Run()"}},
		{"handler/handler.go", []string{"type UserStore struct{}", "var _ pb.UserStoreHandler = (*UserStore)(nil)",
			"func (h *UserStore) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error",
			"func (h *UserStore) Stream(ctx context.Context, req *pb.StreamRequest, stream pb.UserStore_StreamStream) error",
			`Topic = "user-store.events"`}},
		{"handler/handler_test.go", []string{"func TestCall(", "func TestStream(", "pb.RegisterUserStoreHandler(srv, new(UserStore))", "pb.NewUserStoreService(service, c)"}},
		{"proto/user-store.proto", []string{"syntax = \"proto3\";", "\npackage user_store;\n", `option go_package = "example.com/user-store/proto;pb";`,
			"service UserStore {", "rpc Call(Request) returns (Response);", "rpc Stream(StreamRequest) returns (stream StreamResponse);", "message Message {"}},
		{"Makefile", []string{"\t$(GO) build -o user-store .", "\t$(GO) run .", "\nproto:\n", "proto/user-store.proto",
			"--go_opt=paths=source_relative", "--micro_opt=paths=source_relative", "protoc-gen-go@" + pbVersion}},
		{"README.md", []string{"micro call user-store UserStore.Call", "pb.RegisterUserStoreHandler", "make proto", "proto/user-store.proto"}},
		{".gitignore", []string{"/user-store"}},
	}
	for _, c := range checks {
		text := read(c.file)
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q:\n%s", c.file, w, text)
			}
		}
		if strings.Contains(text, "{{") || strings.Contains(text, "<no value>") {
			t.Errorf("%s holds template text:\n%s", c.file, text)
		}
	}
	// The generated code, as generateCode writes it from the .proto.
	gen := generatedCode(t, "proto/user-store.proto", read("proto/user-store.proto"))
	for name, b := range gen {
		if got := read(name); got != string(b) {
			t.Errorf("%s is not the code generated from the .proto", name)
		}
	}

	// A directory that is not empty is left alone.
	if _, err := Generate(Options{Dir: dir}); !errors.Is(err, ErrExists) {
		t.Errorf("Generate into a full directory: %v, want ErrExists", err)
	}
	// An empty one is fine, and the module defaults to the name.
	empty := filepath.Join(t.TempDir(), "demo")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(Options{Dir: empty}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(empty, "go.mod")); !strings.HasPrefix(string(b), "module demo\n") || strings.Contains(string(b), "replace") {
		t.Errorf("go.mod:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(empty, "proto", "demo.proto")); !strings.Contains(string(b), `option go_package = "demo/proto;pb";`) {
		t.Errorf("demo.proto:\n%s", b)
	}
}

func TestGenerateInvalid(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		name string
		opts Options
	}{
		{"empty dir", Options{}},
		{"digit first", Options{Dir: filepath.Join(base, "1demo")}},
		{"space", Options{Dir: filepath.Join(base, "my demo")}},
		{"quote", Options{Dir: filepath.Join(base, "x"), Name: `a"b`}},
		{"module with space", Options{Dir: filepath.Join(base, "y"), Module: "a b"}},
		{"absolute module", Options{Dir: filepath.Join(base, "z"), Module: "/abs"}},
		{"digit after the last dot", Options{Dir: filepath.Join(base, "a.1")}},
		{"nothing after the last dot but a dash", Options{Dir: filepath.Join(base, "x.-")}},
		{"underscore and digit after the last dot", Options{Dir: filepath.Join(base, "x._1")}},
		{"trailing dot, as the module", Options{Dir: filepath.Join(base, "a.")}},
		{"go, as the module", Options{Dir: filepath.Join(base, "go")}},
		{"toolchain, as the module", Options{Dir: filepath.Join(base, "toolchain")}},
		{"std, as the module", Options{Dir: filepath.Join(base, "std")}},
		{"module with a semicolon", Options{Dir: filepath.Join(base, "s"), Module: "example.com/a;b"}},
		{"module with a colon", Options{Dir: filepath.Join(base, "c"), Module: "example.com:80/a"}},
		{"module with a vendor element", Options{Dir: filepath.Join(base, "v"), Module: "example.com/vendor/a"}},
		{"module starting with a dash", Options{Dir: filepath.Join(base, "d"), Module: "-x"}},
		{"module with an empty element", Options{Dir: filepath.Join(base, "e"), Module: "example.com//a"}},
		{"module with a trailing slash", Options{Dir: filepath.Join(base, "f"), Module: "example.com/a/"}},
		{"module with a non-ASCII letter", Options{Dir: filepath.Join(base, "g"), Module: "example.com/é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Generate(tt.opts); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Generate(%+v) = %v, want ErrInvalidName", tt.opts, err)
			}
		})
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("an invalid name wrote %d entries", len(entries))
	}
}

func TestParseReplace(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    Replace
		wantErr bool
	}{
		{in: "github.com/openmicro/go-micro=/src/go-micro", want: Replace{GoMicroModule, "/src/go-micro"}},
		{in: " github.com/openmicro/go-micro = ../go-micro ", want: Replace{GoMicroModule, filepath.Join(filepath.Dir(wd), "go-micro")}},
		{in: "a=b v1.0.0", wantErr: true},
		{in: "example.com/a=example.com/b@v1.0.0", want: Replace{"example.com/a", "example.com/b@v1.0.0"}},
		{in: "nothing", wantErr: true},
		{in: "=x", wantErr: true},
		{in: "x=", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseReplace(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidReplace) {
				t.Errorf("ParseReplace(%q) = %v, %v; want ErrInvalidReplace", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseReplace(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestTypeName(t *testing.T) {
	for in, want := range map[string]string{
		"demo":                    "Demo",
		"user-store":              "UserStore",
		"go.micro.srv.user_store": "UserStore",
		"a.":                      "A",
		"Greeter":                 "Greeter",
		"topic":                   "TopicHandler",
		"a.1":                     "",
		"x.-":                     "",
		"test-call":               "TestCallHandler",
		"message":                 "MessageHandler",
		"go.micro.srv.request":    "RequestHandler",
		"stream_response":         "StreamResponseHandler",
		"type":                    "Type",
		"service":                 "Service",
	} {
		if got := TypeName(in); got != want {
			t.Errorf("TypeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGenerateNames: whatever the name, the handler's type does not clash
// with the other names the handler package declares (its test included),
// nor the proto service with the messages of the .proto, and the proto
// package is one protocompile takes, so the generated code compiles. The
// names are Go keywords, proto keywords and the names the templates
// declare; the Go files are parsed and their top-level names checked.
func TestGenerateNames(t *testing.T) {
	names := []string{
		"topic", "max-count", "Max_Count", "subscriber", "go.micro.srv.topic", "demo", "topic-handler",
		"test-call", "test_stream", "request", "Response", "stream-request", "stream_response", "message", "go.micro.srv.message",
		// Go keywords and predeclared names.
		"type", "func", "package", "import", "map", "chan", "range", "select", "interface", "struct", "default", "string", "error", "nil", "true",
		// proto keywords, scalar types and literals.
		"syntax", "edition", "option", "service", "rpc", "returns", "stream", "enum", "oneof", "extend", "extensions",
		"reserved", "repeated", "optional", "required", "group", "weak", "public", "to", "max", "int32", "bytes", "double",
		"false", "inf", "nan", "google.protobuf", "go.micro.srv.syntax.message",
		// Go package names the code imports or declares.
		"pb", "proto", "handler", "context", "client", "server", "errors", "io", "protoimpl", "protoreflect",
		// Elements the proto package has to mend.
		"a.1b.c", "a..b", "a.-.b", "a._x.y", "A.B-C.d_e",
	}
	// And every name the handler package declares besides the type.
	demo := filepath.Join(t.TempDir(), "demo")
	if _, err := Generate(Options{Dir: demo}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"handler.go", "handler_test.go"} {
		for _, n := range topNames(t, filepath.Join(demo, "handler", f)) {
			if token.IsExported(n) && n != "Demo" {
				names = append(names, n)
			}
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if _, err := Generate(Options{Dir: dir, Module: "example.com/svc"}); err != nil {
				t.Fatal(err)
			}
			typ := TypeName(name)
			if !token.IsExported(typ) {
				t.Fatalf("TypeName(%q) = %q: not exported", name, typ)
			}
			for pkg, files := range map[string][]string{
				"handler": {"handler/handler.go", "handler/handler_test.go"},
				"pb":      {"proto/" + name + ".pb.go", "proto/" + name + ".pb.micro.go"},
			} {
				seen := make(map[string]bool)
				for _, f := range files {
					for _, n := range topNames(t, filepath.Join(dir, filepath.FromSlash(f))) {
						if seen[n] && n != "_" && n != "init" {
							t.Errorf("package %s declares %s twice", pkg, n)
						}
						seen[n] = true
					}
				}
				want := []string{typ}
				if pkg == "pb" {
					want = []string{"Request", "Response", "StreamRequest", "StreamResponse", "Message",
						typ + "Service", "New" + typ + "Service", typ + "Handler", "Register" + typ + "Handler",
						typ + "_StreamService", typ + "_StreamStream"}
				}
				for _, w := range want {
					if !seen[w] {
						t.Errorf("package %s does not declare %s (declared: %v)", pkg, w, slices.Sorted(maps.Keys(seen)))
					}
				}
			}
			b, err := os.ReadFile(filepath.Join(dir, "proto", name+".proto"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"\npackage " + protoPackage(name) + ";\n", "\nservice " + typ + " {\n"} {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s.proto lacks %q", name, w)
				}
			}
		})
	}
}

func TestProtoPackage(t *testing.T) {
	for in, want := range map[string]string{
		"demo":                    "demo",
		"Greeter":                 "greeter",
		"go.micro.srv.user-store": "go.micro.srv.user_store",
		"a.1b.c":                  "a._1b.c",
		"a..b":                    "a.b",
		"a.-.b":                   "a._.b",
		"a.":                      "a",
		"message":                 "message",
	} {
		if got := protoPackage(in); got != want {
			t.Errorf("protoPackage(%q) = %q, want %q", in, got, want)
		}
	}
}

// topNames returns the names a Go file declares at its top level, methods
// left out, in order and repeated as often as declared.
func topNames(t *testing.T, path string) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				names = append(names, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				switch sp := sp.(type) {
				case *ast.TypeSpec:
					names = append(names, sp.Name.Name)
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	return names
}

func ExampleGenerate() {
	dir, err := os.MkdirTemp("", "scaffold")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	files, err := Generate(Options{Dir: filepath.Join(dir, "demo")})
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		fmt.Println(f)
	}
	// Output:
	// .gitignore
	// Makefile
	// README.md
	// go.mod
	// handler/handler.go
	// handler/handler_test.go
	// main.go
	// proto/demo.pb.go
	// proto/demo.pb.micro.go
	// proto/demo.proto
}

func TestFirstProblem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "no output"},
		{"go: downloading x v1\ngo: finding module for package y\ngo: broken\n", "go: broken"},
		{"go: finding module for package github.com/openmicro/go-micro\ngo: demo imports\n\tgithub.com/openmicro/go-micro: cannot find module providing package github.com/openmicro/go-micro\ngo: other\n",
			"go: demo imports github.com/openmicro/go-micro: cannot find module providing package github.com/openmicro/go-micro"},
	}
	for _, tt := range tests {
		if got := firstProblem([]byte(tt.in)); got != tt.want {
			t.Errorf("firstProblem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
