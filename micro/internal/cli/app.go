package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/openmicro/go-micro/cmd"
)

// Exit statuses of Main.
const (
	// ExitOK is a command that did what it was asked.
	ExitOK = 0
	// ExitFailure is a command that failed: a service not found, a call
	// that returned an error, an unhealthy node, a registry that cannot be
	// reached.
	ExitFailure = 1
	// ExitUsage is input the command cannot take: an unknown command or
	// flag, a missing or extra argument, a flag value that does not parse,
	// malformed JSON.
	ExitUsage = 2
	// ExitInterrupted is a command stopped by SIGINT or SIGTERM, as a
	// shell reports a process killed by SIGINT (128+2).
	ExitInterrupted = 130
)

// Version is the version `micro --version` prints.
const Version = "0.1.0"

// Option configures Main.
type Option func(*options)

type options struct {
	have   cmd.Components
	logger *slog.Logger
	stdin  io.Reader
}

// Components gives the registry, selector, transport or broker to use
// instead of building them from the flags (as micro.Registry does for a
// service); nil fields are built from the flags as usual. Tests use it to
// run the commands against an in-process registry. Default: all built
// from the flags.
func Components(have cmd.Components) Option { return func(o *options) { o.have = have } }

// Logger sets the logger of the commands and of the components they build.
// Default: text on stderr, errors only for the commands that read and
// call, and from info up for `micro server`.
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Stdin sets where a JSON argument given as "-" is read from. Default:
// os.Stdin.
func Stdin(r io.Reader) Option { return func(o *options) { o.stdin = r } }

// Main runs the micro command line args (the program name first, as in
// os.Args) and returns the exit status: [ExitOK], [ExitFailure],
// [ExitUsage] or [ExitInterrupted]. Results go to stdout; errors, usage
// and logs to stderr. ctx ends long-running commands (micro server,
// micro stream) as SIGINT does; main passes a context that SIGINT and
// SIGTERM cancel.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	app := newApp(stdout, stderr, &o)
	if len(args) == 0 {
		args = []string{"micro"}
	}
	err := app.RunContext(ctx, reorder(app, helpCommand(app, args)))
	return report(stderr, err)
}

// report prints err and returns its exit status.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && !ee.printed {
			fmt.Fprintln(stderr, "micro:", oneLine(ee.err.Error()))
		}
		return ee.code
	}
	// An error urfave/cli returns itself is about the command line.
	fmt.Fprintln(stderr, "micro:", oneLine(err.Error()))
	return ExitUsage
}

// oneLine keeps a message on one line, its control characters escaped
// (see printable): it may quote what a service or the registry sent.
func oneLine(s string) string {
	return printable(strings.Join(strings.Fields(s), " "))
}

// newApp builds the command tree.
func newApp(stdout, stderr io.Writer, o *options) *ucli.App {
	app := &ucli.App{
		Name:    "micro",
		Usage:   "run, observe and operate microservices",
		Version: Version,
		Description: "micro talks to services through the registry they register in: " +
			"the one hosted by `micro server` (127.0.0.1:8000) unless --registry and " +
			"--registry_address say otherwise. Global flags (and their MICRO_* variables) " +
			"go before the command: micro --registry etcd list services.",
		Flags:           append(globalFlags(), helpFlag(), versionFlag()),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// urfave/cli's own help and version flags are package variables
		// that each run writes to; the app has its own (see helpFlag), so
		// that Main can run in several goroutines at once.
		HideHelp:    true,
		HideVersion: true,
		Before:      versionAction,
		// The help shows the version all the same.
		CustomAppHelpTemplate: strings.Replace(ucli.AppHelpTemplate, "{{if not .HideVersion}}", "{{if true}}", 1),
		// Main reports errors and picks the exit status; urfave/cli must
		// not exit the process itself.
		ExitErrHandler: func(*ucli.Context, error) {},
		Commands: []*ucli.Command{
			serverCommand(o),
			apiCommand(o),
			sidecarCommand(o),
			listCommand(o),
			getCommand(o),
			callCommand(o),
			streamCommand(o),
			publishCommand(o),
			healthCommand(o),
			statsCommand(o),
			registerCommand(o),
			deregisterCommand(o),
			newCommand(o),
		},
	}
	app.Action = rootAction
	app.OnUsageError = onUsageError
	for _, c := range app.Commands {
		setup(c)
	}
	return app
}

// globalFlags are go-micro's flags, the registry defaulting to "micro",
// the registry `micro server` hosts, whatever a service's default is.
func globalFlags() []ucli.Flag {
	flags := cmd.Flags()
	for _, f := range flags {
		if sf, ok := f.(*ucli.StringFlag); ok && sf.Name == cmd.FlagRegistry {
			sf.Value = microRegistryName
		}
	}
	return flags
}

// setup gives every command of the tree the usage error handler, and a
// command with subcommands the action that rejects an unknown one.
func setup(c *ucli.Command) {
	c.OnUsageError = onUsageError
	c.HideHelpCommand = true
	c.HideHelp = true
	c.Flags = append(c.Flags, helpFlag())
	if len(c.Subcommands) > 0 {
		c.Action = groupAction
		for _, sub := range c.Subcommands {
			setup(sub)
		}
	}
}

// helpFlag is --help (-h), one per command: urfave/cli shows the help
// when a flag of that name is set, whatever flag it is.
func helpFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}
}

// versionFlag is --version (-v), which versionAction serves.
func versionFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version", DisableDefaultText: true}
}

// versionAction prints the version and stops, status 0, when --version
// was given.
func versionAction(c *ucli.Context) error {
	if !c.Bool("version") {
		return nil
	}
	ucli.ShowVersion(c)
	return &exitError{code: ExitOK}
}

