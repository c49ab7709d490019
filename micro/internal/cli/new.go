package cli

import (
	stderrors "errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/micro/internal/scaffold"
)

// replaceFlag is the repeatable --replace flag; a value (from the
// environment, say) may hold several replaces separated by commas.
type replaceFlag struct {
	replaces []scaffold.Replace
}

func (r *replaceFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		rep, err := scaffold.ParseReplace(part)
		if err != nil {
			return err
		}
		r.replaces = append(r.replaces, rep)
	}
	return nil
}

func (r *replaceFlag) String() string {
	if r == nil {
		return ""
	}
	parts := make([]string, len(r.replaces))
	for i, rep := range r.replaces {
		parts[i] = rep.Old + "=" + rep.New
	}
	return strings.Join(parts, ",")
}

// newCommand is `micro new DIR`.
func newCommand(o *options) *ucli.Command {
	return &ucli.Command{
		Name:  "new",
		Usage: "create a new service in directory DIR, ready to build and run",
		Description: "Writes main.go (micro.NewService), a handler package with a test, the API in\n" +
			"   proto/NAME.proto with its Go code (NAME.pb.go, NAME.pb.micro.go) generated in process,\n" +
			"   no protoc needed, a README.md and a Makefile (`make proto` regenerates the code with\n" +
			"   protoc after an edit), then runs `go mod tidy` there. The service's name NAME is the\n" +
			"   last element of DIR.\n\n" +
			"   go-micro is not published yet, so point the generated go.mod at a checkout:\n\n" +
			"   micro new --replace github.com/openmicro/go-micro=/path/to/go-micro demo\n\n" +
			"   or set MICRO_NEW_REPLACE to the same old=new (comma-separated for more than one).",
		ArgsUsage: "DIR",
		Flags: []ucli.Flag{
			&ucli.StringFlag{
				Name:  "module",
				Usage: "module path of the generated go.mod (default: the service name)",
			},
			&ucli.GenericFlag{
				Name:    "replace",
				Usage:   "add `old=new` as a replace directive to the generated go.mod, like go mod edit -replace; repeat for more; a relative directory is made absolute",
				EnvVars: []string{"MICRO_NEW_REPLACE"},
				Value:   &replaceFlag{},
			},
			&ucli.BoolFlag{
				Name:  "no-tidy",
				Usage: "do not run `go mod tidy` in the new directory",
			},
		},
		Action: func(c *ucli.Context) error {
			args, err := exactArgs(c, "DIR")
			if err != nil {
				return err
			}
			e := newEnv(c, o, slog.LevelError)
			return newService(e, args[0])
		},
	}
}

func newService(e *env, dir string) error {
	var replaces []scaffold.Replace
	if r, ok := e.c.Generic("replace").(*replaceFlag); ok {
		replaces = r.replaces
	}
	opts := scaffold.Options{Dir: dir, Module: e.c.String("module"), Replaces: replaces}
	files, err := scaffold.Generate(opts)
	switch {
	case stderrors.Is(err, scaffold.ErrInvalidName):
		return badInput("%v", err)
	case err != nil:
		return failure("%v", err)
	}
	name := filepath.Base(filepath.Clean(dir))
	fmt.Fprintf(e.stdout, "created %s, the service %q:\n", dir, name)
	for _, f := range files {
		fmt.Fprintf(e.stdout, "  %s\n", filepath.Join(dir, f))
	}
	if !e.c.Bool("no-tidy") {
		if err := scaffold.Tidy(e.ctx(), dir); err != nil {
			if isCanceled(e.ctx(), err) {
				return interrupted()
			}
			hint := fmt.Sprintf("; fix it and run go mod tidy in %s", dir)
			if len(replaces) == 0 {
				hint = fmt.Sprintf("; go-micro is not published yet: in %s run go mod edit -replace %s=/path/to/go-micro && go mod tidy (next time, micro new --replace does it)",
					dir, scaffold.GoMicroModule)
			}
			return failure("the files are written, but %v%s", err, hint)
		}
		fmt.Fprintln(e.stdout, "ran go mod tidy")
	}
	typ := scaffold.TypeName(name)
	fmt.Fprintf(e.stdout, "\nnext, with `micro server` running:\n  cd %s && make run\n  micro call %s %s.Call '{\"name\": \"Ann\"}'\n", shellQuote(dir), name, typ)
	fmt.Fprintf(e.stdout, "to change the API, edit proto/%s.proto and run make proto (see README.md)\n", name)
	return nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./+:@ (a path with a space, say).
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./+:@", r)))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
