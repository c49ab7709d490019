package scaffold

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/testenv"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// generatedCode is generateCode's files for a .proto, as micro new writes
// them.
func generatedCode(t *testing.T, file, src string) map[string][]byte {
	t.Helper()
	files, err := generateCode(t.Context(), file, []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestScaffoldGoldenCode compares the .proto of the service "demo" (module
// example.com/demo) and the code generated from it with testdata/demo;
// go test -update rewrites them, after a change of the templates or of
// either generator.
func TestScaffoldGoldenCode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if _, err := Generate(Options{Dir: dir, Module: "example.com/demo"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo.proto", "demo.pb.go", "demo.pb.micro.go"} {
		got, err := os.ReadFile(filepath.Join(dir, "proto", name))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "demo", name+".golden")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -run TestScaffoldGoldenCode -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("proto/%s differs from %s (go test -run TestScaffoldGoldenCode -update rewrites it):\n%s", name, golden, got)
		}
	}
}

// protocVersionLine is protoc's version in protoc-gen-go's header.
var protocVersionLine = regexp.MustCompile(`(?m)^// \tprotoc        v([0-9]+)\.([0-9]+)\.([0-9]+)(?:-(\S+))?$`)

// unknownProtoc is the protoc version in the headers of both generators
// when no protoc ran.
var unknownProtoc = regexp.MustCompile(`(?m)^(// \tprotoc        |// - protoc           )\(unknown\)$`)

// TestScaffoldMatchesProtoc runs `make proto` in generated services, that is
// protoc with protoc-gen-go and protoc-gen-micro, and checks that they
// write what micro new wrote but for the protoc version in the headers,
// and, given that version, byte for byte what generateCode writes. It
// needs protoc (make test-deps), protoc-gen-go at the version micro links
// in $MICRO_CACHE_DIR/bin (scripts/generate.sh, make generate, installs
// it there) and make; without protoc-gen-go it skips, in CI too.
func TestScaffoldMatchesProtoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds protoc-gen-micro")
	}
	protoc := os.Getenv("PROTOC")
	if protoc == "" {
		protoc = "/usr/bin/protoc"
	}
	if _, err := os.Stat(protoc); err != nil {
		testenv.Missing(t, "protoc", "no protoc at "+protoc+": install Debian's protobuf-compiler (make test-deps), or set PROTOC")
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("no make to run make proto: %v", err)
	}
	// protoc-gen-go where scripts/generate.sh installs it, at the version
	// micro links.
	cache := os.Getenv("MICRO_CACHE_DIR")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache directory to find protoc-gen-go in: %v", err)
		}
		cache = filepath.Join(base, "micro")
	}
	bin := filepath.Join(cache, "bin")
	want := "protoc-gen-go " + headerVersion(generatedCode(t, "v.proto", "syntax = \"proto3\";\noption go_package = \"v/v\";\nmessage V {}\n")["v.pb.go"])
	out, err := exec.CommandContext(t.Context(), filepath.Join(bin, "protoc-gen-go"), "--version").Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != want {
		t.Skipf("no %s in %s (found %q, %v): scripts/generate.sh installs it", want, bin, got, err)
	}
	// protoc-gen-micro from this checkout.
	plugins := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(plugins, "protoc-gen-micro"), ".")
	build.Dir = filepath.Join("..", "..", "..", "protoc-gen-micro")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-micro: %v\n%s", err, out)
	}

	for _, name := range []string{"demo", "go.micro.srv.user-store", "a.1b.-.message", "syntax"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if _, err := Generate(Options{Dir: dir, Module: "example.com/svc"}); err != nil {
				t.Fatal(err)
			}
			protoFile := "proto/" + name + ".proto"
			src := read(t, dir, protoFile)
			ours := map[string][]byte{}
			for _, ext := range []string{".pb.go", ".pb.micro.go"} {
				f := "proto/" + name + ext
				ours[f] = read(t, dir, f)
			}

			cmd := exec.CommandContext(t.Context(), makeBin, "proto", "PROTOC="+protoc)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+plugins+string(os.PathListSeparator)+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make proto: %v\n%s", err, out)
			}
			theirs := map[string][]byte{}
			for f := range ours {
				theirs[f] = read(t, dir, f)
			}
			m := protocVersionLine.FindSubmatch(theirs["proto/"+name+".pb.go"])
			if m == nil {
				t.Fatalf("protoc's .pb.go names no protoc version:\n%s", theirs["proto/"+name+".pb.go"])
			}
			version := &pluginpb.Version{Major: atoi(t, m[1]), Minor: atoi(t, m[2]), Patch: atoi(t, m[3])}
			label := "v" + string(m[1]) + "." + string(m[2]) + "." + string(m[3])
			if len(m[4]) > 0 {
				version.Suffix = proto.String(string(m[4]))
				label += "-" + string(m[4])
			}

			again, err := generateCode(t.Context(), protoFile, src, version)
			if err != nil {
				t.Fatal(err)
			}
			for f, b := range theirs {
				if !bytes.Equal(again[f], b) {
					t.Errorf("%s: generateCode with protoc's version differs from protoc's:\n--- ours\n%s\n--- protoc's\n%s", f, again[f], b)
				}
				// What micro new wrote differs only in the protoc version.
				mended := unknownProtoc.ReplaceAll(ours[f], []byte("${1}"+label))
				if !bytes.Equal(mended, b) {
					t.Errorf("%s: micro new's differs from protoc's in more than the protoc version", f)
				}
			}
		})
	}
}

