package scaffold

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrInvalidName is wrapped by Generate's error for a service name it
	// cannot use.
	ErrInvalidName = errors.New("scaffold: invalid service name")
	// ErrExists is wrapped by Generate's error when the directory exists
	// and is not empty.
	ErrExists = errors.New("scaffold: directory exists and is not empty")
	// ErrInvalidReplace is wrapped by ParseReplace's error.
	ErrInvalidReplace = errors.New("scaffold: invalid replace")
)

// GoMicroModule is the module the generated service requires.
const GoMicroModule = "github.com/openmicro/go-micro"

// GoMicroVersion is the version of [GoMicroModule] the generated go.mod
// requires. go-micro is not published yet: a replace (see [Replace])
// points the requirement at a checkout.
const GoMicroVersion = "v0.0.0"

//go:embed template
var templates embed.FS

// Replace is one replace directive of the generated go.mod: Old => New,
// where New is a directory or a module path with a version.
type Replace struct {
	Old, New string
}

// ParseReplace reads a replace as `go mod edit -replace` takes it,
// "old=new". A relative directory is made absolute, so that the generated
// go.mod does not depend on where micro ran.
func ParseReplace(s string) (Replace, error) {
	oldPath, newPath, ok := strings.Cut(s, "=")
	oldPath, newPath = strings.TrimSpace(oldPath), strings.TrimSpace(newPath)
	if !ok || oldPath == "" || newPath == "" || strings.ContainsAny(oldPath+newPath, " \t\n\"`") {
		return Replace{}, fmt.Errorf("%w: %q: want module=directory, such as %s=../go-micro", ErrInvalidReplace, s, GoMicroModule)
	}
	if isDir(newPath) {
		abs, err := filepath.Abs(newPath)
		if err != nil {
			return Replace{}, fmt.Errorf("%w: %q: %v", ErrInvalidReplace, s, err)
		}
		newPath = abs
	}
	return Replace{Old: oldPath, New: newPath}, nil
}

// isDir reports whether a replacement names a directory rather than a
// module: it starts with ./, ../ or /, as go.mod requires of directories.
func isDir(p string) bool {
	return p == "." || p == ".." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || filepath.IsAbs(p)
}

// Options say what Generate writes.
type Options struct {
	// Dir is the directory to create; its last element is the service
	// name unless Name says otherwise.
	Dir string
	// Name is the service name. Default: the last element of Dir.
	Name string
	// Module is the module path of the generated go.mod. Default: Name.
	Module string
	// Replaces are added to the generated go.mod. Default: none.
	Replaces []Replace
}

// data is what the templates see.
type data struct {
	Name            string // service name, "demo"
	Type            string // handler type and proto service, "Demo"
	ProtoPackage    string // package of the .proto, "demo"
	Module          string
	GoVersion       string
	GoMicroVersion  string
	ProtobufVersion string // of ProtobufModule; known once the code is generated
	Replaces        []Replace
}

var validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

// moduleElem is one element of a module path as the go command takes it:
// letters, digits and -._~, starting with a letter, a digit or '_' and not
// ending with '.'.
const moduleElem = `[A-Za-z0-9_](?:[A-Za-z0-9._~-]*[A-Za-z0-9_~-])?`

var validModule = regexp.MustCompile(`^` + moduleElem + `(?:/` + moduleElem + `)*$`)

// reservedModules are module paths the go command refuses, or whose
// packages it would not import (std/handler).
var reservedModules = []string{"go", "toolchain", "std", "cmd", "all"}

// checkModule returns why the go command would not build a module of that
// path, or "".
func checkModule(m string) string {
	switch {
	case !validModule.MatchString(m):
		return "use letters, digits and -._~ in elements separated by '/', each starting with a letter, a digit or '_' and not ending with '.'"
	case slices.Contains(reservedModules, m):
		return "the go command reserves it"
	case slices.Contains(strings.Split(m, "/"), "vendor"):
		return "an element named vendor makes its packages vendored ones"
	}
	return ""
}

