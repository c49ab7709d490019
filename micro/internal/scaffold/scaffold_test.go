package scaffold

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
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
	want := []string{".gitignore", "Makefile", "README.md", "go.mod", "handler/handler.go", "handler/handler_test.go", "main.go", "proto/types.go"}
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
	checks := []struct {
		file string
		want []string
	}{
		{"go.mod", []string{"module example.com/user-store\n", "\ngo 1.", "require github.com/openmicro/go-micro " + GoMicroVersion, "replace github.com/openmicro/go-micro => /src/go-micro"}},
		{"main.go", []string{`const name = "user-store"`, "micro.NewService(", `"example.com/user-store/handler"`, "new(handler.UserStore)", "service.Run()"}},
		{"handler/handler.go", []string{"type UserStore struct{}", "func (h *UserStore) Call(ctx context.Context, req *pb.Request, rsp *pb.Response) error", `Topic = "user-store.events"`}},
		{"proto/types.go", []string{"package pb", "type Request struct"}},
		{"Makefile", []string{"\t$(GO) build -o user-store .", "\t$(GO) run ."}},
		{"README.md", []string{"micro call user-store UserStore.Call", "pb.RegisterUserStoreHandler"}},
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
	} {
		if got := TypeName(in); got != want {
			t.Errorf("TypeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGenerateNames: whatever the name, the handler's type does not clash
// with the other names the handler package declares, so the generated
// code compiles; the package is parsed and its top-level names checked.
func TestGenerateNames(t *testing.T) {
	names := []string{"topic", "max-count", "Max_Count", "subscriber", "go.micro.srv.topic", "demo", "topic-handler"}
	// And every name the handler package declares besides the type.
	demo := filepath.Join(t.TempDir(), "demo")
	if _, err := Generate(Options{Dir: demo}); err != nil {
		t.Fatal(err)
	}
	for _, n := range topNames(t, filepath.Join(demo, "handler", "handler.go")) {
		if token.IsExported(n) && n != "Demo" {
			names = append(names, n)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if _, err := Generate(Options{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			seen := make(map[string]bool)
			for _, n := range topNames(t, filepath.Join(dir, "handler", "handler.go")) {
				if seen[n] {
					t.Errorf("handler/handler.go declares %s twice", n)
				}
				seen[n] = true
			}
			typ := TypeName(name)
			if !seen[typ] || !token.IsExported(typ) {
				t.Errorf("TypeName(%q) = %q: not the handler's exported type (declared: %v)", name, typ, seen)
			}
		})
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
	// proto/types.go
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
