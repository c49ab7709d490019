package cli

import (
	"bytes"
	"cmp"
	stdjson "encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/text/width"

	"github.com/openmicro/go-micro/registry"
)

// The values of --output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// outputFlag is the --output flag of the commands that read.
func outputFlag() ucli.Flag {
	return &ucli.StringFlag{
		Name:    "output",
		Aliases: []string{"o"},
		Usage:   "how to print the result: table (aligned, for people) or json (for scripts)",
		Value:   outputTable,
		EnvVars: []string{"MICRO_OUTPUT"},
		Action: func(c *ucli.Context, v string) error {
			if v != outputTable && v != outputJSON {
				return usage(c, "--output %q: want table or json", v)
			}
			return nil
		},
	}
}

// jsonOutput reports whether the command prints JSON.
func jsonOutput(c *ucli.Context) bool { return c.String("output") == outputJSON }

// writeJSON prints v as indented JSON on a line of its own; text is
// printed as it is (no HTML escapes such as \u003c).
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := stdjson.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failure("encoding the output: %v", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// indentJSON indents a JSON text for people; what does not parse is
// returned as it is.
func indentJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := stdjson.Indent(&buf, raw, "", "  "); err != nil {
		return raw
	}
	return buf.Bytes()
}

// compactJSON puts a JSON text on one line; what does not parse is
// returned as it is.
func compactJSON(raw []byte) []byte {
	var buf bytes.Buffer
	if err := stdjson.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// table writes aligned columns, two spaces apart, measured in terminal
// cells (a wide character takes two, a combining mark none). Cells are
// shown with [printable]; an empty one as "-".
type table struct {
	w    io.Writer
	rows [][]string
}

// newTable returns a table that writes to w, starting with the header
// when one is given.
func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	r := make([]string, len(cells))
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		r[i] = printable(c)
	}
	t.rows = append(t.rows, r)
}

// flush writes the rows; the last cell of a row is not padded.
func (t *table) flush() error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var buf bytes.Buffer
	for _, r := range t.rows {
		for i, c := range r {
			buf.WriteString(c)
			if i < len(r)-1 {
				buf.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		buf.WriteByte('\n')
	}
	t.rows = nil
	_, err := t.w.Write(buf.Bytes())
	return err
}

// displayWidth is how many terminal cells s takes: two for an East Asian
// wide or fullwidth character, none for a combining mark, one otherwise.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me):
		case r == '\u200b' || r == '\ufeff':
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}

// printable returns s for a terminal: control and other non-printing
// characters (escape sequences, tabs, newlines, bidirectional overrides)
// and bytes that are not UTF-8 are written as Go escapes, so that text a
// service registered cannot move the cursor, recolour the terminal or
// break a table.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// pairs renders a map as sorted key=value pairs separated by spaces.
func pairs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

// maxShapeDepth is how deep writeShape shows nested fields; deeper ones
// are shown as "...".
const maxShapeDepth = 16

// writeShape writes a registry Value tree as a Go-like struct:
//
//	greeter.HelloRequest {
//	    name string
//	}
//
// indent is the indentation of the lines after the first.
func writeShape(w io.Writer, v *registry.Value, indent string) {
	if v == nil {
		fmt.Fprintln(w, "-")
		return
	}
	typ := printable(cmp.Or(v.Type, v.Name))
	if len(v.Values) == 0 {
		fmt.Fprintf(w, "%s {}\n", typ)
		return
	}
	fmt.Fprintf(w, "%s {\n", typ)
	writeFields(w, v.Values, indent+"    ", 1)
	fmt.Fprintf(w, "%s}\n", indent)
}

// writeFields writes the fields of a struct, names aligned, and the fields
// of a field that has some inside braces, down to maxShapeDepth.
func writeFields(w io.Writer, fields []*registry.Value, indent string, depth int) {
	if depth > maxShapeDepth {
		fmt.Fprintf(w, "%s...\n", indent)
		return
	}
	width := 0
	for _, f := range fields {
		if f != nil {
			width = max(width, displayWidth(printable(f.Name)))
		}
	}
	for _, f := range fields {
		if f == nil {
			continue
		}
		name := printable(f.Name)
		fmt.Fprintf(w, "%s%s%s %s", indent, name, strings.Repeat(" ", width-displayWidth(name)), printable(f.Type))
		if len(f.Values) == 0 {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintln(w, " {")
		writeFields(w, f.Values, indent+"    ", depth+1)
		fmt.Fprintf(w, "%s}\n", indent)
	}
}