// Generate writes a new service into o.Dir, which must not exist or be
// empty: main.go, go.mod, a handler package with a test, the API in
// proto/NAME.proto with the code protoc-gen-go and protoc-gen-micro
// generate from it (NAME.pb.go, NAME.pb.micro.go, made in process: no
// protoc is needed), a README.md, a Makefile and a .gitignore. It returns
// the files written, relative to o.Dir, sorted. A name or module it cannot
// use is an error wrapping [ErrInvalidName], and then nothing is written.
// It does not run the go command: see [Tidy].
func Generate(o Options) ([]string, error) {
	d, err := prepare(&o)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrExists, o.Dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	files, err := renderAll(d)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	var written []string
	for name, b := range files {
		full := filepath.Join(o.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, fmt.Errorf("scaffold: %w", err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return nil, fmt.Errorf("scaffold: %w", err)
		}
		written = append(written, name)
	}
	slices.Sort(written)
	return written, nil
}

// prepare checks o, fills in its defaults and returns what the templates
// see.
func prepare(o *Options) (data, error) {
	if o.Dir == "" {
		return data{}, fmt.Errorf("%w: empty directory", ErrInvalidName)
	}
	if o.Name == "" {
		o.Name = filepath.Base(filepath.Clean(o.Dir))
	}
	if !validName.MatchString(o.Name) {
		return data{}, fmt.Errorf("%w: %q: use letters, digits, '.', '-' and '_', starting with a letter", ErrInvalidName, o.Name)
	}
	if TypeName(o.Name) == "" {
		return data{}, fmt.Errorf("%w: %q: what follows the last '.' must start with a letter", ErrInvalidName, o.Name)
	}
	if o.Module == "" {
		o.Module = o.Name
	}
	if why := checkModule(o.Module); why != "" {
		return data{}, fmt.Errorf("%w: module path %q: %s", ErrInvalidName, o.Module, why)
	}
	return data{
		Name:           o.Name,
		Type:           TypeName(o.Name),
		ProtoPackage:   protoPackage(o.Name),
		Module:         o.Module,
		GoVersion:      goVersion(),
		GoMicroVersion: GoMicroVersion,
		Replaces:       o.Replaces,
	}, nil
}

// protoTemplate is the template of the .proto; it writes proto/NAME.proto.
const protoTemplate = "template/proto/NAME.proto.tmpl"

// renderAll returns the files of the service by their paths: the .proto
// first rendered and its code generated, then the other templates, which
// learn the protobuf version from the generated code.
func renderAll(d data) (map[string][]byte, error) {
	files := make(map[string][]byte)
	text, err := templates.ReadFile(protoTemplate)
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	protoFile := outputName(protoTemplate, d.Name)
	src, err := render(protoTemplate, string(text), d)
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	files[protoFile] = src
	generated, err := generateCode(context.Background(), protoFile, src, nil)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(protoFile, ".proto")
	for _, want := range []string{prefix + ".pb.go", prefix + ".pb.micro.go"} {
		if generated[want] == nil {
			return nil, fmt.Errorf("scaffold: generating the code of %s wrote no %s", protoFile, want)
		}
	}
	maps.Copy(files, generated)
	d.ProtobufVersion = headerVersion(generated[prefix+".pb.go"])

	err = fs.WalkDir(templates, "template", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || p == protoTemplate {
			return err
		}
		text, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		out, err := render(p, string(text), d)
		if err != nil {
			return err
		}
		files[outputName(p, d.Name)] = out
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	return files, nil
}

// outputName maps a template path to the file it writes: without the
// template/ prefix and the .tmpl suffix, NAME.proto as the service's name
// with .proto, and gitignore as .gitignore.
func outputName(p, service string) string {
	name := strings.TrimSuffix(strings.TrimPrefix(p, "template/"), ".tmpl")
	if path.Base(name) == "NAME.proto" {
		name = path.Join(path.Dir(name), service+".proto")
	}
	if path.Base(name) == "gitignore" {
		name = path.Join(path.Dir(name), ".gitignore")
	}
	return name
}

// render executes one template; Go files are gofmt'ed, which also proves
// they parse.
func render(name, text string, d data) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, ".go.tmpl") {
		out, err := format.Source(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return out, nil
	}
	return buf.Bytes(), nil
}

// takenNames are the names a type name must not be, as the handler's type
// and the proto service: the other exported names the handler package
// declares at its top level (see template/handler, its test included) and
// the messages of the .proto (see template/proto). A type name that would
// be one of them gets the suffix "Handler".
var takenNames = []string{
	"Topic", "MaxCount", "Subscriber", "TestCall", "TestStream",
	"Request", "Response", "StreamRequest", "StreamResponse", "Message",
}

// TypeName is the handler's type name for a service name, which is also
// the service's name in the .proto and so names its endpoints: the last
// dot-separated element, in CamelCase ("demo" gives "Demo",
// "go.micro.srv.user-store" gives "UserStore"), with "Handler" added when
// that is a name the handler package or the .proto declares already
// ("topic" gives "TopicHandler", "message" "MessageHandler"). It is ""
// when the element has no letter to start with.
func TypeName(name string) string {
	typ := camel(name)
	if slices.Contains(takenNames, typ) {
		typ += "Handler"
	}
	return typ
}

// camel is the last dot-separated element of name in CamelCase, or "" when
// that does not start with a letter.
func camel(name string) string {
	if i := strings.LastIndex(name, "."); i >= 0 && i < len(name)-1 {
		name = name[i+1:]
	}
	var b strings.Builder
	upper := true
	for _, r := range name {
		if r == '-' || r == '_' || r == '.' {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	typ := b.String()
	if r, _ := utf8.DecodeRuneInString(typ); !unicode.IsLetter(r) {
		return ""
	}
	return typ
}

// protoPackage is the package of the .proto for a service name: the name
// in lower case with '-' as '_' ("go.micro.srv.user-store" gives
// "go.micro.srv.user_store"), empty elements left out and an element
// starting with a digit prefixed with '_', so that every element is a
// proto identifier. Lower case keeps the package apart from the messages,
// which are capitalised.
func protoPackage(name string) string {
	var elems []string
	for e := range strings.SplitSeq(strings.ToLower(name), ".") {
		e = strings.ReplaceAll(e, "-", "_")
		switch {
		case e == "":
			continue
		case e[0] >= '0' && e[0] <= '9':
			e = "_" + e
		}
		elems = append(elems, e)
	}
	return strings.Join(elems, ".")
}

// goVersion is the language version of the generated go.mod: the major
// and minor version of the Go that built micro.
func goVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 || !strings.HasPrefix(runtime.Version(), "go") {
		return "1.26"
	}
	minor := strings.TrimFunc(parts[1], func(r rune) bool { return !unicode.IsDigit(r) })
	return parts[0] + "." + minor
}

// Tidy runs `go mod tidy` in dir, outside any go.work around it
// (GOWORK=off), so that go.mod and go.sum list what the service needs and
// it builds. The go command's output is returned in the error.
func Tidy(ctx context.Context, dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("scaffold: the go command is not on PATH: %w", err)
	}
	c := exec.CommandContext(ctx, goBin, "mod", "tidy")
	c.Dir = dir
	c.Env = append(os.Environ(), "GOWORK=off")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scaffold: go mod tidy in %s: %w: %s", dir, err, firstProblem(out))
	}
	return nil
}

// firstProblem returns the first line of the go command's output that is
// not progress, with the indented lines that continue it.
func firstProblem(out []byte) string {
	var problem []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if problem != nil {
			if !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, " ") {
				break
			}
			problem = append(problem, strings.TrimSpace(line))
			continue
		}
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "go: downloading ") && !strings.HasPrefix(line, "go: finding ") {
			problem = []string{line}
		}
	}
	if problem == nil {
		return "no output"
	}
	return strings.Join(problem, " ")
}