// rootAction runs when no command was named: it shows the help, or
// rejects an unknown command.
func rootAction(c *ucli.Context) error {
	if c.Args().Present() {
		return usage(c, "unknown command %q", c.Args().First())
	}
	return ucli.ShowAppHelp(c)
}

// groupAction runs for a command with subcommands when none matched: it
// names the unknown one, or says which are expected.
func groupAction(c *ucli.Context) error {
	if c.Args().Present() {
		return usage(c, "%s: unknown command %q", c.Command.HelpName, c.Args().First())
	}
	return usage(c, "%s: a command is needed", c.Command.HelpName)
}

// onUsageError turns a flag parsing error into a usage error.
func onUsageError(c *ucli.Context, err error, _ bool) error {
	return usage(c, "%v", err)
}

// usage prints the message and the usage of the command c runs to stderr
// and returns an error with status ExitUsage.
func usage(c *ucli.Context, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	w := c.App.ErrWriter
	msg := oneLine(err.Error())
	if !strings.HasPrefix(msg, c.App.HelpName+" ") {
		msg = c.App.HelpName + ": " + msg
	}
	fmt.Fprintln(w, msg)
	writeUsage(c, w)
	return &exitError{code: ExitUsage, err: err, printed: true}
}

// writeUsage writes the short usage of the command c runs: its synopsis,
// its subcommands, and where the full help is.
func writeUsage(c *ucli.Context, w io.Writer) {
	lineage := c.Lineage()
	root := len(lineage) < 2 || lineage[1].App == nil
	name := c.App.HelpName
	var subs []*ucli.Command
	switch {
	case root:
		fmt.Fprintf(w, "usage: %s [global options] COMMAND [options] [arguments]\n", name)
		subs = c.App.Commands
	case len(c.Command.Subcommands) > 0:
		name = c.Command.HelpName
		fmt.Fprintf(w, "usage: %s COMMAND [options] [arguments]\n", name)
		subs = c.Command.Subcommands
	default:
		name = c.Command.HelpName
		synopsis := name
		if len(c.Command.VisibleFlags()) > 0 {
			synopsis += " [options]"
		}
		if a := strings.TrimSpace(c.Command.ArgsUsage); a != "" {
			synopsis += " " + a
		}
		fmt.Fprintf(w, "usage: %s\n", synopsis)
	}
	if len(subs) > 0 {
		tw := newTable(w)
		for _, s := range subs {
			if !s.Hidden && s.Name != "help" {
				tw.row("  "+s.Name, s.Usage)
			}
		}
		_ = tw.flush()
	}
	fmt.Fprintf(w, "run '%s --help' for more\n", name)
}

// reorder lets the flags of the command being run follow its arguments
// (`micro get service greeter --output json`), which urfave/cli does not
// parse: it finds the command the arguments name and moves the flags that
// command knows, given after its arguments, in front of them. Anything
// after "--", and anything it does not recognise, stays where it is. A
// flag given last without its value ends the command line, its arguments
// dropped, so that the error is the missing value.
func reorder(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	flags := app.Flags
	subs := app.Commands
	i := 1
	for {
		i = skipFlags(args, i, flags)
		if i >= len(args) {
			return args
		}
		var next *ucli.Command
		for _, c := range subs {
			if c.HasName(args[i]) {
				next = c
				break
			}
		}
		if next == nil {
			return args
		}
		i++
		if len(next.Subcommands) == 0 {
			return moveFlags(args, i, next.Flags)
		}
		flags, subs = next.Flags, next.Subcommands
	}
}

// helpCommand turns `micro help [COMMAND...]` into `micro [COMMAND...]
// --help`, as git and go take help.
func helpCommand(app *ucli.App, args []string) []string {
	i := skipFlags(args, 1, app.Flags)
	if i >= len(args) || args[i] != "help" {
		return args
	}
	out := append(append([]string(nil), args[:i]...), args[i+1:]...)
	return append(out, "--help")
}

// skipFlags returns the index of the first argument from i that is not one
// of flags (or the value of one).
func skipFlags(args []string, i int, flags []ucli.Flag) int {
	for i < len(args) {
		f, inline, ok := lookupFlag(args[i], flags)
		if !ok {
			return i
		}
		i++
		if !inline && takesValue(f) {
			i++
		}
	}
	return i
}

// moveFlags moves the known flags among args[from:] before the arguments.
func moveFlags(args []string, from int, flags []ucli.Flag) []string {
	out := append([]string(nil), args[:from]...)
	var rest []string
	i := from
	for i < len(args) {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		f, inline, ok := lookupFlag(a, flags)
		if !ok {
			rest = append(rest, a)
			i++
			continue
		}
		out = append(out, a)
		i++
		if !inline && takesValue(f) {
			if i == len(args) {
				// The flag lacks its value: moved in front of the
				// arguments it would take the first of them. Leave it
				// last, alone, so that urfave/cli says what is missing.
				return out
			}
			out = append(out, args[i])
			i++
		}
	}
	return append(out, rest...)
}

// lookupFlag finds the flag an argument such as "--output", "-o" or
// "--output=json" names among flags (help included), and whether its value
// is inline.
func lookupFlag(arg string, flags []ucli.Flag) (ucli.Flag, bool, bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return nil, false, false
	}
	name := strings.TrimLeft(arg, "-")
	name, _, inline := strings.Cut(name, "=")
	if name == "" {
		return nil, false, false
	}
	if name == "help" || name == "h" {
		return ucli.HelpFlag, inline, true
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f, inline, true
			}
		}
	}
	return nil, false, false
}

// takesValue reports whether a flag reads the next argument as its value.
func takesValue(f ucli.Flag) bool {
	if d, ok := f.(ucli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return true
}