func read(t *testing.T, dir, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func atoi(t *testing.T, b []byte) *int32 {
	t.Helper()
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return proto.Int32(int32(n))
}

// TestScaffoldBuilds generates services against this checkout's
// go-micro, runs go mod tidy in them as micro new does (Tidy), and then
// go build, go vet and go test: the handler's test calls the handler
// directly and through the generated client over an in-process server
// (memory transport and registry).
func TestScaffoldBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds services with the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	goMicro, err := filepath.Abs(filepath.Join("..", "..", "..", "go-micro"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, module string }{
		{"user-store", "example.com/user-store"},
		{"go.micro.srv.message", ""}, // MessageHandler, a proto keyword in the package
		{"type", ""},                 // a Go keyword as the module, the type Type
		{"a.1b.test-call", ""},       // TestCallHandler, the proto package a._1b.test_call
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), tt.name)
			if _, err := Generate(Options{Dir: dir, Module: tt.module, Replaces: []Replace{{GoMicroModule, goMicro}}}); err != nil {
				t.Fatal(err)
			}
			if err := Tidy(t.Context(), dir); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}, {"test", "-count=1", "./..."}} {
				cmd := exec.CommandContext(t.Context(), goBin, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
		})
	}
}

// FuzzGenerate: for any name, preparing and rendering the service either
// refuses the name with ErrInvalidName or makes every file, the generated
// code included, without error or panic. Nothing is written.
func FuzzGenerate(f *testing.F) {
	for _, s := range []string{"demo", "go.micro.srv.user-store", "topic", "message", "a.1b.c", "a.-.b", "x._1", "syntax", "1x", "a b", "a."} {
		f.Add(s, "")
	}
	f.Add("demo", "example.com/a;b")
	f.Fuzz(func(t *testing.T, name, module string) {
		o := Options{Dir: "unused", Name: name, Module: module}
		d, err := prepare(&o)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("prepare(%q, %q) = %v, want ErrInvalidName", name, module, err)
			}
			return
		}
		files, err := renderAll(d)
		if err != nil {
			t.Fatalf("renderAll for %q, %q: %v", name, module, err)
		}
		if files["proto/"+d.Name+".pb.micro.go"] == nil || files["main.go"] == nil {
			t.Fatalf("%q: files missing: %d files", name, len(files))
		}
	})
}

// FuzzParseReplace: ParseReplace does not panic, and what it accepts has
// both sides and no white space.
func FuzzParseReplace(f *testing.F) {
	for _, s := range []string{"github.com/openmicro/go-micro=/src/go-micro", "a=../b", "a=b v1", "=x", "x=", "a=b@v1.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReplace(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReplace) {
				t.Fatalf("ParseReplace(%q) = %v, want ErrInvalidReplace", s, err)
			}
			return
		}
		if r.Old == "" || r.New == "" || strings.ContainsAny(r.Old, " \t\n") {
			t.Fatalf("ParseReplace(%q) = %+v", s, r)
		}
	})
}
